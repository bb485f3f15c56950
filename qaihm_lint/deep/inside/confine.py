"""Landlock, applied by a forked worker to itself before any model code runs (Linux 5.13+).

The parent decides what the worker may touch (``sandbox.py``) and writes it into the request as
``confine``: ``abi`` (the kernel's Landlock version), ``write`` (folders it may change: its own
folder, its model's folder of the tree copy), ``hide`` and ``read`` (when bubblewrap is not
there: folders it may not read, with exceptions bound back), and ``network``. Once applied, the
worker and everything it starts keep the restriction; nothing can lift it. Standard library
only (ctypes), like every module of this folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS = 38
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
# Everything that creates, removes or changes a file or folder (ABI 1), then refer (2),
# truncate (3).
CHANGE_V1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
REFER, TRUNCATE = 1 << 13, 1 << 14
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class ConfineError(Exception):
    """Landlock could not be applied; the worker must not run model code unconfined."""


def apply(spec: Mapping[str, Any]) -> None:
    """Restrict this process as ``spec`` says (see the module docstring)."""
    abi = int(spec.get("abi", 0))
    if abi <= 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    change = CHANGE_V1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    hide = [Path(p) for p in spec.get("hide") or ()]
    if hide:
        # Every other process's /proc entry too (the parent's environment holds the caller's
        # secrets); a process this worker starts later has no entry it may read either.
        me = str(os.getpid())
        with contextlib.suppress(OSError):
            hide += [Path("/proc", n) for n in os.listdir("/proc") if n.isdigit() and n != me]
    handled = change | ((READ_FILE | READ_DIR | EXECUTE) if hide else 0)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4 and not spec.get("network"):
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP  # no rule: no TCP at all
        size = 16
    if abi >= 6:
        # No signal to, and no abstract socket of, a process outside this sandbox (the parent,
        # the fork server, other workers).
        attr.scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX
        size = 24
    ruleset = int(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if ruleset < 0:
        raise ConfineError(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path in spec.get("write") or ():
            _allow(libc, ruleset, Path(path), handled)
        _allow(libc, ruleset, Path("/dev"), WRITE_FILE | (READ_FILE | READ_DIR if hide else 0))
        if hide:
            for path in readable_outside(hide):
                _allow(libc, ruleset, path, READ_FILE | READ_DIR | EXECUTE)
            for path in spec.get("read") or ():
                _allow(libc, ruleset, Path(path), READ_FILE | READ_DIR | EXECUTE)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise ConfineError(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise ConfineError(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)


def _allow(libc: Any, ruleset: int, path: Path, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a folder that does not exist grants nothing
    try:
        if not os.path.isdir(path):
            # A file: only the file rights apply to it.
            access &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
        rule = _PathBeneath(access, fd)
        if libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise ConfineError(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def readable_outside(hidden: Iterable[Path]) -> list[Path]:
    """Landlock only allows: to hide some folders, allow every sibling on the way down to
    each of them instead. The folders to allow, for the root file system minus ``hidden``."""
    hidden_set = {Path(os.path.realpath(p)) for p in hidden}
    ancestors = {parent for path in hidden_set for parent in path.parents}
    allowed: list[Path] = []
    todo = [Path("/")]
    while todo:
        folder = todo.pop()
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                path = Path(entry.path)
                if path in hidden_set:
                    continue
                if path in ancestors:
                    todo.append(path)
                else:
                    allowed.append(path)
    return allowed
