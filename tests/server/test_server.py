"""The language server end to end: diagnostics on open and as the buffer changes, quick fixes,
fix-all, suppression, hover, re-checks after a change elsewhere, and malformed buffers."""

from __future__ import annotations

import ast
import asyncio
import shutil
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from qaihm_lint.cache import CACHE_DIR
from qaihm_lint.cli import main
from qaihm_lint.rule_docs import explain
from qaihm_lint.rules.requirements import CODE_GEN
from qaihm_lint.testing import SHARED_BASE_PY, Tree, build_tree, lint_paths
from tests.server.conftest import (
    BASELINE,
    GUARD_SECONDS,
    TORCH_LOAD,
    Document,
    apply_edit,
    codes,
    wait_for,
)

pytestmark = pytest.mark.asyncio

CUDA = "x = torch.zeros(1).cuda()\n"
IMPORTED = '\nimport pathlib\n\npathlib.Path(__file__).with_name("IMPORTED").write_text("run")\n'


def _app(tree: Tree) -> Path:
    return tree.model() / "app.py"


def _file_event(client: LanguageClient, path: Path, kind: types.FileChangeType) -> None:
    """What the editor's file watcher sends when ``path`` changes on disk."""
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(path.as_uri(), kind)])
    )


async def test_open_publishes_the_folder_findings_as_the_cli_reports_them(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    app.write_text(app.read_text() + TORCH_LOAD)
    model = tree.model() / "model.py"
    # Code that would leave a mark if it were ever imported or run.
    model.write_text(model.read_text() + IMPORTED)
    Document(client, model)  # another file of the folder
    shown = await wait_for(client, app, lambda found: "QAI502" in found)
    assert not (tree.model() / "IMPORTED").exists()
    (cli,) = [d for d in lint_paths([tree.model()]) if d.code == "QAI502"]
    (diagnostic,) = [d for d in shown if d.code == "QAI502"]
    assert diagnostic.message == cli.message
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.source == "qaihm-lint"
    assert diagnostic.data == {"slug": "torch-load-without-map-location", "fix": "safe"}
    assert diagnostic.range.start == types.Position(cli.start.row - 1, cli.start.column - 1)
    # The open file itself is clean: it is published, empty.
    assert codes(client, tree.model() / "model.py") == []


async def test_a_finding_comes_and_goes_with_unsaved_edits(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    on_disk = app.read_text()
    document = Document(client, app)
    await wait_for(client, app, lambda found: found == [])
    document.change(on_disk + TORCH_LOAD)
    await wait_for(client, app, lambda found: found == ["QAI502"])
    document.change(on_disk + TORCH_LOAD.replace('"weights.pt"', '"w.pt", map_location="cpu"'))
    await wait_for(client, app, lambda found: found == [])
    assert app.read_text() == on_disk  # never saved, never written


async def _actions(
    client: LanguageClient, document: Document, diagnostic: types.Diagnostic | None, only: list[str]
) -> list[types.CodeAction]:
    where = (
        diagnostic.range
        if diagnostic is not None
        else types.Range(types.Position(0, 0), types.Position(0, 0))
    )
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(document.uri),
            where,
            types.CodeActionContext(
                diagnostics=[diagnostic] if diagnostic is not None else [], only=only or None
            ),
        )
    )
    return [a for a in found or [] if isinstance(a, types.CodeAction)]


async def test_quick_fixes_and_fix_all_edit_the_buffer(client: LanguageClient, tree: Tree) -> None:
    app = _app(tree)
    on_disk = app.read_text()
    files = sorted(p for p in tree.root.rglob("*") if p.is_file())
    document = Document(client, app)
    document.change(on_disk + TORCH_LOAD + CUDA)
    shown = await wait_for(client, app, lambda found: found == ["QAI501", "QAI502"])
    by_code = {d.code: d for d in shown}

    quick = await _actions(client, document, by_code["QAI502"], [types.CodeActionKind.QuickFix])
    (fix,) = [a for a in quick if a.title.startswith("Fix QAI502")]
    assert fix.is_preferred and "unsafe" not in fix.title
    assert fix.edit is not None
    fixed = apply_edit(fix.edit, {document.uri: document.text})[document.uri]
    assert 'torch.load("weights.pt", map_location="cpu")' in fixed
    ast.parse(fixed)
    document.change(fixed)
    await wait_for(client, app, lambda found: found == ["QAI501"])

    # The unsafe fix is offered only as an explicit quick fix that says so.
    (cuda,) = client.diagnostics[document.uri]
    quick = await _actions(client, document, cuda, [types.CodeActionKind.QuickFix])
    (unsafe,) = [a for a in quick if a.title.startswith("Fix QAI501")]
    assert "(unsafe)" in unsafe.title and not unsafe.is_preferred

    # Fix-all: the safe fixes only (resolved when picked), the unsafe one left.
    document.change(on_disk + TORCH_LOAD + CUDA)
    await wait_for(client, app, lambda found: found == ["QAI501", "QAI502"])
    (every,) = await _actions(client, document, None, ["source.fixAll.qaihm-lint"])
    assert every.kind == "source.fixAll.qaihm-lint" and every.edit is None
    resolved = await client.code_action_resolve_async(every)
    assert resolved.edit is not None
    result = apply_edit(resolved.edit, {document.uri: document.text})[document.uri]
    ast.parse(result)
    assert 'map_location="cpu"' in result and ".cuda()" in result
    document.change(result)
    await wait_for(client, app, lambda found: found == ["QAI501"])
    # Nothing written: not the file, not a cache (the editor applies the edits).
    assert app.read_text() == on_disk
    assert not (tree.root / CACHE_DIR).exists()
    assert sorted(p for p in tree.root.rglob("*") if p.is_file()) == files


async def test_the_suppression_action_writes_what_add_noqa_writes(
    client: LanguageClient, tree: Tree, tmp_path: Path
) -> None:
    app = _app(tree)
    text = app.read_text() + TORCH_LOAD
    document = Document(client, app)
    document.change(text)
    (diagnostic,) = await wait_for(client, app, lambda found: found == ["QAI502"])
    quick = await _actions(client, document, diagnostic, [types.CodeActionKind.QuickFix])
    (suppress,) = [a for a in quick if a.title.startswith("Suppress QAI502")]
    assert suppress.edit is not None
    suppressed = apply_edit(suppress.edit, {document.uri: text})[document.uri]

    # The command line's --add-noqa on the same text, saved, in a copy of the tree.
    copy = tmp_path / "copy"
    shutil.copytree(tree.root, copy)
    copied = copy / app.relative_to(tree.root)
    copied.write_text(text)
    assert main(["--add-noqa", str(copied.parent), "--no-cache"]) == 0
    assert suppressed == copied.read_text()
    assert "# qaihm-lint: ignore[QAI502]" in suppressed

    document.change(suppressed)
    await wait_for(client, app, lambda found: found == [])


async def test_hover_and_the_explain_command_give_the_explain_text(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    document = Document(client, app)
    document.change(document.text + TORCH_LOAD)
    (diagnostic,) = await wait_for(client, app, lambda found: found == ["QAI502"])
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(document.uri), diagnostic.range.start)
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert explain("QAI502") in hover.contents.value
    nothing = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(document.uri), types.Position(0, 0))
    )
    assert nothing is None
    text = await client.workspace_execute_command_async(
        types.ExecuteCommandParams("qaihm-lint.explain", ["QAI502"])
    )
    assert text == explain("QAI502")


DEPENDANT = (
    "from qai_hub_models.models._shared.family.model import SharedBase\n\n"
    "MODEL_ASSET_VERSION = 1\n\n\n"
    "class ExampleModel(SharedBase):\n"
    "    @staticmethod\n"
    "    def get_input_spec():\n"
    "        return {}\n"
)
WITHOUT_METHOD = SHARED_BASE_PY.replace(
    "\n    @staticmethod\n    def get_output_names():\n        return ['y']\n", ""
)


async def test_a_change_in_a_shared_base_rechecks_the_open_dependant(
    client: LanguageClient, tree: Tree
) -> None:
    tree.write("models/_shared/family/__init__.py", "")
    shared = tree.write("models/_shared/family/model.py", SHARED_BASE_PY)
    model = tree.write("models/example/model.py", DEPENDANT)
    Document(client, model)
    await wait_for(client, model, lambda found: "QAI201" not in found)
    # Edited elsewhere (another editor, git checkout): the editor's file watcher reports it.
    shared.write_text(WITHOUT_METHOD)
    _file_event(client, shared, types.FileChangeType.Changed)
    await wait_for(client, model, lambda found: "QAI201" in found)
    # Opened and edited in this editor: the dependant follows the unsaved base.
    base = Document(client, shared)
    base.change(SHARED_BASE_PY)
    await wait_for(client, model, lambda found: "QAI201" not in found)
    base.change(WITHOUT_METHOD)
    await wait_for(client, model, lambda found: "QAI201" in found)
    # Saved as the disk already has it, then closed: the disk's text again.
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(base.uri))
    )
    base.close()
    shared.write_text(SHARED_BASE_PY)
    _file_event(client, shared, types.FileChangeType.Changed)
    await wait_for(client, model, lambda found: "QAI201" not in found)


async def test_a_configuration_change_rechecks_the_open_folders(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    app.write_text(app.read_text() + TORCH_LOAD)
    Document(client, app)
    await wait_for(client, app, lambda found: found == ["QAI502"])
    config = tree.root / "pyproject.toml"
    config.write_text('[tool.qaihm-lint.per-model-ignores]\n"example" = ["QAI502"]\n')
    _file_event(client, config, types.FileChangeType.Created)
    await wait_for(client, app, lambda found: found == [])
    config.unlink()
    _file_event(client, config, types.FileChangeType.Deleted)
    await wait_for(client, app, lambda found: found == ["QAI502"])


async def test_malformed_buffers_give_qai000_and_the_server_goes_on(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    good = app.read_text()
    document = Document(client, app)
    for broken in ("def broken(:\n", "x = 1\n\x00\x01\x02\xff\ufffd binary\n", "\udcff\x00"):
        document.change(broken)
        await wait_for(client, app, lambda found: found == ["QAI000"])
        document.change(good)
        await wait_for(client, app, lambda found: found == [])
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(document.uri), types.Position(0, 0))
    )
    assert hover is None  # still answering


async def test_closing_the_last_document_of_a_folder_clears_its_findings(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    app.write_text(app.read_text() + TORCH_LOAD)
    document = Document(client, app)
    await wait_for(client, app, lambda found: found == ["QAI502"])
    document.close()
    await wait_for(client, app, lambda found: found == [])


async def test_an_open_read_only_file_is_still_fixed_in_its_buffer(
    client: LanguageClient, tree: Tree
) -> None:
    """The editor's buffer is what is fixed: a read-only file under it does not stop the fix
    (the editor decides how to save), as with --stdin-filename."""
    app = _app(tree)
    app.chmod(0o444)
    try:
        document = Document(client, app)
        document.change(document.text + TORCH_LOAD)
        await wait_for(client, app, lambda found: found == ["QAI502"])
        (finding,) = client.diagnostics[document.uri]
        quick = await _actions(client, document, finding, [types.CodeActionKind.QuickFix])
        (fix,) = [a for a in quick if a.title.startswith("Fix QAI502")]
        assert fix.edit is not None
        fixed = apply_edit(fix.edit, {document.uri: document.text})[document.uri]
        assert 'map_location="cpu"' in fixed
    finally:
        app.chmod(0o644)


async def test_a_baseline_hides_what_it_holds_and_fix_all_leaves_it(
    baselined_client: LanguageClient, tree: Tree
) -> None:
    client = baselined_client
    app = _app(tree)
    document = Document(client, app)
    await wait_for(client, app, lambda found: found == [])
    document.change(document.text + CUDA)
    await wait_for(client, app, lambda found: found == ["QAI501"])
    # The baselined torch.load is not the editor's to fix: no safe fix is offered for all.
    assert await _actions(client, document, None, ["source.fixAll.qaihm-lint"]) == []
    # The baseline is written again with the .cuda() in it: the open folder is re-checked.
    app.write_text(document.text)
    baseline = tree.root / BASELINE
    assert main(["--write-baseline", str(baseline), str(tree.model()), "--no-cache"]) == 0
    _file_event(client, baseline, types.FileChangeType.Changed)
    await wait_for(client, app, lambda found: found == [])


async def test_a_cross_model_finding_follows_the_buffer_and_another_folder(
    client: LanguageClient, tree: Tree
) -> None:
    """The package pass (QAI306 compares every folder's requirements) is remembered between
    edits, and still sees a change in the buffer and in another folder on disk."""
    build_tree(tree.root, {"requirements.txt": "fvcore==0.1.4\n"}, model_id="second")
    build_tree(tree.root, {CODE_GEN: "supported_precisions:\n- float\n"}, model_id="published")
    requirements = tree.write("models/example/requirements.txt", "fvcore==0.1.5\n")
    document = Document(client, requirements)
    await wait_for(client, requirements, lambda found: found == ["QAI306"])
    document.change("fvcore==0.1.4\n")
    await wait_for(client, requirements, lambda found: found == [])
    document.change("fvcore==0.1.5\n")
    await wait_for(client, requirements, lambda found: found == ["QAI306"])
    other = tree.write("models/second/requirements.txt", "fvcore==0.1.5\n")
    _file_event(client, other, types.FileChangeType.Changed)
    await wait_for(client, requirements, lambda found: found == [])


async def test_a_broken_configuration_is_said_once_and_the_server_goes_on(
    client: LanguageClient, tree: Tree
) -> None:
    app = _app(tree)
    document = Document(client, app)
    await wait_for(client, app, lambda found: found == [])
    config = tree.root / "pyproject.toml"
    config.write_text('[tool.qaihm-lint]\nselect = ["QAI9999"]\n')
    watched = types.DidChangeWatchedFilesParams(
        [types.FileEvent(config.as_uri(), types.FileChangeType.Created)]
    )
    client.workspace_did_change_watched_files(watched)

    async def said() -> None:
        while not client.messages:
            await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)

    await asyncio.wait_for(said(), GUARD_SECONDS)
    (message,) = client.messages
    assert message.type == types.MessageType.Error
    assert message.message.startswith("qaihm-lint: error: ") and "QAI9999" in message.message
    assert "\n" not in message.message
    document.change(document.text + TORCH_LOAD)  # typing on: not said again
    config.write_text('[tool.qaihm-lint]\nselect = ["QAI5"]\n')
    client.workspace_did_change_watched_files(watched)
    await wait_for(client, app, lambda found: found == ["QAI502"])
    assert len(client.messages) == 1


async def test_positions_count_utf16_units_and_fixes_land_in_place(
    client: LanguageClient, tree: Tree
) -> None:
    """VS Code counts columns in UTF-16 code units: an emoji before a finding is two."""
    app = _app(tree)
    prefix = 'label = "héllo 😀"; weights = '
    text = app.read_text() + f'import torch\n{prefix}torch.load("w.pt")\n'
    document = Document(client, app)
    document.change(text)
    (diagnostic,) = await wait_for(client, app, lambda found: found == ["QAI502"])
    assert diagnostic.range.start.character == len(prefix.encode("utf-16-le")) // 2
    assert diagnostic.range.start.character == len(prefix) + 1
    quick = await _actions(client, document, diagnostic, [types.CodeActionKind.QuickFix])
    (fix,) = [a for a in quick if a.title.startswith("Fix QAI502")]
    assert fix.edit is not None
    fixed = apply_edit(fix.edit, {document.uri: text})[document.uri]
    assert f'{prefix}torch.load("w.pt", map_location="cpu")\n' in fixed


async def test_a_change_to_global_requirements_rechecks_the_open_folders(
    client: LanguageClient, tree: Tree
) -> None:
    build_tree(tree.root, {CODE_GEN: "supported_precisions:\n- float\n"}, model_id="published")
    requirements = tree.write("models/example/requirements.txt", "numpy==2.0.0\n")
    Document(client, tree.model() / "model.py")
    await wait_for(client, tree.model() / "model.py", lambda found: found == [])
    assert codes(client, requirements) == []  # the folder is clean: nothing published there
    shared = tree.write("global_requirements.txt", "numpy>=1.26,<2\n")
    _file_event(client, shared, types.FileChangeType.Changed)
    await wait_for(client, requirements, lambda found: found == ["QAI302"])
