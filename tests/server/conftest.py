"""The language server driven end to end: the real ``qaihm-lint server`` over stdio, a real LSP
client (pytest-lsp) with VS Code's capabilities, a model folder built with ``qaihm_lint.testing``.

Waits are for the server's notifications (with a generous guard against a hang), never for a
time: nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from qaihm_lint.cli import main
from qaihm_lint.testing import Tree, build_tree

SERVER = [sys.executable, "-m", "qaihm_lint", "server"]
# Long enough for a loaded CI machine; reached only when the server never answers.
GUARD_SECONDS = 60


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return build_tree(tmp_path / "repo")


async def _start(lsp_client: LanguageClient, tree: Tree, **options: Any) -> None:
    registered: list[types.Registration] = []
    lsp_client.registered = registered  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        # VS Code's capabilities allow dynamic registration: the server asks to watch files.
        registered.extend(params.registrations)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tree.root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(tree.root.as_uri(), "repo")],
            # Short, so that the tests wait little for the debounced lint after an edit.
            initialization_options={"debounce": 0.05, **options},
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tree: Tree) -> Any:
    await _start(lsp_client, tree)
    yield
    await lsp_client.shutdown_session()


BASELINE = ".qaihm-lint-baseline.json"
TORCH_LOAD = 'import torch\n\nweights = torch.load("weights.pt")\n'


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def baselined_client(lsp_client: LanguageClient, tree: Tree) -> Any:
    """A server given a baseline (as an editor's initialization option) that holds the
    finding of a ``torch.load`` appended to the example's app.py."""
    app = tree.model() / "app.py"
    app.write_text(app.read_text() + TORCH_LOAD)
    written = main(["--write-baseline", str(tree.root / BASELINE), str(tree.model()), "--no-cache"])
    assert written == 0
    await _start(lsp_client, tree, baseline=BASELINE)
    yield
    await lsp_client.shutdown_session()


def codes(client: LanguageClient, path: Path) -> list[str]:
    return sorted(str(d.code) for d in client.diagnostics.get(path.as_uri(), []))


async def wait_for(
    client: LanguageClient, path: Path, ready: Callable[[list[str]], bool]
) -> list[types.Diagnostic]:
    """The diagnostics of ``path`` once ``ready`` holds for their codes (checked now and after
    each publishDiagnostics)."""

    async def until() -> None:
        while path.as_uri() not in client.diagnostics or not ready(codes(client, path)):
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    await asyncio.wait_for(until(), GUARD_SECONDS)
    return list(client.diagnostics[path.as_uri()])


class Document:
    """One open document: its text and version as the client holds them."""

    def __init__(self, client: LanguageClient, path: Path, text: str | None = None) -> None:
        self.client = client
        self.path = path
        self.uri = path.as_uri()
        self.text = path.read_text(encoding="utf-8") if text is None else text
        self.version = 1
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(self.uri, "python", self.version, self.text)
            )
        )

    def change(self, text: str) -> None:
        self.version += 1
        self.text = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(self.version, self.uri),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def close(self) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(self.uri))
        )


def _offset(text: str, position: types.Position) -> int:
    """The character offset of a UTF-16 position (what VS Code's capabilities negotiate)."""
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return start + index
        units += len(char.encode("utf-16-le")) // 2
    return start + len(line.rstrip("\r\n"))


def apply_edit(edit: types.WorkspaceEdit, texts: dict[str, str]) -> dict[str, str]:
    """What the editor does with a WorkspaceEdit: the new text of every document it touches
    (``texts`` by URI; a created file starts empty)."""
    result = dict(texts)
    for change in edit.document_changes or []:
        if isinstance(change, types.CreateFile):
            result.setdefault(change.uri, "")
            continue
        assert isinstance(change, types.TextDocumentEdit), change
        text = result[change.text_document.uri]
        spans = [
            (_offset(text, e.range.start), _offset(text, e.range.end), e.new_text)
            for e in change.edits
            if isinstance(e, types.TextEdit)
        ]
        for start, end, new in sorted(spans, reverse=True):
            text = text[:start] + new + text[end:]
        result[change.text_document.uri] = text
    return result
