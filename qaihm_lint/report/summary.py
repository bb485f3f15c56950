"""The closing lines of the human formats."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from qaihm_lint.diagnostics import Applicability

if TYPE_CHECKING:
    from qaihm_lint.report import ReportContext


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def describe(errors: int, warnings: int) -> str:
    """``1 error``, ``2 warnings``, ``1 error and 2 warnings``: a warning is never called an
    error (warnings do not fail a run, so the summary must not say they are errors)."""
    if warnings and not errors:
        return _plural(warnings, "warning")
    if warnings:
        return f"{_plural(errors, 'error')} and {_plural(warnings, 'warning')}"
    return _plural(errors, "error")


def fixes(ctx: ReportContext) -> str:
    """``--show-fixes``: what ``--fix`` changed, per file and code (ruff's list)."""
    from qaihm_lint.catalogue import CATALOGUE
    from qaihm_lint.report import printable

    if not ctx.fixed_findings:
        return "No fixes applied.\n" if ctx.show_fixes else ""
    by_file: dict[str, Counter[str]] = {}
    for d in ctx.fixed_findings:
        by_file.setdefault(printable(ctx.display_path(d.path)), Counter())[d.code] += 1
    lines = [f"Fixed {_plural(len(ctx.fixed_findings), 'finding')}:"]
    for path in sorted(by_file):
        lines.append(f"- {path}:")
        for code, count in sorted(by_file[path].items()):
            slug = CATALOGUE[code].slug if code in CATALOGUE else ""
            lines.append(f"    {count} \u00d7 {code} ({slug})")
    return "\n".join(lines) + "\n\n"


def _hidden(ctx: ReportContext, *, within: bool = False) -> str:
    """How many findings ``--baseline`` hid: a pass with a baseline is not a clean tree."""
    if not ctx.baselined:
        return ""
    said = f"{_plural(ctx.baselined, 'baselined finding')} not shown"
    return f"; {said}" if within else f" ({said})"


def text(ctx: ReportContext) -> str:
    return (fixes(ctx) if ctx.show_fixes else "") + _closing(ctx)


def _closing(ctx: ReportContext) -> str:
    remaining = len(ctx.diagnostics)
    if remaining == 0 and not ctx.fixed:
        checked = len(ctx.model_ids)
        if not checked and not ctx.shared_checked:
            # Not a pass: nothing was looked at (ruff also exits 0 here, with a warning).
            reason = f": {ctx.nothing_checked}" if ctx.nothing_checked else ""
            return f"No model folders to check{reason}.\n"
        parts = [_plural(checked, "model folder")] if checked else []
        if ctx.shared_checked:
            parts.append(_plural(ctx.shared_checked, "shared-code folder"))
        return f"All checks passed! (checked {' and '.join(parts)}{_hidden(ctx, within=True)})\n"
    found = describe(ctx.errors + ctx.fixed - ctx.fixed_warnings, ctx.warnings + ctx.fixed_warnings)
    if ctx.fixed:
        lines = [f"Found {found} ({ctx.fixed} fixed, {remaining} remaining){_hidden(ctx)}."]
    else:
        lines = [f"Found {found}{_hidden(ctx)}."]
    if ctx.too_many_warnings():
        lines.append(
            f"Too many warnings: {ctx.warnings}, more than --max-warnings {ctx.max_warnings}."
        )
    safe = sum(1 for d in ctx.diagnostics if d.fix and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(
        1 for d in ctx.diagnostics if d.fix and d.fix.applicability is Applicability.UNSAFE
    )
    if safe:
        lines.append(f"[*] {safe} fixable with the `--fix` option.")
    if unsafe:
        lines.append(f"{unsafe} more fixable with `--fix --unsafe-fixes`.")
    return "\n".join(lines) + "\n"
