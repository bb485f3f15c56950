"""The closing lines of the human formats, from a ReportContext."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaihm_lint.diagnostics import Diagnostic, Location, Severity
from qaihm_lint.report import ReportContext
from qaihm_lint.report.summary import describe, text


def _finding(severity: Severity) -> Diagnostic:
    return Diagnostic(
        "QAI101", "x", "m", severity, Path("/r/a.py"), Location(1, 1), Location(1, 1), "a"
    )


@pytest.mark.parametrize(
    ("errors", "warnings", "expected"),
    [
        (1, 0, "1 error"),
        (2, 0, "2 errors"),
        (0, 1, "1 warning"),
        (0, 3, "3 warnings"),
        (1, 2, "1 error and 2 warnings"),
        (0, 0, "0 errors"),
    ],
)
def test_describe_never_calls_a_warning_an_error(errors: int, warnings: int, expected: str) -> None:
    assert describe(errors, warnings) == expected


@pytest.mark.parametrize(
    ("models", "shared", "expected"),
    [
        (["a", "b"], 0, "All checks passed! (checked 2 model folders)\n"),
        (["a"], 2, "All checks passed! (checked 1 model folder and 2 shared-code folders)\n"),
        ([], 1, "All checks passed! (checked 1 shared-code folder)\n"),
        ([], 0, "No model folders to check: none changed since HEAD.\n"),
    ],
)
def test_a_clean_run_says_what_it_checked(models: list[str], shared: int, expected: str) -> None:
    ctx = ReportContext(
        [], model_ids=models, shared_checked=shared, nothing_checked="none changed since HEAD"
    )
    assert text(ctx) == expected


def test_fixed_and_remaining_add_up_by_severity() -> None:
    ctx = ReportContext(
        [_finding(Severity.ERROR), _finding(Severity.WARNING)], fixed=3, fixed_warnings=1
    )
    # 2 errors fixed + 1 remaining, 1 warning fixed + 1 remaining.
    assert text(ctx).splitlines()[0] == "Found 3 errors and 2 warnings (3 fixed, 2 remaining)."


def test_too_many_warnings_is_said_and_fails() -> None:
    ctx = ReportContext([_finding(Severity.WARNING)] * 2, max_warnings=1)
    assert ctx.fails()
    assert "Too many warnings: 2, more than --max-warnings 1." in text(ctx)
    assert not ReportContext([_finding(Severity.WARNING)] * 2).fails()
