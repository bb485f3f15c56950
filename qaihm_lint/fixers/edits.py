"""Turning rewrites into edits, and edits into new file contents.

Every fix is stored as edits (ruff's JSON shape) so that fixes from different rules on one file
can be checked for overlap and applied together; a whole-file rewrite is narrowed to the one span
that really changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from qaihm_lint.diagnostics import Applicability, Edit, Fix
from qaihm_lint.sources import SourceFile

if TYPE_CHECKING:
    import libcst


def minimal_edit(source: SourceFile, new_text: str) -> Edit | None:
    """The smallest single edit that turns ``source.text`` into ``new_text``."""
    old = source.text
    if old == new_text:
        return None
    prefix = 0
    limit = min(len(old), len(new_text))
    while prefix < limit and old[prefix] == new_text[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and old[len(old) - 1 - suffix] == new_text[len(new_text) - 1 - suffix]
    ):
        suffix += 1
    # Never split a \r\n pair: a location inside it has no column on either line.
    if 0 < prefix < len(old) and old[prefix - 1] == "\r" and old[prefix] == "\n":
        prefix -= 1
    end = len(old) - suffix
    if 0 < end < len(old) and old[end - 1] == "\r" and old[end] == "\n":
        end += 1
        suffix -= 1
    return Edit(
        source.location(prefix),
        source.location(end),
        new_text[prefix : len(new_text) - suffix],
    )


def fix_from_text(
    source: SourceFile, new_text: str, message: str, applicability: Applicability
) -> Fix | None:
    edit = minimal_edit(source, new_text)
    if edit is None:
        return None
    return Fix(applicability, message, (edit,))


def fix_from_cst(
    source: SourceFile,
    transform: Callable[[libcst.Module], libcst.Module],
    message: str,
    applicability: Applicability,
) -> Fix | None:
    """Apply a libcst transform to the source's concrete tree and express it as an edit.

    Returns None when libcst cannot parse the file (a syntax ast accepts but libcst's grammar
    does not) or the transform changes nothing: the finding is still reported, without a fix.
    """
    import libcst

    try:
        module = source.cst
        new_text = transform(module).code
    except (libcst.ParserSyntaxError, RecursionError):
        # Nesting deeper than libcst's recursive visitors can walk: reported, not fixed.
        return None
    return fix_from_text(source, new_text, message, applicability)


class OverlappingEdits(ValueError):
    pass


def apply_edits(text: str, source: SourceFile, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (locations refer to ``source``, whose text is ``text``)."""
    spans = sorted(
        ((source.offset(edit.start), source.offset(edit.end), edit.content) for edit in edits),
        key=lambda span: (span[0], span[1]),
    )
    pieces = []
    cursor = 0
    for start, end, content in spans:
        if start < cursor:
            raise OverlappingEdits(f"edit at offset {start} overlaps an earlier one")
        pieces.append(text[cursor:start])
        pieces.append(content)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def edit_spans(source: SourceFile, fix: Fix) -> list[tuple[int, int]]:
    return [(source.offset(edit.start), source.offset(edit.end)) for edit in fix.edits]


def overlaps(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    """Two fixes conflict when any of their spans intersect, or both insert at one point."""
    for a_start, a_end in a:
        for b_start, b_end in b:
            if a_start < b_end and b_start < a_end:
                return True
            if a_start == a_end and b_start <= a_start <= b_end:
                return True
            if b_start == b_end and a_start <= b_start <= a_end:
                return True
    return False
