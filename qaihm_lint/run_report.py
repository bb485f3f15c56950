"""The end of a run: its findings, with what was checked, rendered in the chosen format; and
the exit status they give. One home for the CLI's whole-tree runs and its stdin runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from qaihm_lint import baseline
from qaihm_lint.arguments import PROG
from qaihm_lint.config import Settings
from qaihm_lint.diagnostics import Applicability, Diagnostic, Severity
from qaihm_lint.engine import FixOutcome
from qaihm_lint.fixers.apply import unified_diff
from qaihm_lint.plan import Plan
from qaihm_lint.report import DeepCase, ReportContext, renderer, statistics_table, summary
from qaihm_lint.workspace import Workspace


def repository_root(workspace: Workspace) -> Path | None:
    """The repository the checked package is in: the nearest folder above it with ``.git``,
    else the folder that holds the package (upstream's layout)."""
    if not workspace.packages:
        return None
    package = workspace.packages[0]
    for parent in package.root.parents:
        if (parent / ".git").exists():
            return parent
    return package.repo_root


def print_diff(outcome: FixOutcome, settings: Settings) -> None:
    """``--diff``: the fixes as a unified diff on stdout, what they would fix on stderr."""
    cwd = Path.cwd()
    for path, data in sorted(outcome.changed.items()):
        display = Path(os.path.relpath(path, cwd)).as_posix()
        sys.stdout.write(unified_diff(path, outcome.originals.get(path), data, display))
    if outcome.changed:
        warnings = sum(1 for d in outcome.fixed if d.severity is Severity.WARNING)
        found = summary.describe(outcome.fixed_count - warnings, warnings)
        print(f"Would fix {found}.", file=sys.stderr)
        return
    unsafe = (
        0
        if settings.unsafe_fixes
        else sum(
            1
            for d in outcome.result.diagnostics
            if d.fix is not None and d.fix.applicability is Applicability.UNSAFE
        )
    )
    more = f" ({unsafe} more with `--unsafe-fixes`)" if unsafe else ""
    print(f"No fixes to make{more}.", file=sys.stderr)


def report(
    workspace: Workspace,
    plan: Plan,
    diagnostics: list[Diagnostic],
    *,
    fixed: Sequence[Diagnostic] = (),
    nothing_checked: str = "",
    deep_cases: Sequence[DeepCase] = (),
    buffers: Mapping[Path, bytes] | None = None,
    stream: TextIO | None = None,
) -> int:
    """Render ``diagnostics`` (less the baseline's) on ``stream`` (default stdout); the exit
    status: 1 when they fail the run, else 0."""
    settings = plan.settings
    stream = stream or sys.stdout
    shown = diagnostics
    if settings.baseline is not None:
        shown = baseline.filter_new(diagnostics, settings.baseline)
    context = ReportContext(
        diagnostics=shown,
        root=repository_root(workspace),
        baselined=len(diagnostics) - len(shown),
        show_fixes=settings.show_fixes and (settings.fix or settings.diff),
        fixed_findings=list(fixed),
        model_ids=[folder.model_id for folder in workspace.folders],
        shared_checked=len(workspace.shared),
        nothing_checked=nothing_checked,
        enabled=plan.enabled,
        fixed=len(fixed),
        fixed_warnings=sum(1 for d in fixed if d.severity is Severity.WARNING),
        statistics=settings.statistics,
        unsafe_fixes=settings.unsafe_fixes,
        max_warnings=settings.max_warnings,
        color=settings.color,
        deep_cases=list(deep_cases),
        buffers=buffers or {},
    )
    _render(context, settings, stream)
    if settings.exit_zero:
        return 0
    # ESLint's semantics: warnings are shown but fail the run only past --max-warnings.
    return 1 if context.fails() else 0


def _render(context: ReportContext, settings: Settings, stream: TextIO) -> None:
    if settings.statistics and settings.output_format in ("sarif", "junit"):
        print(
            f"{PROG}: warning: --statistics has no {settings.output_format} form; "
            "the full report follows",
            file=sys.stderr,
        )
    if settings.statistics and settings.output_format not in ("json", "sarif", "junit"):
        stream.write(statistics_table(context))
    else:
        stream.write(renderer(settings.output_format)(context))
    stream.flush()
