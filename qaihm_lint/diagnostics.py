"""The values every stage passes along: findings, their locations and their fixes.

Everything here is plain, immutable and picklable, so diagnostics can cross process boundaries
(parallel workers), be written to the cache as JSON and read back unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based row and a 1-based column counted in characters (not bytes)."""

    row: int
    column: int

    def to_json(self) -> dict[str, int]:
        return {"row": self.row, "column": self.column}


# Where findings about a whole file (or a file that does not exist) point.
FILE_START = Location(1, 1)


@dataclass(frozen=True)
class Edit:
    """Replace the text between two locations of one file with ``content``.

    ``start == end`` inserts; empty ``content`` deletes. An edit on a file that does not exist
    yet (``start == end == 1:1``) creates it.
    """

    start: Location
    end: Location
    content: str

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "location": self.start.to_json(),
            "end_location": self.end.to_json(),
        }


@dataclass(frozen=True)
class Fix:
    """Edits on one file that together repair one finding."""

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]
    # The file the edits apply to; None means the diagnostic's own file.
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability.value,
            "message": self.message,
            "edits": [edit.to_json() for edit in self.edits],
        }


@dataclass(frozen=True)
class Diagnostic:
    code: str
    rule: str  # the slug
    message: str
    severity: Severity
    path: Path
    start: Location
    end: Location
    model_id: str | None = None
    fix: Fix | None = None
    # The stripped text of the flagged line (or a symbol): what a baseline fingerprint keys on,
    # so that moving code up or down does not make an old finding look new.
    anchor: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path.as_posix(), self.start.row, self.start.column, self.code, self.message)

    @property
    def fix_path(self) -> Path:
        if self.fix is None or self.fix.path is None:
            return self.path
        return self.fix.path

    def to_cache(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "message": self.message,
            "severity": self.severity.value,
            "path": str(self.path),
            "start": [self.start.row, self.start.column],
            "end": [self.end.row, self.end.column],
            "model_id": self.model_id,
            "anchor": self.anchor,
            "fix": None
            if self.fix is None
            else {
                "applicability": self.fix.applicability.value,
                "message": self.fix.message,
                "path": None if self.fix.path is None else str(self.fix.path),
                "edits": [
                    [e.start.row, e.start.column, e.end.row, e.end.column, e.content]
                    for e in self.fix.edits
                ],
            },
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> Diagnostic:
        fix_data = data["fix"]
        fix = None
        if fix_data is not None:
            fix = Fix(
                applicability=Applicability(fix_data["applicability"]),
                message=fix_data["message"],
                path=None if fix_data["path"] is None else Path(fix_data["path"]),
                edits=tuple(
                    Edit(Location(sr, sc), Location(er, ec), content)
                    for sr, sc, er, ec, content in fix_data["edits"]
                ),
            )
        return cls(
            code=data["code"],
            rule=data["rule"],
            message=data["message"],
            severity=Severity(data["severity"]),
            path=Path(data["path"]),
            start=Location(*data["start"]),
            end=Location(*data["end"]),
            model_id=data["model_id"],
            anchor=data["anchor"],
            fix=fix,
        )


# The rule reference generated from the rule classes (``qaihm-lint --explain`` prints the same).
RULES_DOC = "docs/rules.md"
# Where RULES_DOC is published, once it is: a relative path in a report opens nowhere, and a
# guessed host would be a lie. Until then reports carry no link (JSON ``url`` is null).
RULES_DOC_URL: str | None = None


def rule_url(code: str) -> str | None:
    """An absolute link to the rule's section of the reference, or None while unpublished."""
    return None if RULES_DOC_URL is None else f"{RULES_DOC_URL}#{code.lower()}"
