"""A lint run: each checked folder's findings (from the cache while still valid, else
computed), then the package pass, sorted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.cache import ResultCache, folder_key
from qaihm_lint.context import INDEXES
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.engine.folder import FolderResult
from qaihm_lint.engine.packages import run_package_rules
from qaihm_lint.plan import Plan
from qaihm_lint.workspace import ModelFolder, Workspace


@dataclass
class LintResult:
    diagnostics: list[Diagnostic]
    by_folder: dict[Path, FolderResult]


def lint(workspace: Workspace, plan: Plan) -> LintResult:
    run = Run(workspace, plan)
    return run.assemble(run.check(workspace.checked()))


class Run:
    """One run over a workspace: one cache object (it remembers the digests of the outside
    files it has checked), reused by every round of the fix loop."""

    def __init__(self, workspace: Workspace, plan: Plan) -> None:
        self.workspace = workspace
        self.plan = plan
        roots = [package.repo_root for package in workspace.packages]
        self.cache = ResultCache(roots[0]) if plan.settings.use_cache and roots else None

    def check(self, folders: Sequence[ModelFolder]) -> dict[Path, FolderResult]:
        """Per-folder results, from the cache where it is still valid."""
        results: dict[Path, FolderResult] = {}
        keys: dict[Path, str] = {}
        misses: list[ModelFolder] = []
        for folder in folders:
            if self.cache is None:
                misses.append(folder)
                continue
            keys[folder.path] = key = folder_key(folder, self.plan)
            cached = self.cache.get_entry(folder.path, key)
            if cached is None:
                misses.append(folder)
            else:
                diagnostics, package_noqa = cached
                results[folder.path] = FolderResult(diagnostics, [], package_noqa)
        if misses:
            results.update(self._check_misses(misses, keys))
        return results

    def _check_misses(
        self, misses: list[ModelFolder], keys: Mapping[Path, str]
    ) -> dict[Path, FolderResult]:
        # Imported only on a miss: process pools cost a tenth of a fully cached run to import.
        from qaihm_lint.engine.pool import check_folders

        if self.plan.needs_index:
            # Build the index before forking so every worker inherits it instead of rebuilding.
            for folder in misses:
                INDEXES.get(folder.package)
        fresh = check_folders(misses, self.plan)
        if self.cache is not None:
            for path, result in fresh.items():
                self.cache.put(
                    path, keys[path], result.diagnostics, result.dependencies, result.package_noqa
                )
        return fresh

    def assemble(
        self, by_folder: Mapping[Path, FolderResult], workspace: Workspace | None = None
    ) -> LintResult:
        """Every checked folder's findings plus the package pass's, sorted."""
        workspace = workspace or self.workspace
        checked = workspace.checked()
        diagnostics = [d for folder in checked for d in by_folder[folder.path].diagnostics]
        diagnostics.extend(run_package_rules(workspace, self.plan, by_folder, self.cache))
        diagnostics.sort(key=Diagnostic.sort_key)
        return LintResult(diagnostics, dict(by_folder))
