"""The real corpus for benchmarks and corpus checks: the published qai-hub-models wheels,
downloaded with pip at run time into bench/.cache/ (never committed) and unpacked once."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
VERSIONS = ("0.46.1", "0.65.0")


def package_root(version: str) -> Path:
    """``.../qai_hub_models`` of the given release, downloading it on first use."""
    target = CACHE / version
    root = target / "qai_hub_models"
    if (root / "models").is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob(f"qai_hub_models-{version}-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                str(CACHE),
                f"qai-hub-models=={version}",
            ],
            check=True,
        )
        wheels = list(CACHE.glob(f"qai_hub_models-{version}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as archive:
        members = [m for m in archive.namelist() if m.startswith("qai_hub_models/")]
        archive.extractall(target, members)
    return root


if __name__ == "__main__":
    for version in sys.argv[1:] or VERSIONS:
        print(package_root(version))
