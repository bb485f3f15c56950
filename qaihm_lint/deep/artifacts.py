"""The parent's check of what a worker names for compiling, before anything is uploaded.

A worker is model code: the path in its ``artifact`` event may point anywhere (a symbolic link
to ``~/.qai_hub/client.ini``, ``/etc/passwd``, another model's folder). The parent accepts only a
regular file inside that worker's own output folder, of the type the stage writes (a TorchScript
``.pt`` or an exported ``.pt2``, both zip archives), opened without following links, and it
uploads its own copy of those bytes, made in a folder no worker can reach.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

SUFFIXES = (".pt", ".pt2")
ZIP_MAGIC = b"PK\x03\x04"


class ArtifactRefused(Exception):
    """The worker's artifact is not one the parent will upload; ``str(self)`` says why."""


def take_artifact(named: str, out_dir: Path, destination: Path) -> Path:
    """Copy the artifact ``named`` from ``out_dir`` to ``destination`` (a folder of the
    parent's); the copy's path. ArtifactRefused when it is not a regular file of the expected
    type directly inside ``out_dir``."""
    path = Path(named)
    if path.suffix not in SUFFIXES:
        raise ArtifactRefused(f"{path.name!r} is not a .pt or .pt2 file")
    real_dir = Path(os.path.realpath(out_dir))
    if not path.is_absolute() or Path(os.path.realpath(path.parent)) != real_dir:
        raise ArtifactRefused(f"{named!r} is not in the worker's own folder")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real_dir / path.name, flags)
    except OSError as exc:
        raise ArtifactRefused(f"{path.name!r} cannot be opened as a file: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactRefused(f"{path.name!r} is not a regular file")
        if source.read(4) != ZIP_MAGIC:
            raise ArtifactRefused(f"{path.name!r} is not a saved torch model (not a zip archive)")
        source.seek(0)
        destination.mkdir(parents=True, exist_ok=True, mode=0o700)
        copy = destination / f"{os.urandom(8).hex()}{path.suffix}"
        with open(copy, "xb") as target:
            shutil.copyfileobj(source, target)
    return copy
