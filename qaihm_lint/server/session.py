"""The language server's state, without the protocol: the editor's unsaved buffers, the folders
they belong to, and the lint of one folder against those buffers with the settings the command
line would use for it.

A *unit* is what one lint covers: a model folder, or a folder of shared code (``_shared/x``).
Its discovery is kept (warm), and so is the package's index (``context.INDEXES``, one per
process, which re-reads a module outside the folder only when it changed): an edit re-lints
one folder, in this process, never with ``--deep`` and never importing the checked code.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint import baseline as baselines
from qaihm_lint.arguments import UsageError, build_parser, settings_from_args
from qaihm_lint.buffers import owning_workspace
from qaihm_lint.changes import restrict_to_changed
from qaihm_lint.config import ConfigError, Settings
from qaihm_lint.context import INDEXES
from qaihm_lint.diagnostics import Applicability, Diagnostic
from qaihm_lint.engine import lint, lint_with_fixes, make_plan
from qaihm_lint.engine.fixes import apply_round
from qaihm_lint.rule_selectors import UnknownSelector
from qaihm_lint.workspace import ModelFolder, Workspace, WorkspaceError, discover

CONFIG_NAME = "pyproject.toml"


@dataclass
class Unit:
    path: Path
    workspace: Workspace  # this folder alone (as a model folder, or as shared code)

    @property
    def folder(self) -> ModelFolder:
        return self.workspace.checked()[0]


@dataclass
class Changes:
    """New contents of files (not written: the editor applies them), with what they held."""

    new: dict[Path, bytes]
    old: dict[Path, bytes | None]
    notes: list[str]


class Session:
    def __init__(self, baseline: Path | None = None) -> None:
        self.baseline = baseline
        # What the editor holds for each open document (it shadows the disk).
        self.buffers: dict[Path, bytes] = {}
        # Which unit each open document belongs to (None: not in a model or shared folder).
        self.documents: dict[Path, Path | None] = {}
        self._units: dict[Path, Unit] = {}
        # Each unit's findings of its last lint, every file of it, as shown.
        self.findings: dict[Path, list[Diagnostic]] = {}

    # -- documents ---------------------------------------------------------------------------

    def set_buffer(self, path: Path, text: str) -> Path | None:
        """Record the editor's text of ``path``; the unit it belongs to."""
        # A lone surrogate cannot be UTF-8: kept as the bytes it stands for, so the file is
        # reported as undecodable (QAI000) instead of failing here.
        self.buffers[path] = text.encode("utf-8", "surrogatepass")
        if path not in self.documents:
            self.documents[path] = self._unit_for(path)
        return self.documents[path]

    def close(self, path: Path) -> Path | None:
        """Forget the buffer of ``path``; its unit."""
        self.buffers.pop(path, None)
        return self.documents.pop(path, None)

    def open_units(self) -> list[Path]:
        """The units that have at least one open document."""
        return sorted({unit for unit in self.documents.values() if unit is not None})

    def forget_discovery(self) -> None:
        """Files were created or deleted: discover the open documents' units again."""
        self._units.clear()
        for path in self.documents:
            self.documents[path] = self._unit_for(path)

    # -- settings and units ------------------------------------------------------------------

    def settings_for(self, path: Path) -> Settings:
        """What ``qaihm-lint PATH`` would use ([tool.qaihm-lint], per-model-ignores), read
        afresh (a changed pyproject.toml applies at the next lint); no cache, one process, and
        the baseline the editor configured. Raises ConfigError or UsageError as the CLI does."""
        args = build_parser().parse_args([str(path)])
        return settings_from_args(args).with_overrides(
            use_cache=False, jobs=1, color=False, baseline=self.baseline
        )

    def _unit_for(self, path: Path) -> Path | None:
        existing = path if path.exists() else path.parent
        try:
            exclude = self.settings_for(existing).exclude
        except (ConfigError, UsageError, UnknownSelector):
            exclude = ()  # the lint says what is wrong with the configuration
        try:
            owning = owning_workspace(path, exclude)
        except WorkspaceError:
            return None
        if not owning.checked():
            return None
        unit = Unit(owning.checked()[0].path, owning)
        self._units.setdefault(unit.path, unit)
        return unit.path

    def unit(self, key: Path) -> Unit:
        if key not in self._units:
            self.forget_discovery()
        return self._units[key]

    # -- linting -----------------------------------------------------------------------------

    def lint(self, key: Path) -> dict[Path, list[Diagnostic]]:
        """The unit's findings on the current buffers, by file, as the CLI would show them."""
        unit = self.unit(key)
        settings = self.settings_for(key)
        self._share_buffers(unit.workspace)
        diagnostics = lint(unit.workspace.reopened(self.buffers), make_plan(settings)).diagnostics
        if settings.baseline is not None:
            diagnostics = baselines.filter_new(diagnostics, settings.baseline)
        self.findings[key] = diagnostics
        by_file: dict[Path, list[Diagnostic]] = defaultdict(list)
        for diagnostic in diagnostics:
            by_file[diagnostic.path].append(diagnostic)
        return dict(by_file)

    def _share_buffers(self, workspace: Workspace) -> None:
        """The package's index (warm, one per process) resolves through the buffers too: an
        unsaved edit of a shared base class is what a dependant folder inherits from."""
        for package in workspace.packages:
            INDEXES.get(package).buffers = self.buffers

    def findings_in(self, path: Path) -> list[Diagnostic]:
        unit = self.documents.get(path)
        if unit is None:
            return []
        return [d for d in self.findings.get(unit, []) if d.path == path]

    def affected(self, changed: Iterable[Path]) -> list[Path]:
        """The open units a change to ``changed`` files (saved, or seen by the editor's file
        watcher) must re-check: every one for the configuration or the baseline; otherwise
        as ``--changed-since`` maps a change (global_requirements.txt: all; a shared module:
        the folders whose classes depend on it; a folder's own file: that folder), and a
        model's requirements or YAML: the open folders of its package (cross-model rules)."""
        changed = [Path(os.path.realpath(path)) for path in changed]
        units = self.open_units()
        if not units:
            return []
        if any(p.name == CONFIG_NAME or p == self._baseline_path() for p in changed):
            return units
        try:
            workspace = discover(units)
        except WorkspaceError:
            return units
        self._share_buffers(workspace)
        narrowed = restrict_to_changed(workspace, changed)
        hit = {folder.path for folder in narrowed.checked()}
        # The cross-model rules read every model's requirements and YAML: such a file changed
        # in another folder re-checks the open folders of its package too.
        data = [p for p in changed if p.suffix != ".py"]
        for unit in units:
            package = self.unit(unit).folder.package
            if package is not None and any(package.models_dir in p.parents for p in data):
                hit.add(unit)
        return [unit for unit in units if unit in hit]

    def _baseline_path(self) -> Path | None:
        return None if self.baseline is None else Path(os.path.realpath(self.baseline))

    # -- edits -------------------------------------------------------------------------------

    def _old(self, path: Path) -> bytes | None:
        if path in self.buffers:
            return self.buffers[path]
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _changes(self, new: dict[Path, bytes], notes: list[str]) -> Changes:
        changed = {p: data for p, data in new.items() if self._old(p) != data}
        return Changes(changed, {p: self._old(p) for p in changed}, notes)

    def fix_one(self, diagnostic: Diagnostic) -> Changes:
        """The files as ``diagnostic``'s own fix leaves them (checked to parse, as --fix)."""
        key = self.documents.get(diagnostic.path)
        if key is None or diagnostic.fix is None:
            return Changes({}, {}, [])
        unsafe = diagnostic.fix.applicability is Applicability.UNSAFE
        settings = self.settings_for(key).with_overrides(fix=True, unsafe_fixes=unsafe)
        overlay = dict(self.buffers)
        folder = self.unit(key).workspace.reopened(self.buffers).checked()[0]
        notes: list[str] = []
        # The open documents are buffers: fixed in memory whatever their file on disk is.
        buffers = frozenset(self.buffers)
        apply_round([diagnostic], overlay, {folder.path: folder}, settings, notes, None, buffers)
        return self._changes({p: d for p, d in overlay.items() if d != self.buffers.get(p)}, notes)

    def fix_all(self, key: Path) -> Changes:
        """The unit's files after every safe fix, in rounds until nothing changes (--fix on
        the buffers; baselined findings are left as they are, as on the command line)."""
        settings = self.settings_for(key).with_overrides(fix=True, unsafe_fixes=False)
        eligible: Callable[[list[Diagnostic]], list[Diagnostic]] | None = None
        if settings.baseline is not None:
            accepted = settings.baseline

            def eligible(found: list[Diagnostic]) -> list[Diagnostic]:
                return baselines.filter_new(found, accepted)

        unit = self.unit(key)
        outcome = lint_with_fixes(unit.workspace, make_plan(settings), eligible, self.buffers)
        return self._changes(outcome.changed, outcome.skipped)

    def suppress(self, diagnostic: Diagnostic) -> Changes:
        """The file with ``diagnostic`` suppressed as ``--add-noqa`` writes it."""
        from qaihm_lint.add_noqa import add_suppressions

        added = add_suppressions([diagnostic], self.buffers)
        return self._changes(added.changed, added.left)
