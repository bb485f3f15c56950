"""Runs the rules: one model folder at a time, in worker processes, cached by content.

Per folder: folder rules, then one ast walk per hand-written Python file feeding every Python
rule, then suppressions. Package rules (cross-model) run once in the parent afterwards. The fix
loop applies non-overlapping fixes and re-checks the folders it changed until nothing changes.
"""

from __future__ import annotations

import ast
import os
import sys
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaihm_lint import rule_selectors, suppressions
from qaihm_lint.cache import ResultCache, folder_key, package_inputs_digest, package_key
from qaihm_lint.config import Settings
from qaihm_lint.diagnostics import Applicability, Diagnostic, Fix, Location
from qaihm_lint.rules import CATALOGUE, all_rules
from qaihm_lint.rules.base import FolderRule, PackageRule, PythonRule, Rule
from qaihm_lint.rules.meta import InternalError, SyntaxErrorRule, UnusedNoqa
from qaihm_lint.sources import SourceError, SourceFile, recording_reads
from qaihm_lint.workspace import ModelFolder, Package, Workspace

if TYPE_CHECKING:
    from qaihm_lint.index import RepoIndex

MAX_FIX_ROUNDS = 10


@dataclass(frozen=True)
class Plan:
    """What to run: the enabled rules and the settings they read. Picklable."""

    settings: Settings
    enabled: frozenset[str]

    @cached_property
    def folder_rules(self) -> list[type[FolderRule]]:
        return [
            r for c, r in all_rules().items() if c in self.enabled and issubclass(r, FolderRule)
        ]

    @cached_property
    def python_rules(self) -> list[type[PythonRule]]:
        return [
            r for c, r in all_rules().items() if c in self.enabled and issubclass(r, PythonRule)
        ]

    @cached_property
    def package_rules(self) -> list[type[PackageRule]]:
        return [
            r for c, r in all_rules().items() if c in self.enabled and issubclass(r, PackageRule)
        ]

    @cached_property
    def package_codes(self) -> frozenset[str]:
        """Enabled codes of cross-model rules (known without importing any rule module)."""
        return frozenset(c for c in self.enabled if CATALOGUE[c].kind == "package")

    @property
    def needs_index(self) -> bool:
        return any(
            rule.needs_index
            for rule in (*self.folder_rules, *self.python_rules, *self.package_rules)
        )


class _Indexes:
    """One RepoIndex per package per process, built on first use."""

    def __init__(self) -> None:
        self._by_root: dict[Path | None, RepoIndex] = {}

    def get(self, package: Package | None) -> RepoIndex:
        root = package.root if package is not None else None
        if root not in self._by_root:
            from qaihm_lint.index import RepoIndex  # only when a rule needs it

            self._by_root[root] = RepoIndex.build(root)
        return self._by_root[root]


_INDEXES = _Indexes()


@dataclass
class ModelContext:
    folder: ModelFolder
    plan: Plan
    # Scratch space shared by the rules of one folder (e.g. the resolved model class).
    memo: dict[str, Any] = field(default_factory=dict)
    # Files outside the folder the findings depend on: the cache re-checks them before reuse.
    dependencies: set[Path] = field(default_factory=set)
    index_used: bool = False

    @property
    def settings(self) -> Settings:
        return self.plan.settings

    @property
    def index(self) -> RepoIndex:
        self.index_used = True
        return _INDEXES.get(self.folder.package)

    def depend_on(self, path: Path) -> None:
        """Record that a finding of this folder was computed from ``path`` (outside it)."""
        self.dependencies.add(path)

    def outside_files(self) -> list[Path]:
        found = set(self.dependencies)
        if self.index_used and self.folder.package is not None:
            found.update(Path(p) for p in self.index.dependencies(self.folder.path))
        own = self.folder.path
        return sorted(p for p in found if own not in p.parents)


@dataclass
class PackageContext:
    package: Package
    folders: list[ModelFolder]  # every model folder of the package
    checked: frozenset[str]  # model ids this run reports on
    plan: Plan

    @property
    def settings(self) -> Settings:
        return self.plan.settings


def _internal_error(
    rule: type[Rule], path: Path, model_id: str | None, exc: BaseException, verbose: bool
) -> Diagnostic:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    return Diagnostic(
        code=InternalError.code,
        rule=InternalError.slug,
        message=f"rule {rule.code} ({rule.slug}) failed on this file: "
        f"{type(exc).__name__}: {exc}{where}; please report this",
        severity=InternalError.severity,
        path=path,
        start=Location(1, 1),
        end=Location(1, 1),
        model_id=model_id,
        anchor=f"{rule.code}:{type(exc).__name__}",
    )


def _syntax_error(source: SourceFile, error: SourceError, model_id: str | None) -> Diagnostic:
    return Diagnostic(
        code=SyntaxErrorRule.code,
        rule=SyntaxErrorRule.slug,
        message=f"{source.path.name} {error}",
        severity=SyntaxErrorRule.severity,
        path=source.path,
        start=error.location,
        end=error.location,
        model_id=model_id,
        anchor=str(error),
    )


_HANDLER_NAMES: dict[type, tuple[dict[str, list[str]], dict[str, list[str]]]] = {}


def _handlers(rule_cls: type[PythonRule]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A rule class's visit_/leave_ method names by node type name (computed once per class)."""
    if rule_cls in _HANDLER_NAMES:
        return _HANDLER_NAMES[rule_cls]
    enter: dict[str, list[str]] = defaultdict(list)
    leave: dict[str, list[str]] = defaultdict(list)
    for name in dir(rule_cls):
        if name.startswith("visit_"):
            enter[name[6:]].append(name)
        elif name.startswith("leave_"):
            leave[name[6:]].append(name)
    _HANDLER_NAMES[rule_cls] = (dict(enter), dict(leave))
    return _HANDLER_NAMES[rule_cls]


_Handler = tuple[PythonRule, Callable[[ast.AST], None]]
_LEAVING = object()  # stack marker: the node below it is being left


def _walk_file(
    source: SourceFile, rules: list[PythonRule], ctx: ModelContext, out: list[Diagnostic]
) -> None:
    """One walk of the file's ast for every Python rule: enter and leave handlers by node type,
    with ``rule.ancestors`` kept up to date. A rule that raises is reported (QAI002) and
    dropped for the rest of the file; the others go on."""
    tree = source.tree
    ancestors: list[ast.AST] = []
    failed: set[int] = set()

    def fail(rule: PythonRule, exc: Exception) -> None:
        failed.add(id(rule))
        out.append(
            _internal_error(type(rule), source.path, ctx.folder.model_id, exc, ctx.settings.verbose)
        )

    enter: dict[str, list[_Handler]] = defaultdict(list)
    leave: dict[str, list[_Handler]] = defaultdict(list)
    for rule in rules:
        rule.source = source
        rule.ancestors = ancestors
        try:
            rule.begin_file()
        except Exception as exc:
            fail(rule, exc)
            continue
        rule_enter, rule_leave = _handlers(type(rule))
        for kind, names in rule_enter.items():
            enter[kind].extend((rule, getattr(rule, name)) for name in names)
        for kind, names in rule_leave.items():
            leave[kind].extend((rule, getattr(rule, name)) for name in names)

    def call(handlers: list[_Handler], node: ast.AST) -> None:
        for rule, method in handlers:
            if id(rule) in failed:
                continue
            try:
                method(node)
            except Exception as exc:  # a bug in one rule must not stop the others
                fail(rule, exc)

    # Iterative walk (deeply nested code that ast accepted must not overflow our stack), with
    # the children read straight from ``_fields``: this loop is the hot path of a cold run.
    stack: list[Any] = [tree]
    AST, pop, push = ast.AST, stack.pop, stack.append
    while stack:
        node = pop()
        if node is _LEAVING:
            node = ancestors.pop()
            handlers = leave.get(type(node).__name__)
            if handlers:
                call(handlers, node)
            continue
        handlers = enter.get(type(node).__name__)
        if handlers:
            call(handlers, node)
        ancestors.append(node)
        push(_LEAVING)
        children: list[ast.AST] = []
        for field_name in node._fields:
            value = getattr(node, field_name, None)
            if isinstance(value, AST):
                children.append(value)
            elif isinstance(value, list):
                children.extend(item for item in value if isinstance(item, AST))
        children.reverse()
        stack.extend(children)
    for rule in rules:
        if id(rule) not in failed:
            try:
                rule.end_file()
            except Exception as exc:
                fail(rule, exc)
        out.extend(rule.diagnostics)
        rule.diagnostics = []


@dataclass
class FolderResult:
    diagnostics: list[Diagnostic]
    # Files outside the folder that the diagnostics were computed from.
    dependencies: list[Path]
    # The folder's files that mention a package-rule code: the only ones the package pass
    # must read to judge unused noqa directives for those codes.
    package_noqa: list[Path] = field(default_factory=list)


def check_folder(folder: ModelFolder, plan: Plan) -> list[Diagnostic]:
    """Every enabled rule on one model folder, suppressions applied, sorted."""
    return check_folder_result(folder, plan).diagnostics


def check_folder_result(folder: ModelFolder, plan: Plan) -> FolderResult:
    with recording_reads() as reads:
        result = _check_folder(folder, plan)
    own = folder.path
    extra = {path for path in reads if own not in path.parents}
    result.dependencies = sorted({*result.dependencies, *extra})
    return result


def _check_folder(folder: ModelFolder, plan: Plan) -> FolderResult:
    ctx = ModelContext(folder, plan)
    raw: list[Diagnostic] = []
    model_id = folder.model_id

    for rule_cls in plan.folder_rules:
        if folder.layout not in rule_cls.layouts or folder.shared:
            continue
        rule = rule_cls(ctx)
        try:
            rule.check()
        except Exception as exc:
            raw.append(_internal_error(rule_cls, folder.path, model_id, exc, plan.settings.verbose))
        raw.extend(rule.diagnostics)

    python_rules = [
        r
        for r in plan.python_rules
        if folder.layout in r.layouts and (r.shared_code or not folder.shared)
    ]
    for source in folder.python_files():
        applicable = [r for r in python_rules if r.applies_to(source.path.name)]
        if not applicable and SyntaxErrorRule.code not in plan.enabled:
            continue
        try:
            source.tree  # noqa: B018 - parse now so a syntax error is reported once, here
        except SourceError as error:
            if SyntaxErrorRule.code in plan.enabled:
                raw.append(_syntax_error(source, error, model_id))
            continue
        applicable = [r for r in applicable if r.triggered_by(source.text)]
        if applicable:
            _walk_file(source, [rule_cls(ctx) for rule_cls in applicable], ctx, raw)

    try:
        dependencies = ctx.outside_files()
    except Exception as exc:  # an index failure must not lose the findings already made
        raw.append(
            _internal_error(InternalError, folder.path, model_id, exc, plan.settings.verbose)
        )
        dependencies = []
    kept = apply_suppressions(folder, raw, plan)
    needles = [code.encode() for code in plan.package_codes]
    package_noqa = []
    if needles:
        for source in folder.text_files():
            try:
                data = source.data.upper()
            except SourceError:
                continue
            if any(needle in data for needle in needles):
                package_noqa.append(source.path)
    return FolderResult(kept, dependencies, package_noqa)


def _internal_errors_wanted(plan: Plan) -> bool:
    return not rule_selectors.matches_any(plan.settings.ignore, InternalError.code)


def apply_suppressions(
    folder: ModelFolder,
    raw: Iterable[Diagnostic],
    plan: Plan,
    package_pass: bool = False,
    only: Iterable[Path] | None = None,
) -> list[Diagnostic]:
    """Drop suppressed and ignored findings; add QAI001 for directives that silenced nothing.

    A directive is judged in the pass that produces its code: the folder pass judges folder and
    Python rule codes (and codes that name no rule), the package pass judges package-rule codes
    (their findings only exist once every folder was read).
    """
    ignored = plan.settings.ignored_for_model(folder.model_id)
    kept = []
    by_path: dict[Path, suppressions.FileSuppressions] = {}
    raw = list(raw)
    if only is None:
        sources = {source.path: source for source in folder.text_files()}
    else:
        # The caller knows which files can matter (see FolderResult.package_noqa).
        sources = {}
        for path in {*only, *(d.path for d in raw)}:
            source = folder.file(path.name) if path.parent == folder.path else None
            if source is not None:
                sources[path] = source

    def suppressions_for(path: Path) -> suppressions.FileSuppressions | None:
        if path not in by_path:
            source = sources.get(path)
            if source is None:
                return None
            by_path[path] = suppressions.parse(source)
        return by_path[path]

    for diagnostic in raw:
        # A rule that crashed did not check anything: say so even under a narrow --select
        # (only an explicit --ignore QAI002 silences it).
        if diagnostic.code not in plan.enabled and not (
            diagnostic.code == InternalError.code and _internal_errors_wanted(plan)
        ):
            continue
        if rule_selectors.matches_any(ignored, diagnostic.code):
            continue
        found = suppressions_for(diagnostic.path)
        if found is not None and found.suppress(diagnostic):
            continue
        kept.append(diagnostic)

    if UnusedNoqa.code in plan.enabled and not rule_selectors.matches_any(ignored, UnusedNoqa.code):
        package_codes = plan.package_codes
        enabled = {
            c
            for c in plan.enabled
            if not rule_selectors.matches_any(ignored, c) and (c in package_codes) == package_pass
        }
        # Cheap byte test before tokenizing: the package pass only judges package-rule codes.
        needles = [code.encode() for code in enabled] if package_pass else [b"QAI"]
        for path, source in sources.items():
            try:
                data = source.data.upper()
            except SourceError:
                continue
            if not any(needle in data for needle in needles):
                continue
            found = suppressions_for(path)
            if found is not None:
                kept.extend(
                    suppressions.unused_directive_findings(
                        source, found, enabled, folder.model_id, judge_unknown=not package_pass
                    )
                )
    return sorted(kept, key=Diagnostic.sort_key)


# ---------------------------------------------------------------------------------------------
# Running many folders: cache, worker processes, package rules.


_WORKER_PLAN: Plan | None = None


def _init_worker(plan: Plan, parent: int | None = None) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan
    if parent is not None:
        import threading

        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot shut its pool down, and the workers would wait for
    work forever (siblings keep the task pipe open): leave when the parent is gone."""
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _check_chunk(folders: list[ModelFolder]) -> list[FolderResult]:
    assert _WORKER_PLAN is not None
    return [check_folder_result(folder, _WORKER_PLAN) for folder in folders]


def _chunks(items: Sequence[ModelFolder], jobs: int) -> list[list[ModelFolder]]:
    # A few chunks per worker balances uneven folders without paying per-folder IPC.
    count = max(1, min(len(items), jobs * 4))
    return [list(items[i::count]) for i in range(count)]


def effective_jobs(settings: Settings) -> int:
    return settings.jobs if settings.jobs > 0 else (os.cpu_count() or 1)


def _check_folders(folders: Sequence[ModelFolder], plan: Plan) -> dict[Path, FolderResult]:
    jobs = effective_jobs(plan.settings)
    # Below a handful of folders the start-up of workers costs more than it saves.
    if jobs <= 1 or len(folders) < 8:
        return {folder.path: check_folder_result(folder, plan) for folder in folders}
    # Imported here: a run answered from the cache never needs them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = _chunks(folders, jobs)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    results: dict[Path, FolderResult] = {}
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)),
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(plan, os.getpid() if os.name == "posix" else None),
    ) as pool:
        for chunk, chunk_results in zip(chunks, pool.map(_check_chunk, chunks), strict=False):
            for folder, result in zip(chunk, chunk_results, strict=False):
                results[folder.path] = result
    return results


@dataclass
class LintResult:
    diagnostics: list[Diagnostic]
    folders: list[ModelFolder]
    by_folder: dict[Path, FolderResult]
    cache_hits: int = 0


def _cache_for(workspace: Workspace, plan: Plan) -> ResultCache | None:
    if not plan.settings.use_cache:
        return None
    roots = [package.repo_root for package in workspace.packages]
    if not roots:
        return None
    return ResultCache(roots[0])


def _lint_folders(
    plan: Plan, folders: Sequence[ModelFolder], cache: ResultCache | None
) -> tuple[dict[Path, FolderResult], int]:
    """Per-folder results (from the cache where it is still valid), and the cache hits."""
    results: dict[Path, FolderResult] = {}
    keys: dict[Path, str] = {}
    misses: list[ModelFolder] = []
    package_inputs: dict[Path, str] = {}
    for folder in folders:
        if cache is None:
            misses.append(folder)
            continue
        shared = ""
        if folder.package is not None:
            root = folder.package.root
            if root not in package_inputs:
                package_inputs[root] = package_inputs_digest(
                    root, folder.overlay, folder.package.publishes_code_gen()
                )
            shared = package_inputs[root]
        keys[folder.path] = key = folder_key(folder, plan, shared)
        cached = cache.get_entry(folder.path, key)
        if cached is None:
            misses.append(folder)
        else:
            diagnostics, package_noqa = cached
            results[folder.path] = FolderResult(diagnostics, [], package_noqa)
    if misses:
        if plan.needs_index:
            # Build the index before forking so every worker inherits it instead of rebuilding.
            for folder in misses:
                _INDEXES.get(folder.package)
        fresh = _check_folders(misses, plan)
        for path, result in fresh.items():
            results[path] = result
            if cache is not None:
                cache.put(
                    path, keys[path], result.diagnostics, result.dependencies, result.package_noqa
                )
    return results, len(folders) - len(misses)


def lint(workspace: Workspace, plan: Plan) -> LintResult:
    # One cache object per run: it remembers the digests of outside files it has checked.
    cache = _cache_for(workspace, plan)
    by_folder, hits = _lint_folders(plan, workspace.checked(), cache)
    return _assemble(workspace, plan, by_folder, hits, cache)


def _assemble(
    workspace: Workspace,
    plan: Plan,
    by_folder: Mapping[Path, FolderResult],
    hits: int,
    cache: ResultCache | None,
) -> LintResult:
    checked = workspace.checked()
    diagnostics = [d for folder in checked for d in by_folder[folder.path].diagnostics]
    diagnostics.extend(_run_package_rules(workspace, plan, by_folder, cache))
    diagnostics.sort(key=Diagnostic.sort_key)
    return LintResult(diagnostics, checked, dict(by_folder), hits)


def _run_package_rules(
    workspace: Workspace,
    plan: Plan,
    by_folder_result: Mapping[Path, FolderResult],
    cache: ResultCache | None,
) -> list[Diagnostic]:
    if not plan.package_codes:
        return []
    out: list[Diagnostic] = []
    by_package: dict[Path, list[ModelFolder]] = defaultdict(list)
    for folder in workspace.folders:
        if folder.package is not None:
            by_package[folder.package.root].append(folder)
    for package in workspace.packages:
        checked = by_package.get(package.root)
        if not checked:
            continue
        raw = _package_findings(package, checked, plan, cache)
        by_folder: dict[str, list[Diagnostic]] = defaultdict(list)
        for diagnostic in raw:
            by_folder[diagnostic.model_id or ""].append(diagnostic)
        for folder in checked:
            found = by_folder.get(folder.model_id, [])
            noqa_files = by_folder_result[folder.path].package_noqa
            if found or noqa_files:
                out.extend(apply_package_suppressions(folder, found, plan, noqa_files))
        out.extend(by_folder.get("", []))
    return out


def _package_findings(
    package: Package, checked: list[ModelFolder], plan: Plan, cache: ResultCache | None
) -> list[Diagnostic]:
    """Every package rule's findings over all the package's folders (before suppressions),
    from the cache while none of the files the rules read has changed."""
    overlay = checked[0].overlay
    paths = package.model_folders()
    key = package_key(plan, package.root, paths)
    if cache is not None and not overlay:
        cached = cache.get(package.root, key)
        if cached is not None:
            return cached
    layout = checked[0].layout
    # Fresh folder objects, so that every file the rules look at is recorded below.
    all_folders = [ModelFolder(path, layout, package, overlay) for path in paths]
    ctx = PackageContext(package, all_folders, frozenset(f.model_id for f in all_folders), plan)
    raw: list[Diagnostic] = []
    with recording_reads() as reads:
        for rule_cls in plan.package_rules:
            rule = rule_cls(ctx)
            try:
                rule.check_package()
            except Exception as exc:
                raw.append(
                    _internal_error(rule_cls, package.root, None, exc, plan.settings.verbose)
                )
            raw.extend(rule.diagnostics)
    if cache is not None and not overlay:
        # With pending fixes (--diff) the findings describe files that are not on disk.
        cache.put(package.root, key, raw, sorted(reads))
    wanted = {folder.model_id for folder in checked}
    return [d for d in raw if d.model_id is None or d.model_id in wanted]


def apply_package_suppressions(
    folder: ModelFolder, raw: list[Diagnostic], plan: Plan, noqa_files: Iterable[Path]
) -> list[Diagnostic]:
    """Suppressions for package-rule findings, and QAI001 for package-rule codes."""
    return apply_suppressions(folder, raw, plan, package_pass=True, only=noqa_files)


# ---------------------------------------------------------------------------------------------
# The fix loop.


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
        import yaml

        try:
            yaml.safe_load(text)
        except yaml.YAMLError:
            return False
    return True


def _read_only(path: Path) -> bool:
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return not os.access(path.parent, os.W_OK)
    except OSError:
        return True
    return not mode & stat.S_IWUSR


def _apply_round(
    diagnostics: list[Diagnostic],
    overlay: dict[Path, bytes],
    folders: Mapping[Path, ModelFolder],
    settings: Settings,
    skipped: list[str],
) -> tuple[set[Path], int]:
    from qaihm_lint.fixers.edits import apply_edits, edit_spans, overlaps

    by_file: dict[Path, list[Diagnostic]] = defaultdict(list)
    for diagnostic in diagnostics:
        if _wanted(diagnostic.fix, settings):
            by_file[diagnostic.fix_path].append(diagnostic)
    changed_folders: set[Path] = set()
    applied = 0
    for path, candidates in sorted(by_file.items()):
        folder = next((f for f in folders.values() if path.parent == f.path), None)
        if folder is None:
            skipped.append(f"{path}: fix skipped: outside the model folders being checked")
            continue
        if path.is_symlink():
            # Writing would replace the link with a file (or write through it, maybe out of the
            # tree): a person decides.
            skipped.append(f"{path}: fix skipped: the file is a symbolic link")
            continue
        if not settings.diff and _read_only(path):
            skipped.append(f"{path}: fix skipped: the file is read-only")
            continue
        data = overlay.get(path)
        if data is None:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                data = b""
            except OSError as exc:
                skipped.append(f"{path}: fix skipped: {exc.strerror or exc}")
                continue
        source = SourceFile(path, data)
        try:
            text = source.text
        except SourceError as exc:
            skipped.append(f"{path}: fix skipped: the file {exc}")
            continue
        accepted: list[Fix] = []
        accepted_spans: list[list[tuple[int, int]]] = []
        seen: set[tuple[Any, ...]] = set()
        for diagnostic in sorted(candidates, key=Diagnostic.sort_key):
            assert diagnostic.fix is not None
            identity = tuple(diagnostic.fix.edits)
            if identity in seen:  # one fix reported for several findings (e.g. QAI001 codes)
                continue
            spans = edit_spans(source, diagnostic.fix)
            if any(overlaps(spans, other) for other in accepted_spans):
                continue  # the next round re-checks and picks it up if still needed
            trial = apply_edits(
                text, source, [e for fix in (*accepted, diagnostic.fix) for e in fix.edits]
            )
            if not _verify(path, trial):
                skipped.append(
                    f"{path}: fix for {diagnostic.code} skipped: the result would not parse"
                )
                continue
            accepted.append(diagnostic.fix)  # checked above
            accepted_spans.append(spans)
            seen.add(identity)
        if not accepted:
            continue
        new_text = apply_edits(
            text,
            source,
            [e for fix in accepted for e in fix.edits],
        )
        overlay[path] = (b"\xef\xbb\xbf" if source.has_bom else b"") + new_text.encode("utf-8")
        applied += len(accepted)
        changed_folders.add(folder.path)
    return changed_folders, applied


def lint_with_fixes(workspace: Workspace, plan: Plan) -> FixOutcome:
    """Lint, apply the wanted fixes in memory, re-check the changed folders; repeat until
    nothing changes. Nothing is written here: the caller writes ``changed`` (or diffs it)."""
    overlay: dict[Path, bytes] = {}
    for folder in workspace.checked():
        folder.overlay = overlay
    cache = _cache_for(workspace, plan)
    by_folder, hits = _lint_folders(plan, workspace.checked(), cache)
    result = _assemble(workspace, plan, by_folder, hits, cache)
    skipped: list[str] = []
    initial = result.diagnostics
    for _ in range(MAX_FIX_ROUNDS):
        by_path = {folder.path: folder for folder in workspace.checked()}
        changed_folders, _applied = _apply_round(
            result.diagnostics, overlay, by_path, plan.settings, skipped
        )
        if not changed_folders:
            break
        # Fresh folder objects: the old ones hold the pre-fix text in their file caches.
        workspace.folders = [
            f.reopened(overlay) if f.path in changed_folders else f for f in workspace.folders
        ]
        workspace.shared = [
            f.reopened(overlay) if f.path in changed_folders else f for f in workspace.shared
        ]
        fresh, _hits = _lint_folders(
            plan, [f for f in workspace.checked() if f.path in changed_folders], cache
        )
        result = _assemble(workspace, plan, {**result.by_folder, **fresh}, result.cache_hits, cache)
    originals: dict[Path, bytes | None] = {}
    for path in overlay:
        try:
            originals[path] = path.read_bytes()
        except OSError:
            originals[path] = None
    changed = {path: data for path, data in overlay.items() if originals[path] != data}
    fixed = findings_gone(initial, result.diagnostics) if changed else []
    return FixOutcome(result, changed, originals, skipped, fixed, initial)


def make_plan(settings: Settings) -> Plan:
    return Plan(settings, rule_selectors.resolve(settings.select, settings.ignore))


def iter_rules(plan: Plan) -> Iterator[type[Rule]]:
    rules = all_rules()
    for code in sorted(plan.enabled):
        yield rules[code]
