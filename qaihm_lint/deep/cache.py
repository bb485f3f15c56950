"""The deep-mode result cache: stage results keyed by everything that can change them.

A key covers the model folder's files, the package files a model can import (a conservative
superset: every file under the package's shared libraries), the requirements, the versions of
torch/onnx/onnxruntime (of the worker interpreter) and qai-hub, the worker's own source, and the
options that change a verdict (stages, timeout, memory limit, targets). Unchanged key, unchanged
verdict: a re-run on an unchanged tree runs and submits nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

CACHE_VERSION = 1

# Folders of the package whose code any model may import (utils and the shared model code of
# both layouts), plus the loose files at the package and models/ level.
SHARED_DIRS = ("utils", "models/_shared", "models/templates", "models/common", "configs", "extern")
SKIP_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a stable order, skipping caches and hidden folders."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            name for name in dirnames if name not in SKIP_DIRS and not name.startswith(".")
        )
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(directory) / name


def hash_files(paths: Iterable[Path], relative_to: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        try:
            name = path.relative_to(relative_to).as_posix()
        except ValueError:
            name = path.as_posix()
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def folder_hash(folder: Path) -> str:
    return hash_files(_walk(folder), folder)


def package_hash(package_root: Path) -> str:
    files: list[Path] = []
    for loose in (package_root, package_root / "models"):
        try:
            names = sorted(os.listdir(loose))
        except OSError:
            continue
        files.extend(
            loose / name
            for name in names
            if (name.endswith((".py", ".txt", ".yaml", ".yml", ".toml")))
            and (loose / name).is_file()
        )
    for shared in SHARED_DIRS:
        directory = package_root / shared
        if directory.is_dir():
            files.extend(_walk(directory))
    return hash_files(files, package_root)


def make_key(parts: Mapping[str, Any]) -> str:
    text = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class DeepCache:
    """JSON files under ``directory``, one per key; ``directory=None`` caches nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Atomic, so a parallel run or a kill never leaves half a record behind.
            handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(value, stream, sort_keys=True)
            os.replace(temp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time
