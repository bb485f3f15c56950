"""The closing lines of the human formats."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qaihm_lint.report import ReportContext


def text(ctx: ReportContext) -> str:
    from qaihm_lint.diagnostics import Applicability

    count = len(ctx.diagnostics)
    fixed = f" ({ctx.fixed} fixed)" if ctx.fixed else ""
    if count == 0:
        if ctx.fixed:
            plural = "s" * (ctx.fixed != 1)
            return f"Found {ctx.fixed} error{plural} ({ctx.fixed} fixed, 0 remaining).\n"
        checked = len(ctx.model_ids)
        if not checked:
            # Not a pass: nothing was looked at (ruff also exits 0 here, with a warning).
            reason = f": {ctx.nothing_checked}" if ctx.nothing_checked else ""
            return f"No model folders to check{reason}.\n"
        return f"All checks passed! (checked {checked} model folder{'s' * (checked != 1)})\n"
    lines = [f"Found {count} error{'s' * (count != 1)}{fixed}."]
    safe = sum(1 for d in ctx.diagnostics if d.fix and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(
        1 for d in ctx.diagnostics if d.fix and d.fix.applicability is Applicability.UNSAFE
    )
    if safe:
        lines.append(f"[*] {safe} fixable with the `--fix` option.")
    if unsafe:
        lines.append(f"{unsafe} more fixable with `--fix --unsafe-fixes`.")
    return "\n".join(lines) + "\n"
