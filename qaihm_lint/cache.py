"""The result cache: a folder's findings, reused while nothing they depend on has changed.

One JSON file per model folder under ``<repo>/.qaihm_lint_cache/``. The key covers the linter's
version, the enabled rules and settings, and every file of the folder (by content); the entry
lists each file outside the folder that the check looked at (inherited classes, global
requirements, the code-gen schema: whatever the run's read log noted) with its digest, and is
reused only while they all still match. A corrupt, truncated or concurrently written entry is
a miss, never an error: it is rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qaihm_lint import __version__
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.plan import Plan
from qaihm_lint.workspace import GENERATED_NAMES, ModelFolder

CACHE_DIR = ".qaihm_lint_cache"
_FORMAT = "1"
# Files whose content rules read; anything else in a folder (assets, images) is keyed by stat.
_HASHED_SUFFIXES = (".py", ".txt", ".yaml", ".yml", ".diff", ".patch", ".toml", ".cfg", ".in")


def _settings_fingerprint(plan: Plan) -> str:
    settings = plan.settings
    parts = [
        __version__,
        _FORMAT,
        ",".join(sorted(plan.enabled)),
        repr(sorted(settings.per_model_ignores.items())),
        ",".join(settings.known_pip_installable),
    ]
    return "\0".join(parts)


def folder_key(folder: ModelFolder, plan: Plan) -> str:
    """What the folder's findings depend on inside it, and the settings. The files outside it
    that a check looked at are recorded per entry instead (the run's read log, see
    ``ResultCache.put``): this key needs to know nothing of which rule reads what."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(_settings_fingerprint(plan).encode())
    digest.update(folder.layout.value.encode())
    if folder.package is not None:
        # A fact of the whole tree, not of one file: whether a missing code-gen.yaml means
        # "no flags" or "flags not published".
        digest.update(f"code-gen:{folder.package.publishes_code_gen()}".encode())
    overlay = folder.overlay
    try:
        entries = sorted(os.scandir(folder.path), key=lambda entry: entry.name)
    except OSError:
        entries = []
    names = {entry.name for entry in entries}
    for entry in entries:
        name = entry.name
        digest.update(name.encode() + b"\0")
        path = folder.path / name if overlay else None
        if path is not None and path in overlay:
            digest.update(_file_digest(path, overlay).encode())
        elif name in GENERATED_NAMES:
            continue  # never read by a rule: its presence is enough
        elif name.endswith(_HASHED_SUFFIXES) and entry.is_file():
            digest.update(_file_digest(entry.path, None).encode())
        elif entry.is_dir(follow_symlinks=False):
            # Nested folders (patches/, external_repos/): names, sizes and times are enough.
            digest.update(_tree_stamp(Path(entry.path)).encode())
        else:
            try:
                stat = entry.stat()
            except OSError:
                continue
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    for path in sorted(p for p in overlay if p.parent == folder.path and p.name not in names):
        digest.update(path.name.encode() + b"\0" + _file_digest(path, overlay).encode())
    return digest.hexdigest()


def _file_digest(path: Path | str, overlay: Any) -> str:
    if overlay and path in overlay:
        return hashlib.blake2b(overlay[path], digest_size=16).hexdigest()
    try:
        # Plain open(): on a warm run this is called for every file, and pathlib's own
        # bookkeeping would cost more than the read.
        with open(path, "rb") as stream:
            return hashlib.blake2b(stream.read(), digest_size=16).hexdigest()
    except OSError:
        return "missing"


def _tree_stamp(path: Path) -> str:
    parts = []
    try:
        if not path.is_dir():
            stat = path.stat()
            return f"{stat.st_size}:{stat.st_mtime_ns}"
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                try:
                    stat = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                rel = os.path.relpath(os.path.join(root, name), path)
                parts.append(f"{rel}:{stat.st_size}:{stat.st_mtime_ns}")
    except OSError:
        return "unreadable"
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


def package_key(plan: Plan, root: Path, model_folders: Sequence[Path]) -> str:
    """The key of a package's cross-model findings; the files they read are checked apart."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(_settings_fingerprint(plan).encode())
    digest.update(str(root).encode())
    for folder in model_folders:
        digest.update(folder.name.encode() + b"\0")
    return digest.hexdigest()


class ResultCache:
    def __init__(self, repo_root: Path) -> None:
        self.directory = repo_root / CACHE_DIR
        self._ready = False
        # Digests of outside files, computed once per run however many entries list them.
        self._digests: dict[str, str] = {}

    def _digest(self, path: Path | str) -> str:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = _file_digest(key, {})
        return self._digests[key]

    def _entry(self, folder: Path) -> Path:
        name = hashlib.blake2b(str(folder).encode(), digest_size=12).hexdigest()
        return self.directory / "results" / f"{name}.json"

    def get(self, folder: Path, key: str) -> list[Diagnostic] | None:
        entry = self.get_entry(folder, key)
        return None if entry is None else entry[0]

    def get_entry(self, folder: Path, key: str) -> tuple[list[Diagnostic], list[Path]] | None:
        """The cached findings and noted files, while the key and every recorded outside
        file still match."""
        text = read_small_file(self._entry(folder), MAX_ENTRY)
        if text is None:
            return None
        try:
            data = json.loads(text)
            if data.get("key") != key:
                return None
            for path, digest in data["dependencies"].items():
                if self._digest(path) != digest:
                    return None  # an inherited class or shared file changed
            return (
                [Diagnostic.from_cache(item) for item in data["diagnostics"]],
                [Path(p) for p in data.get("noted", ())],
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None  # not an entry we wrote (nested a million deep, say): a miss

    def _prepare(self) -> bool:
        if self._ready:
            return True
        try:
            (self.directory / "results").mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by qaihm-lint.\n*\n", encoding="utf-8")
        except OSError:
            return False
        self._ready = True
        return True

    def put(
        self,
        folder: Path,
        key: str,
        diagnostics: list[Diagnostic],
        dependencies: Sequence[Path] = (),
        noted: Sequence[Path] = (),
    ) -> None:
        if not self._prepare():
            return  # a read-only tree simply runs uncached
        payload = json.dumps(
            {
                "key": key,
                "dependencies": {str(p): self._digest(p) for p in dependencies},
                "diagnostics": [d.to_cache() for d in diagnostics],
                "noted": [str(p) for p in noted],
            },
            separators=(",", ":"),
        )
        write_cache_file(self._entry(folder), payload)


MAX_ENTRY = 64 * 1024 * 1024  # bytes: the largest result-cache entry worth reading


def read_small_file(path: Path, limit: int) -> str | None:
    """The text of the regular file ``path`` when it holds at most ``limit`` bytes; None for
    anything else. A cache entry replaced by a FIFO, a device or a symlink to one would block
    or flood the run: opened without blocking, checked to be a regular file, read bounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    return data.decode("utf-8", errors="replace")


def write_cache_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename, so that a parallel run or a kill never
    leaves half an entry; a cache that cannot be written only costs time, so failures are
    swallowed (and the temporary file removed). Not for the user's files: see
    ``fixers.apply.write_atomic``, which also keeps permissions and syncs to disk."""
    import tempfile  # only when writing: read-only runs skip the import

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
