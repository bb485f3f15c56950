"""The deep-mode result cache: stage results keyed by everything that can change them.

Entries are authenticated: each carries an HMAC of its key and value under a per-user secret
kept outside any tree (``secret_key``), and an entry whose MAC does not match is a miss. The
cache itself lives outside the checked tree (``options.cache_dir_for``), where workers cannot
write (the sandbox hides it), so a verdict can come only from a run of this user.

A key covers the model folder's files, the package files a model can import (a conservative
superset: every file under the package's shared libraries), the requirements, the versions of
torch/onnx/onnxruntime (of the worker interpreter) and qai-hub, the worker's own source, and the
options that change a verdict (stages, timeout, memory limit, targets). Unchanged key, unchanged
verdict: a re-run on an unchanged tree runs and submits nothing.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qaihm_lint.cache import write_cache_file
from qaihm_lint.index.parse import resolve_relative
from qaihm_lint.workspace import PACKAGE_NAME

# 2: stage records became typed (records.py): entries of version 1 are misses.
# 3: entries carry an HMAC (``mac``) and their value under ``value``.
CACHE_VERSION = 3
KEY_VARIABLE = "QAIHM_LINT_CACHE_KEY"  # a file holding the secret, instead of the default
MAX_ENTRY = 4 * 1024 * 1024  # bytes: a verdict is a few KiB; anything larger is not ours

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
    """Every file of the package a model can import: all of it but the other model folders
    (``evaluators/``, ``datasets/`` and whatever else a model imports at top level included)."""
    files: list[Path] = []
    try:
        tops = sorted(os.listdir(package_root))
    except OSError:
        tops = []
    for name in tops:
        directory = package_root / name
        if name != "models" and name not in SKIP_DIRS and directory.is_dir():
            files.extend(_walk(directory))
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
        if shared.startswith("models/") and directory.is_dir():
            files.extend(_walk(directory))
    return hash_files(files, package_root)


def make_key(parts: Mapping[str, Any]) -> str:
    text = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def default_key_path() -> Path:
    configured = os.environ.get(KEY_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "qaihm-lint" / "deep-cache.key"


def secret_key(path: Path | None = None) -> bytes | None:
    """The per-user secret the cache's MACs are keyed with, made on first use (readable by
    the user only); None when it can be neither read nor made (then nothing is cached)."""
    path = path or default_key_path()
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)  # another run made it meanwhile
    except OSError:
        return None
    with os.fdopen(fd, "wb") as stream:
        stream.write(os.urandom(32).hex().encode())
    return _read_key(path)


def _read_key(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if len(data) >= 32 else None


def _mac(secret: bytes, key: str, text: str) -> str:
    return hmac.new(secret, key.encode() + b"\0" + text.encode(), hashlib.sha256).hexdigest()


class DeepCache:
    """JSON files under ``directory``, one per key, each authenticated with an HMAC under
    ``secret`` (the user's, by default); ``directory=None`` caches nothing."""

    def __init__(self, directory: Path | None, secret: bytes | None = None) -> None:
        self.directory = directory
        self.secret = secret if secret is not None or directory is None else secret_key()

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The value stored under ``key``; None for a miss, and for anything that is not an
        entry this user's runs wrote (a forged or edited one, a FIFO, a huge or nested file)."""
        path = self._path(key)
        if path is None or self.secret is None:
            return None
        from qaihm_lint.cache import read_small_file

        text = read_small_file(path, MAX_ENTRY)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("mac"), str):
            return None
        value = data.get("value")
        if not isinstance(value, dict):
            return None
        expected = _mac(self.secret, key, json.dumps(value, sort_keys=True))
        return value if hmac.compare_digest(expected, data["mac"]) else None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        path = self._path(key)
        if path is None or self.secret is None:
            return
        text = json.dumps(value, sort_keys=True)
        entry = {"mac": _mac(self.secret, key, text), "value": json.loads(text)}
        write_cache_file(path, json.dumps(entry, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# Other model folders a folder imports (yolox imports yolov3): their code is the model's code.


def _module_of(path: Path, models_dir: Path) -> tuple[str, bool]:
    relative = path.relative_to(models_dir).with_suffix("")
    parts = [PACKAGE_NAME, "models", *relative.parts]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _imported_names(path: Path, models_dir: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return
    module, is_package = _module_of(path, models_dir)
    # Imports anywhere (inside functions too): any of them may run during the stages.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(module, is_package, node.level, node.module)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imported_model_folders(folder: Path) -> list[str]:
    """The other model folders of the package that ``folder``'s code imports, transitively."""
    models_dir = folder.parent
    found: set[str] = set()
    queue = [folder.name]
    seen = {folder.name}
    while queue:
        current = models_dir / queue.pop()
        for path in _walk(current):
            if path.suffix != ".py":
                continue
            for name in _imported_names(path, models_dir):
                parts = name.split(".")
                if len(parts) < 3 or parts[:2] != [PACKAGE_NAME, "models"]:
                    continue
                other = parts[2]
                if other in seen or other.startswith("_") or not (models_dir / other).is_dir():
                    continue  # itself, _shared (hashed with the package), or a loose module
                seen.add(other)
                found.add(other)
                queue.append(other)
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# The interpreter probe, remembered on disk until the interpreter's environment changes.


def interpreter_stamp(python: str) -> str | None:
    """What changes when the interpreter or its installed packages change, without running it:
    the executable, and the modification times of its site-packages folders (installing or
    removing a distribution adds or removes a .dist-info folder there)."""
    found = shutil.which(python) or python
    executable = Path(found)
    try:
        stat = executable.stat()
    except OSError:
        return None
    prefix = executable.parent.parent
    parts = [str(executable.absolute()), str(executable.resolve()), stat.st_size, stat.st_mtime_ns]
    patterns = ("lib/python3*/site-packages", "lib/python3*/dist-packages", "Lib/site-packages")
    folders = sorted({path for pattern in patterns for path in prefix.glob(pattern)})
    if not folders:
        return None  # an unusual layout: probe every time rather than trust a partial stamp
    for site in folders:
        try:
            parts += [str(site), site.stat().st_mtime_ns]
        except OSError:
            return None
    return make_key({"interpreter": parts})


def load_probe(cache_dir: Path | None, stamp: str | None) -> dict[str, str] | None:
    if cache_dir is None or stamp is None:
        return None
    entry = DeepCache(cache_dir / "probes").get(stamp)
    versions = entry.get("versions") if entry else None
    return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else None


def store_probe(cache_dir: Path | None, stamp: str | None, versions: Mapping[str, str]) -> None:
    if cache_dir is not None and stamp is not None:
        DeepCache(cache_dir / "probes").put(stamp, {"versions": dict(versions)})


# ---------------------------------------------------------------------------------------------
# What each model cost when it last ran, for --shard.


def record_cost(
    cache_dir: Path | None, model_id: str, seconds: float, overwrite: bool = True
) -> None:
    """One small file per model, so the cost folders of several shards merge by copying.

    ``overwrite=False`` (sharded runs) keeps a recorded cost: shards that run one after the
    other must see the costs the first of them saw (shard.py).
    """
    if cache_dir is None:
        return
    path = cache_dir / "costs" / f"{model_id}.json"
    if not overwrite and path.exists():
        return
    write_cache_file(path, json.dumps({"seconds": round(seconds, 3)}))


def recorded_costs(cache_dir: Path | None) -> dict[str, float]:
    if cache_dir is None:
        return {}
    costs: dict[str, float] = {}
    try:
        paths = sorted((cache_dir / "costs").glob("*.json"))
    except OSError:
        return {}
    for path in paths:
        try:
            seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(seconds, (int, float)) and seconds >= 0:
            costs[path.stem] = float(seconds)
    return costs


# ---------------------------------------------------------------------------------------------
# A built environment, as it was when it was built (envbuild.py records it in ready.json).


def environment_fingerprint(venv: Path) -> str:
    """What must not change between a build and its reuse: every file directly in
    site-packages (``.pth`` files run at start-up), each installed distribution's RECORD and
    the names of the top-level folders, ``bin/`` and ``pyvenv.cfg``. A file dropped into the
    environment by anything but an install (a model, before the sandbox) changes it."""
    files: list[Path] = [venv / "pyvenv.cfg"]
    names: list[str] = []
    for site in sorted(venv.glob("lib/python*/site-packages")):
        try:
            entries = sorted(os.scandir(site), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            names.append(entry.name)
            if entry.is_file(follow_symlinks=False):
                files.append(Path(entry.path))
            elif entry.name.endswith(".dist-info"):
                files.append(Path(entry.path) / "RECORD")
    bin_dir = venv / "bin"
    with contextlib.suppress(OSError):
        names += sorted(f"bin/{name}" for name in os.listdir(bin_dir))
        files += sorted(p for p in bin_dir.iterdir() if p.is_file() and not p.is_symlink())
    digest = hashlib.sha256("\n".join(names).encode())
    digest.update(hash_files(files, venv).encode())
    return digest.hexdigest()
