"""RepoIndex: a declaration-level summary of every class a model folder can inherit from.

Placeholder interface; the resolver is being built (issue 3).
"""

from __future__ import annotations

from pathlib import Path


class RepoIndex:
    def __init__(self, package_root: Path | None) -> None:
        self.package_root = package_root

    @classmethod
    def build(cls, package_root: Path | None) -> RepoIndex:
        return cls(package_root)

    def fingerprint(self, model_folder: Path) -> str:
        """A digest of every file outside the folder that the folder's findings depend on."""
        return ""
