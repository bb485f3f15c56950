"""Text that stands in for a file on disk: a buffer piped on stdin (``--stdin-filename``) or
open in an editor. The workspace is the buffer's own folder, seeing the buffer instead of the
file (which need not exist yet)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.workspace import Workspace, WorkspaceError, discover


@dataclass(frozen=True)
class BufferWorkspace:
    """The folder a buffer belongs to, seeing the buffer. ``path`` is the buffer's file,
    resolved as the folder's files are (the key of the overlay); ``workspace`` is empty when
    the file is in no model folder and no shared folder."""

    path: Path
    data: bytes
    workspace: Workspace

    @property
    def overlay(self) -> dict[Path, bytes]:
        return {self.path: self.data}


def owning_workspace(path: Path, exclude: Iterable[str] = ()) -> Workspace:
    """The workspace of the one folder that holds the file ``path`` (which need not exist
    yet): its model folder, or the shared folder it is in; empty when there is none. Raises
    WorkspaceError when the file's folder does not exist, or is neither in a package nor a
    model folder."""
    parent = path.parent
    if not os.path.isdir(parent):
        raise WorkspaceError(f"{path}: its folder {parent} does not exist")
    found = discover([path if os.path.lexists(path) else parent], exclude)
    # Folders are resolved as discovery resolves them; the file itself may not exist yet or
    # be a link, so only its folder is resolved.
    resolved = parent.resolve() / path.name
    # The innermost folder that holds the file: a model folder nested in shared code is the
    # model's.
    holders = sorted(
        (f for f in found.checked() if f.path in resolved.parents),
        key=lambda f: len(f.path.parts),
        reverse=True,
    )
    if not holders:
        return Workspace(found.packages, [], [], [])
    owner = holders[0]
    folders, shared = ([], [owner]) if owner.shared else ([owner], [])
    return Workspace(found.packages, folders, [], shared)


def buffer_workspace(path: Path, data: bytes, exclude: Iterable[str] = ()) -> BufferWorkspace:
    """The workspace that checks ``data`` as the file ``path``: the one model folder (or
    shared folder) ``path`` is in, with ``data`` shadowing the file on disk."""
    owning = owning_workspace(path, exclude)
    resolved = path.parent.resolve() / path.name
    return BufferWorkspace(resolved, data, owning.reopened({resolved: data}))
