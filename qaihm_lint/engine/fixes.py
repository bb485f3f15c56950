"""The fix loop: apply the wanted, non-overlapping fixes in memory, re-check the folders they
changed, and repeat until nothing changes. Nothing is written here: the caller writes the
result (or shows it as a diff)."""

from __future__ import annotations

import ast
import os
import stat
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint.config import Settings
from qaihm_lint.diagnostics import Applicability, Diagnostic, Edit, Fix
from qaihm_lint.engine.run import LintResult, Run
from qaihm_lint.fixers.edits import apply_edits, edit_spans, overlaps
from qaihm_lint.plan import Plan
from qaihm_lint.sources import SourceError, SourceFile
from qaihm_lint.workspace import ModelFolder, Workspace

MAX_FIX_ROUNDS = 10


@dataclass
class FixOutcome:
    result: LintResult
    # New contents of every file the fixes changed (not yet written).
    changed: dict[Path, bytes]
    originals: dict[Path, bytes | None]
    skipped: list[str]
    # The findings of the first lint that the fixes made go away. Counted as findings, not as
    # edits: one edit often repairs several (a created code-gen.yaml answers every QAI302 of
    # its folder), and the summary promises findings.
    fixed: list[Diagnostic] = field(default_factory=list)
    initial: list[Diagnostic] = field(default_factory=list)  # the first lint's findings

    @property
    def fixed_count(self) -> int:
        return len(self.fixed)


def lint_with_fixes(
    workspace: Workspace,
    plan: Plan,
    eligible: Callable[[list[Diagnostic]], list[Diagnostic]] | None = None,
    buffers: Mapping[Path, bytes] | None = None,
) -> FixOutcome:
    """Lint, apply the wanted fixes in memory, re-check the changed folders; repeat until
    nothing changes. ``workspace`` itself is left untouched. ``eligible``: the findings of a
    round whose fixes may be applied (default: all). ``buffers``: text that stands in for
    files (stdin, an editor's unsaved buffers): the fixes start from it, changes are measured
    against it, and nothing here writes it."""
    overlay: dict[Path, bytes] = dict(buffers or {})
    # What each fixed file held when its first fix was computed: it is written only if it
    # still holds that (cli.py), so an edit made during the run is never lost.
    bases: dict[Path, bytes | None] = dict(overlay)
    current = workspace.reopened(overlay)
    run = Run(current, plan)
    result = run.assemble(run.check(current.checked()))
    initial = result.diagnostics
    skipped: list[str] = []
    for _ in range(MAX_FIX_ROUNDS):
        by_path = {folder.path: folder for folder in current.checked()}
        candidates = result.diagnostics if eligible is None else eligible(result.diagnostics)
        changed_folders, _ = apply_round(
            candidates, overlay, by_path, plan.settings, skipped, bases, frozenset(buffers or ())
        )
        if not changed_folders:
            break
        # Fresh folder objects: the old ones hold the pre-fix text in their file caches.
        current = current.reopened(overlay, only=changed_folders)
        fresh = run.check([f for f in current.checked() if f.path in changed_folders])
        result = run.assemble({**result.by_folder, **fresh}, current)
    originals = {path: bases.get(path) for path in overlay}
    changed = {path: data for path, data in overlay.items() if originals[path] != data}
    fixed = findings_gone(initial, result.diagnostics) if changed else []
    return FixOutcome(result, changed, originals, skipped, fixed, initial)


def findings_gone(before: Iterable[Diagnostic], after: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The findings of ``before`` missing from ``after``, matched by code, file and message
    (not by line: a fix above a finding moves it without changing it)."""

    def key(diagnostic: Diagnostic) -> tuple[str, Path, str]:
        return (diagnostic.code, diagnostic.path, diagnostic.message)

    left = Counter(key(d) for d in after)
    gone = []
    for diagnostic in before:
        if left[key(diagnostic)] > 0:
            left[key(diagnostic)] -= 1
        else:
            gone.append(diagnostic)
    return gone


def _wanted(fix: Fix | None, settings: Settings) -> bool:
    if fix is None:
        return False
    return fix.applicability is Applicability.SAFE or settings.unsafe_fixes


def _verify(path: Path, text: str) -> bool:
    """A fixed file is only kept when it still parses."""
    if path.suffix == ".py":
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            return False
    elif path.suffix in (".yaml", ".yml"):
        import yaml  # only to verify a YAML fix: a run answered from the cache never needs it

        try:
            yaml.safe_load(text)
        except yaml.YAMLError:
            return False
    return True


def _read_only(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return not os.access(path.parent, os.W_OK)
    except OSError:
        return True
    return not mode & stat.S_IWUSR


def apply_round(
    diagnostics: list[Diagnostic],
    overlay: dict[Path, bytes],
    folders: Mapping[Path, ModelFolder],
    settings: Settings,
    skipped: list[str],
    bases: dict[Path, bytes | None] | None = None,
    buffers: Collection[Path] = (),
) -> tuple[set[Path], int]:
    """Apply this round's fixes to ``overlay``: the folders whose files changed, and how many
    fixes were applied. ``buffers``: files whose text is not the disk's (nothing writes them,
    so a link or a read-only file on disk does not stop their fixes)."""
    by_file: dict[Path, list[Diagnostic]] = defaultdict(list)
    for diagnostic in diagnostics:
        if _wanted(diagnostic.fix, settings):
            by_file[diagnostic.fix_path].append(diagnostic)
    changed_folders: set[Path] = set()
    applied = 0
    for path, candidates in sorted(by_file.items()):
        folder = folders.get(path.parent)
        if folder is None or not folder.contains(path.parent):
            skipped.append(f"{path}: fix skipped: outside the model folders being checked")
            continue
        source = _fixable_source(path, overlay, settings, skipped, folder, path in buffers)
        if source is None:
            continue
        fixes = _accepted_fixes(path, source, candidates, skipped)
        if not fixes:
            continue
        new_text = apply_edits(source.text, source, [e for fix in fixes for e in fix.edits])
        try:
            # In the file's own encoding (a PEP 263 coding line may declare latin-1).
            encoded = new_text.encode(source.encoding)
        except UnicodeEncodeError:
            skipped.append(
                f"{path}: fix skipped: the result cannot be written as {source.encoding}"
            )
            continue
        if bases is not None and path not in overlay:
            bases[path] = source.data if path.exists() else None
        overlay[path] = (b"\xef\xbb\xbf" if source.has_bom else b"") + encoded
        applied += len(fixes)
        changed_folders.add(folder.path)
    return changed_folders, applied


def _fixable_source(
    path: Path,
    overlay: Mapping[Path, bytes],
    settings: Settings,
    skipped: list[str],
    folder: ModelFolder | None = None,
    is_buffer: bool = False,
) -> SourceFile | None:
    """The file's current text (pending fixes included), or None with the reason in skipped."""
    if is_buffer:
        return _decoded(SourceFile(path, overlay[path]), skipped)
    if path.is_symlink():
        # Writing would replace the link with a file (or write through it, maybe out of the
        # tree): a person decides.
        skipped.append(f"{path}: fix skipped: the file is a symbolic link")
        return None
    if not settings.diff and _read_only(path):
        skipped.append(f"{path}: fix skipped: the file is read-only")
        return None
    data = overlay.get(path)
    if data is None and folder is not None:
        # The bytes the findings were computed from, when this process read them.
        linted = folder.file(path.name)
        if linted is not None and "data" in vars(linted):
            data = linted.data
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            skipped.append(f"{path}: fix skipped: {exc.strerror or exc}")
            return None
    return _decoded(SourceFile(path, data), skipped)


def _decoded(source: SourceFile, skipped: list[str]) -> SourceFile | None:
    try:
        source.text  # noqa: B018 - decoding errors are reported here, once
    except SourceError as exc:
        skipped.append(f"{source.path}: fix skipped: the file {exc}")
        return None
    return source


def _accepted_fixes(
    path: Path, source: SourceFile, candidates: list[Diagnostic], skipped: list[str]
) -> list[Fix]:
    """The candidates' fixes that do not overlap an earlier one and leave a file that parses,
    in finding order; the next round picks up what is still needed."""
    accepted: list[Fix] = []
    accepted_spans: list[list[tuple[int, int]]] = []
    seen: set[tuple[Edit, ...]] = set()
    for diagnostic in sorted(candidates, key=Diagnostic.sort_key):
        fix = diagnostic.fix
        assert fix is not None
        identity = tuple(fix.edits)
        if identity in seen:  # one fix reported for several findings (e.g. QAI001 codes)
            continue
        spans = edit_spans(source, fix)
        if any(overlaps(spans, other) for other in accepted_spans):
            continue
        trial = [e for other in (*accepted, fix) for e in other.edits]
        if not _verify(path, apply_edits(source.text, source, trial)):
            skipped.append(f"{path}: fix for {diagnostic.code} skipped: the result would not parse")
            continue
        accepted.append(fix)
        accepted_spans.append(spans)
        seen.add(identity)
    return accepted
