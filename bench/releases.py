"""Upstream's releases as snapshots of ``qai_hub_models/``: git tags of quic/ai-hub-models and
the wheels published on PyPI (``pip download`` at run time, into bench/.cache/; never committed).

A snapshot knows its files by git blob id (wheels are hashed the same way), so a file that is
identical in a tag and in a wheel compares equal, and two snapshots of any kind can be diffed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
HISTORY = CACHE / "history"
WHEELS = CACHE / "wheels"
PACKAGE = "qai_hub_models"
PROJECT = "qai-hub-models"

Tree = Mapping[str, str]  # path relative to qai_hub_models/ -> git blob id


@dataclass(frozen=True)
class Snapshot:
    """One release: its name (a tag such as ``v0.46.1`` or a wheel version such as ``0.47.0``),
    the extracted package root, and its files."""

    name: str
    root: Path
    tree: Tree

    def text(self, path: str) -> str | None:
        try:
            return (self.root / path).read_text(errors="replace")
        except OSError:
            return None


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _sorted_versions(names: list[str], prefix: str = "") -> list[str]:
    versions = []
    for name in names:
        try:
            versions.append((Version(name.removeprefix(prefix)), name))
        except InvalidVersion:
            continue
    return [name for _, name in sorted(versions)]


def release_tags(repo: Path) -> list[str]:
    return _sorted_versions(git(repo, "tag").split())


def _ready(target: Path) -> Path | None:
    return target / PACKAGE if (target / ".complete").exists() else None


def _tree_cached(target: Path, build: dict[str, str] | None = None) -> dict[str, str]:
    cached = target / "tree.json"
    if cached.exists():
        return dict(json.loads(cached.read_text()))
    result = build if build is not None else {}
    cached.write_text(json.dumps(result))
    return result


def tag_snapshot(repo: Path, tag: str) -> Snapshot:
    target = HISTORY / tag
    root = _ready(target)
    if root is None:
        partial = HISTORY / f".{tag}.partial"
        subprocess.run(["rm", "-rf", str(partial), str(target)], check=True)
        partial.mkdir(parents=True)
        archive = subprocess.Popen(
            ["git", "-C", str(repo), "archive", tag, PACKAGE], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", str(partial)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {tag} failed")
        (partial / ".complete").touch()
        partial.rename(target)
        root = target / PACKAGE
    if (target / "tree.json").exists():
        return Snapshot(tag, root, _tree_cached(target))
    out = git(repo, "ls-tree", "-r", tag, PACKAGE)
    entries = (line.split("\t", 1) for line in out.splitlines())
    tree = {path[len(PACKAGE) + 1 :]: meta.split()[2] for meta, path in entries}
    return Snapshot(tag, root, _tree_cached(target, tree))


def published_versions() -> list[str]:
    """Every version of qai-hub-models on the index, oldest first."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", PROJECT],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Available versions:\s*(.+)", done.stdout)
    if not match:
        raise SystemExit(f"releases: cannot list the versions of {PROJECT}")
    return _sorted_versions([v.strip() for v in match.group(1).split(",")])


def _wheel(version: str) -> Path:
    def found() -> list[Path]:
        name = PACKAGE + "-" + version
        return [p for p in WHEELS.glob(f"{PACKAGE}-*.whl") if p.name.startswith(name + "-")]

    wheels = found()
    if not wheels:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--dest", str(WHEELS), f"{PROJECT}=={version}"],
            check=True,
        )  # fmt: skip
        wheels = found()
    return wheels[0]


def wheel_snapshot(version: str) -> Snapshot:
    target = HISTORY / "wheels" / version
    root = _ready(target)
    if root is None:
        partial = target.with_name(f".{version}.partial")
        subprocess.run(["rm", "-rf", str(partial), str(target)], check=True)
        partial.mkdir(parents=True)
        tree: dict[str, str] = {}
        with zipfile.ZipFile(_wheel(version)) as archive:
            for member in archive.namelist():
                if member.startswith(PACKAGE + "/") and not member.endswith("/"):
                    archive.extract(member, partial)
                    tree[member[len(PACKAGE) + 1 :]] = blob_id(archive.read(member))
        (partial / "tree.json").write_text(json.dumps(tree))
        (partial / ".complete").touch()
        partial.rename(target)
        root = target / PACKAGE
    return Snapshot(version, root, _tree_cached(target))


def diff(before: Snapshot, after: Snapshot, path: str) -> str:
    """``path`` from one snapshot to the next, as ``git diff -U0`` prints it."""
    old = (before.text(path) or "").splitlines()
    new = (after.text(path) or "").splitlines()
    return "\n".join(difflib.unified_diff(old, new, path, path, n=0, lineterm=""))
