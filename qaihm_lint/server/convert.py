"""Between the engine's values and the protocol's: locations (1-based rows and character
columns) and the client's positions (0-based, in the code units the session negotiated),
findings and LSP diagnostics, new file contents and WorkspaceEdits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types

from qaihm_lint.diagnostics import Diagnostic, Location, Severity, rule_url
from qaihm_lint.fixers.edits import minimal_edit
from qaihm_lint.sources import SourceFile

SOURCE = "qaihm-lint"
UNUSED_NOQA = "QAI001"


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Text:
    """One file's text as the client counts positions in it."""

    def __init__(self, path: Path, data: bytes | None, encoding: str) -> None:
        self.source = SourceFile(path, data if data is not None else b"")
        self.encoding = encoding

    def position(self, location: Location) -> types.Position:
        line = self.source.line(location.row)
        column = max(location.column - 1, 0)
        if column > len(line):
            # Past the end of the text (an undecodable file, an edit at a line's end).
            return types.Position(
                location.row - 1, _units(line, self.encoding) + column - len(line)
            )
        return types.Position(location.row - 1, _units(line[:column], self.encoding))

    def location(self, position: types.Position) -> Location:
        line = self.source.line(position.line + 1)
        count = 0
        for index, char in enumerate(line):
            if count >= position.character:
                return Location(position.line + 1, index + 1)
            count += _units(char, self.encoding)
        return Location(position.line + 1, len(line) + 1)

    def range(self, start: Location, end: Location) -> types.Range:
        return types.Range(self.position(start), self.position(end))


def to_lsp(diagnostic: Diagnostic, text: Text) -> types.Diagnostic:
    """The finding as the editor shows it: the CLI's message, the code, the slug in ``data``
    (and the link to the rule's explanation once the reference is published)."""
    url = rule_url(diagnostic.code)
    fix = diagnostic.fix
    return types.Diagnostic(
        range=text.range(diagnostic.start, max(diagnostic.start, diagnostic.end)),
        message=diagnostic.message,
        severity=(
            types.DiagnosticSeverity.Error
            if diagnostic.severity is Severity.ERROR
            else types.DiagnosticSeverity.Warning
        ),
        code=diagnostic.code,
        code_description=None if url is None else types.CodeDescription(href=url),
        source=SOURCE,
        tags=[types.DiagnosticTag.Unnecessary] if diagnostic.code == UNUSED_NOQA else None,
        data={
            "slug": diagnostic.rule,
            "fix": None if fix is None else fix.applicability.value,
        },
    )


def workspace_edit(
    new: Mapping[Path, bytes],
    old: Mapping[Path, bytes | None],
    versions: Mapping[Path, int],
    encoding: str,
    document_changes: bool,
) -> types.WorkspaceEdit:
    """An edit the editor applies: one minimal text edit per changed file (a file that does
    not exist yet is created first, when the client can)."""
    plain: dict[str, list[types.TextEdit]] = {}
    changes: list[Any] = []
    for path, data in sorted(new.items()):
        before = old.get(path)
        text = Text(path, before, encoding)
        after = SourceFile(path, data).text
        if before is None:
            edits = [types.TextEdit(types.Range(types.Position(0, 0), types.Position(0, 0)), after)]
        else:
            edit = minimal_edit(text.source, after)
            if edit is None:
                continue
            edits = [types.TextEdit(text.range(edit.start, edit.end), edit.content)]
        uri = path.as_uri()
        if not document_changes:
            if before is not None:
                plain[uri] = edits
            continue
        if before is None:
            changes.append(types.CreateFile(uri=uri))
        document = types.OptionalVersionedTextDocumentIdentifier(
            uri=uri, version=versions.get(path)
        )
        changes.append(types.TextDocumentEdit(text_document=document, edits=edits))
    if document_changes:
        return types.WorkspaceEdit(document_changes=changes)
    return types.WorkspaceEdit(changes=plain)
