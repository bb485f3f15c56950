"""The default: each finding with its source line and a caret under the span."""

from __future__ import annotations

from qaihm_lint.report import ReportContext, fix_marker, summary


def _style(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def render(ctx: ReportContext) -> str:
    out = []
    for d in ctx.diagnostics:
        head = f"{ctx.display_path(d.path)}:{d.start.row}:{d.start.column}:"
        marker = fix_marker(d)
        out.append(
            f"{_style(head, '1', ctx.color)} {_style(d.code, '1;31', ctx.color)}{marker} "
            f"{d.message}\n"
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
                f" {pad} |\n {gutter} | {shown}\n {pad} | {_style(caret, '31', ctx.color)}\n"
            )
        if d.fix is not None:
            tag = "" if d.fix.applicability.value == "safe" else " (unsafe)"
            out.append(f"   = fix{tag}: {d.fix.message}\n")
        out.append("\n")
    return "".join(out) + summary.text(ctx)
