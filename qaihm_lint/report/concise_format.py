"""``path:row:col: CODE [*] message``: one line per finding, for editors and grep."""

from __future__ import annotations

from qaihm_lint.report import ReportContext, fix_marker, printable, summary


def render(ctx: ReportContext) -> str:
    lines = []
    for d in ctx.diagnostics:
        marker = fix_marker(d)
        lines.append(
            f"{printable(ctx.display_path(d.path))}:{d.start.row}:{d.start.column}: "
            f"{d.code}{marker} {printable(d.message)}"
        )
    return "".join(line + "\n" for line in lines) + summary.text(ctx)
