"""What the editor offers on a finding: its fix as a quick fix (an unsafe one says so in its
title), the suppression comment ``--add-noqa`` would write, every safe fix of the folder at once
(``source.fixAll.qaihm-lint``), and the rule's explanation on hover."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from lsprotocol import types

from qaihm_lint.diagnostics import Applicability, Diagnostic, Location
from qaihm_lint.rule_docs import explain
from qaihm_lint.server.convert import Text, to_lsp
from qaihm_lint.server.session import Changes, Session
from qaihm_lint.suppressions import IGNORE_COMMENT

FIX_ALL = "source.fixAll.qaihm-lint"
EXPLAIN_COMMAND = "qaihm-lint.explain"
# Findings a comment cannot silence: a file that does not parse, the unused-suppression finding
# itself (its fix removes the comment), deep verdicts.
_NOT_SUPPRESSIBLE = ("QAI000", "QAI001", "QAI8")

EditMaker = Callable[[Changes], types.WorkspaceEdit]


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether the client asked for actions of ``kind`` (a requested kind covers its
    sub-kinds: ``source`` covers ``source.fixAll.qaihm-lint``)."""
    return not only or any(kind == k or kind.startswith(k + ".") for k in only)


def _overlaps(diagnostic: Diagnostic, start: Location, end: Location) -> bool:
    return diagnostic.start <= end and start <= max(diagnostic.end, diagnostic.start)


def code_actions(
    session: Session,
    path: Path,
    text: Text,
    selection: types.Range,
    only: Sequence[str] | None,
    make_edit: EditMaker,
    lazy_fix_all: bool,
) -> list[types.CodeAction]:
    start, end = text.location(selection.start), text.location(selection.end)
    found = [d for d in session.findings_in(path) if _overlaps(d, start, end)]
    actions: list[types.CodeAction] = []
    if _wanted(only, types.CodeActionKind.QuickFix):
        for diagnostic in found:
            shown = [to_lsp(diagnostic, text)]
            fix = diagnostic.fix
            if fix is not None:
                unsafe = fix.applicability is Applicability.UNSAFE
                changes = session.fix_one(diagnostic)
                if changes.new:
                    title = f"Fix {diagnostic.code}{' (unsafe)' if unsafe else ''}: {fix.message}"
                    actions.append(
                        types.CodeAction(
                            title=title,
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=shown,
                            edit=make_edit(changes),
                            is_preferred=not unsafe,
                        )
                    )
            if not diagnostic.code.startswith(_NOT_SUPPRESSIBLE):
                changes = session.suppress(diagnostic)
                if changes.new:
                    comment = f"{IGNORE_COMMENT}[{diagnostic.code}]"
                    actions.append(
                        types.CodeAction(
                            title=f"Suppress {diagnostic.code} on this line ({comment})",
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=shown,
                            edit=make_edit(changes),
                        )
                    )
    unit = session.documents.get(path)
    if unit is not None and _wanted(only, FIX_ALL):
        fixable = [
            d
            for d in session.findings.get(unit, [])
            if d.fix is not None and d.fix.applicability is Applicability.SAFE
        ]
        if fixable:
            action = types.CodeAction(
                title=f"Fix all safe qaihm-lint findings in {unit.name}",
                kind=FIX_ALL,
                data={"unit": str(unit)},
            )
            actions.append(action if lazy_fix_all else resolve_fix_all(session, action, make_edit))
    return actions


def resolve_fix_all(
    session: Session, action: types.CodeAction, make_edit: EditMaker
) -> types.CodeAction:
    """Fill in the edit of a fix-all action (computed only when the user picks it)."""
    data = action.data if isinstance(action.data, dict) else {}
    unit = data.get("unit")
    if unit is not None:
        action.edit = make_edit(session.fix_all(Path(unit)))
    return action


def hover(session: Session, path: Path, text: Text, position: types.Position) -> str | None:
    """The explanation (``--explain``) of every rule with a finding under the cursor."""
    here = text.location(position)
    codes = sorted({d.code for d in session.findings_in(path) if _overlaps(d, here, here)})
    if not codes:
        return None
    return "\n".join(f"```text\n{explain(code)}```" for code in codes)
