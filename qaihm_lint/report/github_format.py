"""GitHub Actions workflow commands: annotations on the pull request's diff."""

from __future__ import annotations

from qaihm_lint.diagnostics import Severity
from qaihm_lint.report import ReportContext, printable


def _escape_data(value: str) -> str:
    # The runner's own escapes for line breaks (a multi-line annotation), then every other
    # control character made visible: nothing a message holds can start a workflow command.
    escaped = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(escaped)


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(ctx: ReportContext) -> str:
    lines = []
    for d in ctx.diagnostics:
        level = "error" if d.severity is Severity.ERROR else "warning"
        properties = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("title", f"qaihm-lint ({d.code})"),
                ("file", ctx.repo_path(d.path)),
                ("line", d.start.row),
                ("col", d.start.column),
                ("endLine", d.end.row),
                ("endColumn", d.end.column),
            )
        )
        lines.append(f"::{level} {properties}::{_escape_data(f'{d.code} {d.message}')}")
    return "".join(line + "\n" for line in lines)
