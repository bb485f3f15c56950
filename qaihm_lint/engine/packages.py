"""The package pass: cross-model rules, run once per package in the parent after every folder
was checked, with their suppressions (and QAI001 for their codes)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from qaihm_lint.cache import ResultCache, package_key
from qaihm_lint.context import PackageContext
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine.folder import FolderResult, internal_error
from qaihm_lint.engine.suppress import apply_suppressions
from qaihm_lint.plan import Plan
from qaihm_lint.sources import recording_reads
from qaihm_lint.workspace import ModelFolder, Package, Workspace


def run_package_rules(
    workspace: Workspace,
    plan: Plan,
    by_folder: Mapping[Path, FolderResult],
    cache: ResultCache | None,
) -> list[Diagnostic]:
    if not plan.package_codes:
        return []
    out: list[Diagnostic] = []
    checked_by_package: dict[Path, list[ModelFolder]] = defaultdict(list)
    for folder in workspace.folders:
        if folder.package is not None:
            checked_by_package[folder.package.root].append(folder)
    for package in workspace.packages:
        checked = checked_by_package.get(package.root)
        if not checked:
            continue
        found_by_model: dict[str, list[Diagnostic]] = defaultdict(list)
        for diagnostic in _package_findings(package, checked, plan, cache):
            found_by_model[diagnostic.model_id or ""].append(diagnostic)
        for folder in checked:
            found = found_by_model.get(folder.model_id, [])
            noqa_files = by_folder[folder.path].package_noqa
            if found or noqa_files:
                out.extend(
                    apply_suppressions(folder, found, plan, package_pass=True, only=noqa_files)
                )
        out.extend(found_by_model.get("", []))
    return out


def _package_findings(
    package: Package, checked: list[ModelFolder], plan: Plan, cache: ResultCache | None
) -> list[Diagnostic]:
    """Every package rule's findings over all the package's folders (before suppressions),
    from the cache while none of the files the rules read has changed."""
    overlay = checked[0].overlay
    paths = package.model_folders()
    key = package_key(plan, package.root, paths)
    # With pending fixes (--diff) the findings describe files that are not on disk: not cached
    # on disk, only in this process (the language server re-lints one folder per edit).
    cache = cache if not overlay else None
    if cache is not None:
        cached = cache.get(package.root, key)
        if cached is not None:
            return cached
    remembered = _MEMORY.get(package.root) if overlay else None
    if remembered is not None and remembered[0] == key:
        _, stamps, found = remembered
        if all(_stamp(path, overlay) == stamp for path, stamp in stamps.items()):
            return _checked_only(found, checked)
    layout = checked[0].layout
    # Fresh folder objects, so that every file the rules look at is recorded below.
    all_folders = [ModelFolder(path, layout, package, overlay) for path in paths]
    ctx = PackageContext(
        package, all_folders, frozenset(f.model_id for f in all_folders), plan.settings
    )
    raw: list[Diagnostic] = []
    with recording_reads() as reads:
        for rule_cls in plan.package_rules:
            rule = rule_cls(ctx)
            try:
                rule.check_package()
            except Exception as exc:
                raw.append(internal_error(rule_cls, package.root, None, exc, plan.settings.verbose))
            raw.extend(rule.diagnostics)
    if cache is not None:
        cache.put(package.root, key, raw, sorted(reads))
    if overlay:
        _MEMORY[package.root] = (key, {path: _stamp(path, overlay) for path in reads}, raw)
    return _checked_only(raw, checked)


def _checked_only(found: list[Diagnostic], checked: list[ModelFolder]) -> list[Diagnostic]:
    wanted = {folder.model_id for folder in checked}
    return [d for d in found if d.model_id is None or d.model_id in wanted]


# The last package pass over pending contents, per package: its key, what each file it read
# looked like, and its findings (before suppressions). One entry per package, replaced.
_MEMORY: dict[Path, tuple[str, dict[Path, bytes | None], list[Diagnostic]]] = {}


def _stamp(path: Path, overlay: Mapping[Path, bytes]) -> bytes | None:
    """The digest of the file's pending or saved content (None: absent or not a file). By
    content, as the disk cache keys it: a rewrite within one timestamp tick still counts."""
    data = overlay.get(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
    return hashlib.blake2b(data, digest_size=16).digest()
