"""What a rule sees while it checks: its folder (or package), the settings, and the index.

This sits below the engine and the rules alike, so that rules never import the engine that
runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaihm_lint.config import Settings
from qaihm_lint.workspace import ModelFolder, Package

if TYPE_CHECKING:
    from qaihm_lint.index import FolderView, RepoIndex


class _Indexes:
    """One RepoIndex per package per process, built on first use (and before forking, by the
    engine, so that workers inherit it instead of rebuilding it)."""

    def __init__(self) -> None:
        self._by_root: dict[Path | None, RepoIndex] = {}

    def get(self, package: Package | None) -> RepoIndex:
        root = package.root if package is not None else None
        if root not in self._by_root:
            # Imported on first use: a run answered from the cache never resolves a class.
            from qaihm_lint.index import RepoIndex

            self._by_root[root] = RepoIndex.build(root)
        return self._by_root[root]


INDEXES = _Indexes()


@dataclass
class ModelContext:
    folder: ModelFolder
    settings: Settings
    # Scratch space shared by the rules of one folder (e.g. the resolved model class).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> RepoIndex:
        return INDEXES.get(self.folder.package)

    @cached_property
    def view(self) -> FolderView:
        """The index as this folder sees it, shared by the folder's rules."""
        return self.index.view(self.folder)


@dataclass
class PackageContext:
    package: Package
    folders: list[ModelFolder]  # every model folder of the package
    checked: frozenset[str]  # model ids this run reports on
    settings: Settings
