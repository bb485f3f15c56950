"""The interpreter qaihm-lint runs under, and the torch stack every built environment shares.

Read from installed metadata only (nothing is imported): which of torch, torchvision,
torchaudio, onnx and onnxruntime are installed, with torch's GPU runtime distributions, and
which files of site-packages each one owns (``envbuild`` links them into the environments).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment

from qaihm_lint import requirements_file as rf

ALWAYS_LAYERED = ("torch", "torchvision", "torchaudio")
COMPANIONS = ("torchvision", "torchaudio")  # built against one torch each
# Shared with the invoking environment only where the environment's pins accept its version.
SHARED_WHEN_ALLOWED = ("onnx", "onnxruntime")
LAYERED = ALWAYS_LAYERED + SHARED_WHEN_ALLOWED
# torch's own runtime libraries (the CUDA wheels of a GPU build): part of the build the user
# chose, several GB, so they are layered with torch rather than installed again.
RUNTIME_PREFIXES = ("nvidia-", "triton", "pytorch-triton", "cuda-")


@dataclass(frozen=True)
class LayeredDist:
    """A distribution installed in the invoking environment that every built one shares."""

    name: str  # normalised
    version: str
    site: str  # the site-packages folder it lives in
    entries: tuple[str, ...]  # its top-level files and folders there, dist-info excluded
    dist_info: str  # the name of its .dist-info folder


@dataclass(frozen=True)
class BaseInterpreter:
    """The interpreter qaihm-lint runs under: built environments use its Python and its stack."""

    executable: str
    python_version: str  # "3.11.7"
    markers: Mapping[str, str]
    dists: tuple[LayeredDist, ...]

    def pins(self) -> dict[str, str]:
        return {dist.name: dist.version for dist in self.dists}

    def version(self, name: str) -> str | None:
        return next((dist.version for dist in self.dists if dist.name == name), None)


def _layered_dist(dist: importlib.metadata.Distribution) -> LayeredDist | None:
    # RECORD is read as text: ``dist.files`` builds an object per file (torch has 15,000).
    record = dist.read_text("RECORD")
    if not record:
        return None  # installed without a RECORD (egg, editable): cannot be shared safely
    site = Path(str(dist.locate_file(""))).resolve()
    entries: set[str] = set()
    dist_info = ""
    for row in record.splitlines():
        top = row.split(",", 1)[0].replace("\\", "/").split("/", 1)[0]
        if not top or top in ("..", "__pycache__") or top.startswith("/"):
            continue  # console scripts and headers outside site-packages
        if top.endswith(".dist-info"):
            dist_info = top
        else:
            entries.add(top)
    if not dist_info:
        return None
    return LayeredDist(
        rf.normalize(dist.metadata["Name"]),
        dist.version,
        str(site),
        tuple(sorted(entries)),
        dist_info,
    )


def _runtime_dists() -> set[str]:
    """The installed GPU runtime distributions (nvidia-*, triton, cuda-*).

    All of them rather than torch's dependency graph: they reach each other through extras
    (``cuda-toolkit[cublas,cudart,...]``), and any left out would be downloaded again.
    """
    found: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = rf.normalize(dist.metadata["Name"] or "")
        if name.startswith(RUNTIME_PREFIXES):
            found.add(name)
    return found


def base_interpreter() -> BaseInterpreter:
    """This interpreter and the layered stack installed in it (read from metadata, no import)."""
    markers = {key: str(value) for key, value in default_environment().items()}
    dists: dict[str, LayeredDist] = {}
    names: list[str] = []
    for name in LAYERED:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        names.append(name)
        if name == "torch":
            names.extend(sorted(_runtime_dists()))
    for name in names:
        try:
            layered = _layered_dist(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue
        if layered is not None:
            dists[layered.name] = layered
    return BaseInterpreter(
        sys.executable,
        ".".join(str(part) for part in sys.version_info[:3]),
        markers,
        tuple(dists[name] for name in sorted(dists)),
    )
