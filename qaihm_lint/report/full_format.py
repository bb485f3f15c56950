"""The default: each finding with its source line and a caret under the span."""

from __future__ import annotations

from qaihm_lint.diagnostics import Severity
from qaihm_lint.report import ReportContext, fix_marker, printable, summary

# Errors red, warnings yellow (as ESLint colours them). An error line keeps ruff's shape, which
# editors' problem matchers parse; a warning says so in words too, so that the difference
# survives without colour.
_LEVEL_STYLE = {Severity.ERROR: "1;31", Severity.WARNING: "1;33"}


def style(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def render(ctx: ReportContext) -> str:
    out = []
    for d in ctx.diagnostics:
        head = f"{printable(ctx.display_path(d.path))}:{d.start.row}:{d.start.column}:"
        marker = fix_marker(d)
        level = (
            style("warning", _LEVEL_STYLE[d.severity], ctx.color) + " "
            if d.severity is Severity.WARNING
            else ""
        )
        out.append(
            f"{style(head, '1', ctx.color)} {level}"
            f"{style(d.code, _LEVEL_STYLE[d.severity], ctx.color)}{marker} "
            f"{printable(d.message)}\n"
        )
        line = ctx.source_line(d.path, d.start.row)
        if line is not None and line.strip():
            gutter = str(d.start.row)
            pad = " " * len(gutter)
            shown = line.expandtabs(4) if "\t" not in line[: d.start.column] else line
            width = (
                d.end.column - d.start.column
                if d.end.row == d.start.row and d.end.column > d.start.column
                else max(1, len(line.rstrip()) - d.start.column + 1)
            )
            caret = " " * (d.start.column - 1) + "^" * max(1, width)
            out.append(
                f" {pad} |\n {gutter} | {printable(shown)}\n"
                f" {pad} | {style(caret, _LEVEL_STYLE[d.severity][2:], ctx.color)}\n"
            )
        if d.fix is not None:
            tag = "" if d.fix.applicability.value == "safe" else " (unsafe)"
            out.append(f"   = fix{tag}: {printable(d.fix.message)}\n")
        out.append("\n")
    return "".join(out) + summary.text(ctx)
