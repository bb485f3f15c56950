"""How to install the optional ``[deep]`` extra, said truthfully for this copy of qaihm-lint.

qaihm-lint is not published on PyPI, so ``pip install 'qaihm-lint[deep]'`` cannot work: the
extra has to come from wherever this copy came from. pip records that in the distribution's
``direct_url.json`` (PEP 610); a source checkout is recognised by its own pyproject.toml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The [deep] extra brings torch with a torchvision pip matches to it (one build, one source):
# the index's torchvision does not load beside a torch from elsewhere ("operator
# torchvision::nms does not exist"). Where download.pytorch.org is reachable, its CPU builds
# of both, installed first, are a smaller alternative (deep mode runs on CPU).
CPU_TORCH = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
DIST_NAME = "qaihm-lint"


def deep_install_hint() -> str:
    return (
        f"install the [deep] extra (torch with a matched torchvision, onnx, onnxruntime, uv): "
        f"pip install {_source()} (optionally the smaller CPU builds first: {CPU_TORCH})"
    )


def _source() -> str:
    """The pip requirement that reinstalls this copy with the extra."""
    checkout = Path(__file__).resolve().parent.parent
    if _is_our_checkout(checkout):
        return f"-e '{checkout}[deep]'"
    return from_direct_url(_direct_url()) or f"-e '<your {DIST_NAME} checkout>[deep]'"


def _is_our_checkout(directory: Path) -> bool:
    try:
        text = (directory / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return f'name = "{DIST_NAME}"' in text


def _direct_url() -> dict[str, Any] | None:
    import importlib.metadata

    try:
        text = importlib.metadata.distribution(DIST_NAME).read_text("direct_url.json")
        data = json.loads(text) if text else None
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def from_direct_url(data: dict[str, Any] | None) -> str | None:
    """The requirement for a PEP 610 record: a local directory, a VCS URL or an archive."""
    if not data or not isinstance(data.get("url"), str):
        return None
    url: str = data["url"]
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict):
        revision = vcs.get("requested_revision") or vcs.get("commit_id")
        at = f"@{revision}" if revision else ""
        return f"'{DIST_NAME}[deep] @ {vcs.get('vcs', 'git')}+{url}{at}'"
    if "dir_info" in data and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(url).path)
        editable = isinstance(data["dir_info"], dict) and data["dir_info"].get("editable")
        return f"{'-e ' if editable else ''}'{path}[deep]'"
    return f"'{DIST_NAME}[deep] @ {url}'"
