"""Writing fixed files: atomically, keeping permissions, never half a file."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import stat
from pathlib import Path

TEMP_SUFFIX = ".tmp"
# Ours by name: only files we could have written are ever swept.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.qaihm-lint-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")


class WriteError(Exception):
    pass


def remove_stale_temporaries(directory: Path) -> int:
    """Delete the temp files of writers that were killed (SIGKILL, power loss) before their
    rename: ``.<file>.qaihm-lint-<pid>.<random>.tmp`` whose process no longer exists. A live
    writer's file (another qaihm-lint running now) is left alone. Returns how many were
    removed."""
    if os.name != "posix":  # os.kill(pid, 0) is only a liveness probe on POSIX
        return 0
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or reused: then we keep the file, which is harmless)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


class ChangedSinceRead(WriteError):
    """The file on disk is no longer what the fix was computed from."""


_UNCHECKED = object()


def write_atomic(path: Path, data: bytes, expected: bytes | object | None = _UNCHECKED) -> None:
    """Replace ``path`` with ``data`` in one rename: readers (and a crash) see the old or the
    new file, never a mix. The file's permission bits, owner and group are kept; a new file
    gets 0o644 less the umask. With ``expected`` (the content the new one was computed from;
    None: the file did not exist), the file is compared first and left alone, with
    ChangedSinceRead, when someone changed it meanwhile. A file with other hard links is
    rewritten in place instead, so that every link keeps seeing it."""
    if path.is_symlink():
        raise WriteError(f"{path}: not written: it is a symbolic link")
    try:
        info: os.stat_result | None = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    current = _current(path) if expected is not _UNCHECKED else expected
    if current is None and expected is not None:
        raise WriteError(f"{path}: cannot write: it was removed while it was being checked")
    if current != expected:
        raise ChangedSinceRead(
            f"{path}: not written: the file changed while it was being checked; run "
            "again to fix it as it is now"
        )
    if info is not None and info.st_nlink > 1 and stat.S_ISREG(info.st_mode):
        _rewrite_in_place(path, data)
        return
    try:
        # The pid in the name lets a later run tell a killed writer's leftover from a live one's.
        import tempfile  # only when writing: read-only runs skip the import

        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.qaihm-lint-{os.getpid()}.", suffix=TEMP_SUFFIX
        )
    except OSError as exc:  # the folder is read-only, full, or gone
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if info is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o644 & ~umask)
        else:
            if hasattr(os, "chown") and (info.st_uid, info.st_gid) != _owner(temporary):
                # Root fixing a user's file must not make it root's (a user can only give
                # a file to a group of theirs: best effort there).
                with contextlib.suppress(OSError):
                    os.chown(temporary, info.st_uid, info.st_gid)
            os.chmod(temporary, stat.S_IMODE(info.st_mode))
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        raise


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def _owner(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """A hard-linked file: a rename would leave the other links on the old content."""
    try:
        with open(path, "r+b") as stream:
            stream.write(data)
            stream.truncate()
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def unified_diff(path: Path, before: bytes | None, after: bytes, display: str) -> str:
    old = (before or b"").decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    new = after.decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    lines = list(
        difflib.unified_diff(
            old,
            new,
            fromfile=f"a/{display}" if before is not None else "/dev/null",
            tofile=f"b/{display}",
        )
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
