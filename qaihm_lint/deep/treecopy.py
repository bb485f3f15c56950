"""The run's private copy of the checked tree, which the workers import instead of it.

Models may write into their own folder of the copy (upstream clones external repositories
there, on import); the checked tree and the cache key, computed from it, stay as they were
read. What one worker must not do is change the code another model runs: Landlock stops it
where the kernel has it, and the parent checks the copy against the checked tree around every
worker anyway (``check``): code changed before a model runs is restored first, and a verdict
given while the code it imports changed under it is not cached.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

# Files the copy leaves out: caches, bytecode, history.
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".qaihm_lint_cache")
# What upstream's own code writes into the tree at run time (clones of external repositories):
# not the model's code, so not compared.
WRITTEN_AT_RUN_TIME = frozenset({"external_repos", "__pycache__", ".git"})
# The package's shared code below models/ (everything outside models/ is shared code too).
SHARED_MODEL_DIRS = ("_shared", "templates", "common")


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in _files(folder):
        try:
            data = path.read_bytes() if not path.is_symlink() else os.readlink(path).encode()
        except OSError:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    for directory, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in WRITTEN_AT_RUN_TIME)
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(directory) / name


class TreeCopy:
    """A private copy of a package's tree, made once per run. It keeps the checked tree's
    layout under ``root`` (``root/<package name>/...``), so every path a worker reports is the
    same relative to either."""

    def __init__(self, repo_root: Path, package_root: Path, destination: Path) -> None:
        self.source = repo_root
        self.root = destination
        destination.mkdir(parents=True, exist_ok=True)
        # The loose files beside the package (pyproject.toml: the install hint reads it).
        for entry in repo_root.iterdir():
            if entry.is_file() and not entry.is_symlink():
                shutil.copy2(entry, destination / entry.name)
        self.relative = package_root.relative_to(repo_root)
        self.original = package_root
        shutil.copytree(
            package_root, destination / self.relative, symlinks=True, ignore=_COPY_IGNORE
        )
        self.package = destination / self.relative
        self._expected: dict[Path, str] = {}

    def code_of(self, model_id: str, imports: Iterable[str]) -> list[Path]:
        """The folders (relative to the package) whose code ``model_id``'s worker runs: its own,
        the model folders it imports, and the package's shared code."""
        folders = [Path("models") / model_id, *(Path("models") / name for name in imports)]
        for entry in sorted(self.original.iterdir()):
            if entry.is_dir() and entry.name != "models" and entry.name not in WRITTEN_AT_RUN_TIME:
                folders.append(Path(entry.name))
        folders += [Path("models") / name for name in SHARED_MODEL_DIRS]
        return [f for f in folders if (self.original / f).is_dir()]

    def check(self, folders: Iterable[Path], restore: bool = True) -> list[Path]:
        """The ``folders`` whose copy no longer matches the checked tree; each is copied again
        when ``restore``."""
        changed = []
        for folder in folders:
            if folder not in self._expected:
                self._expected[folder] = _digest(self.original / folder)
            if _digest(self.package / folder) != self._expected[folder]:
                changed.append(folder)
                if restore:
                    self._restore(folder)
        return changed

    def _restore(self, folder: Path) -> None:
        target = self.package / folder
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.original / folder, target, symlinks=True, ignore=_COPY_IGNORE)
