"""The protocol: document sync, debounced re-linting, publishing, code actions, hover and the
explain command, on pygls' LanguageServer.

Findings are published for every file of a folder that has an open document (the open file and
the rest of its model folder), computed on the unsaved buffers: at open, after a pause in typing
(``debounce`` seconds, 0.1 by default), at save; closing a folder's last document clears its
findings. A change to the configuration, the baseline, global_requirements.txt or shared code
(saved, or reported by the editor's file watcher) re-checks the open folders that depend on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

import qaihm_lint.server.actions as actions
from qaihm_lint import __version__
from qaihm_lint.arguments import PROG, UsageError
from qaihm_lint.baseline import BaselineError
from qaihm_lint.config import ConfigError
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.rule_docs import explain
from qaihm_lint.rule_selectors import UnknownSelector
from qaihm_lint.server.convert import Text, to_lsp, workspace_edit
from qaihm_lint.server.session import Changes, Session
from qaihm_lint.workspace import WorkspaceError

logger = logging.getLogger(__name__)

# Typing pauses this long before a re-lint (initializationOptions 'debounce' sets another).
DEBOUNCE_SECONDS = 0.1
# Files whose change can change the findings of folders that do not contain them.
WATCHED = "**/{pyproject.toml,global_requirements.txt,*.py,*.txt,*.yaml,*.yml,*.json}"
_USER_ERRORS = (ConfigError, UsageError, UnknownSelector, WorkspaceError, BaselineError)


def _path(uri: str) -> Path | None:
    """The file of a ``file:`` URI (an untitled buffer is nobody's folder)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return None if path is None else Path(os.path.realpath(path))


class QaihmServer(LanguageServer):
    def __init__(self, baseline: Path | None) -> None:
        super().__init__("qaihm-lint", __version__)
        self.session = Session(baseline)
        self.debounce = DEBOUNCE_SECONDS
        self.uris: dict[Path, str] = {}  # open documents: the client's URI of each
        self.versions: dict[Path, int] = {}
        self.published: dict[Path, set[Path]] = {}  # per unit, the files given findings
        self.pending: dict[Path, asyncio.TimerHandle] = {}
        self.shown_error = ""  # said once, not at every keystroke until it is fixed

    # -- linting and publishing --------------------------------------------------------------

    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def text(self, path: Path) -> Text:
        data = self.session.buffers.get(path)
        if data is None:
            try:
                data = path.read_bytes()
            except OSError:
                data = None
        return Text(path, data, self.encoding())

    def schedule(self, unit: Path) -> None:
        handle = self.pending.pop(unit, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_event_loop()
        self.pending[unit] = loop.call_later(self.debounce, self.relint, unit)

    def flush(self, unit: Path | None) -> None:
        """Lint now what a pending change would lint later (before answering on findings)."""
        if unit is not None and unit in self.pending:
            self.relint(unit)

    def relint(self, unit: Path) -> None:
        handle = self.pending.pop(unit, None)
        if handle is not None:
            handle.cancel()
        if unit not in self.session.open_units():
            return self.clear(unit)
        try:
            by_file = self.session.lint(unit)
        except _USER_ERRORS as exc:
            self.say(f"{PROG}: error: {exc}", types.MessageType.Error)
            return None
        except Exception as exc:
            logger.error("%s", traceback.format_exc())
            self.say(
                f"{PROG}: internal error: {type(exc).__name__}: {exc} (please report it)",
                types.MessageType.Error,
            )
            return None
        self.shown_error = ""
        # The open documents too, when clean: the editor learns that they were checked.
        shown = set(by_file) | {p for p, u in self.session.documents.items() if u == unit}
        for path in sorted(shown | self.published.get(unit, set())):
            self.publish(path, by_file.get(path, []))
        self.published[unit] = shown
        return None

    def clear(self, unit: Path) -> None:
        self.session.findings.pop(unit, None)
        for path in sorted(self.published.pop(unit, set())):
            self.publish(path, [])

    def publish(self, path: Path, diagnostics: list[Diagnostic]) -> None:
        text = self.text(path)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=self.uris.get(path, path.as_uri()),
                diagnostics=[to_lsp(d, text) for d in diagnostics],
                version=self.versions.get(path),
            )
        )

    def say(self, message: str, kind: types.MessageType) -> None:
        self.window_log_message(types.LogMessageParams(kind, message))
        if message != self.shown_error:
            self.shown_error = message
            self.window_show_message(types.ShowMessageParams(kind, message))

    def recheck(self, changed: list[Path], also: Path | None = None) -> None:
        """Re-lint the open units a change to ``changed`` affects (and ``also``), now."""
        units = set(self.session.affected(changed))
        if also is not None:
            units.add(also)
        for unit in sorted(units):
            self.relint(unit)

    def make_edit(self, changes: Changes) -> types.WorkspaceEdit:
        capable = self.client_capabilities.workspace
        edit = capable.workspace_edit if capable is not None else None
        document_changes = bool(edit is not None and edit.document_changes)
        return workspace_edit(
            changes.new, changes.old, self.versions, self.encoding(), document_changes
        )


def build_server(baseline: Path | None = None) -> QaihmServer:
    server = QaihmServer(baseline)

    @server.feature(types.INITIALIZE)
    def initialize(ls: QaihmServer, params: types.InitializeParams) -> None:
        options: Any = params.initialization_options
        if not isinstance(options, dict):
            return
        if isinstance(options.get("baseline"), str):
            root = _path(params.root_uri) if params.root_uri else None
            given = Path(options["baseline"]).expanduser()
            ls.session.baseline = given if given.is_absolute() or root is None else root / given
        if isinstance(options.get("debounce"), (int, float)):
            ls.debounce = max(0.0, float(options["debounce"]))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: QaihmServer, params: types.InitializedParams) -> None:
        capable = ls.client_capabilities.workspace
        watch = capable.did_change_watched_files if capable is not None else None
        if watch is None or not watch.dynamic_registration:
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=WATCHED)]
        )
        registration = types.Registration(
            id="qaihm-lint-watch",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        try:
            await ls.client_register_capability_async(types.RegistrationParams([registration]))
        except Exception as exc:  # a client that refuses: saves still re-check
            logger.warning("file watching not registered: %s", exc)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: QaihmServer, params: types.DidOpenTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        if path is None:
            return
        ls.uris[path] = params.text_document.uri
        ls.versions[path] = params.text_document.version
        unit = ls.session.set_buffer(path, params.text_document.text)
        if unit is not None:
            ls.relint(unit)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: QaihmServer, params: types.DidChangeTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        if path is None:
            return
        document = ls.workspace.get_text_document(params.text_document.uri)
        ls.versions[path] = params.text_document.version
        unit = ls.session.set_buffer(path, document.source)
        # Its own folder, and the open folders whose classes depend on it (shared code).
        units = set(ls.session.affected([path]))
        if unit is not None:
            units.add(unit)
        for affected in sorted(units):
            ls.schedule(affected)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: QaihmServer, params: types.DidSaveTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        if path is not None:
            ls.recheck([path], also=ls.session.documents.get(path))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: QaihmServer, params: types.DidCloseTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        if path is None:
            return
        ls.uris.pop(path, None)
        ls.versions.pop(path, None)
        unit = ls.session.close(path)
        if unit is not None:
            ls.relint(unit)  # with the file's saved text, or cleared with its last document

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: QaihmServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [p for p in (_path(change.uri) for change in params.changes) if p is not None]
        if any(change.type != types.FileChangeType.Changed for change in params.changes):
            ls.session.forget_discovery()
        ls.recheck(paths)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, actions.FIX_ALL],
            resolve_provider=True,
        ),
    )
    def code_action(
        ls: QaihmServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        path = _path(params.text_document.uri)
        if path is None:
            return None
        ls.flush(ls.session.documents.get(path))
        capable = ls.client_capabilities.text_document
        action_caps = capable.code_action if capable is not None else None
        resolve = action_caps.resolve_support if action_caps is not None else None
        lazy = resolve is not None and "edit" in resolve.properties
        return actions.code_actions(
            ls.session,
            path,
            ls.text(path),
            params.range,
            params.context.only,
            ls.make_edit,
            lazy,
        )

    @server.feature(types.CODE_ACTION_RESOLVE)
    def resolve(ls: QaihmServer, action: types.CodeAction) -> types.CodeAction:
        if action.kind == actions.FIX_ALL:
            return actions.resolve_fix_all(ls.session, action, ls.make_edit)
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: QaihmServer, params: types.HoverParams) -> types.Hover | None:
        path = _path(params.text_document.uri)
        if path is None:
            return None
        ls.flush(ls.session.documents.get(path))
        found = actions.hover(ls.session, path, ls.text(path), params.position)
        if found is None:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, found))

    @server.command(actions.EXPLAIN_COMMAND)
    def explain_command(ls: QaihmServer, *args: Any) -> str:
        code = args[0] if args and isinstance(args[0], str) else ""
        try:
            return explain(code)
        except UnknownSelector as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc

    return server
