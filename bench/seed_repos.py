"""Clones of external repositories answered from local git mirrors, for ``seed_weights.py``.

Upstream's models that build on another project's code clone it the first time they load:
0.46.1's ``SourceAsRoot`` (``git.Repo.clone_from`` into the package's asset store,
``$QAIHM_STORE_ROOT/.qaihm/models/<id>/v<n>/<author>_<name>_git``), 0.65.0's ``external_repos``
(``_shallow_clone``: ``git init`` then a fetch of the pinned commit, into
``$QAIHM_STORE_ROOT/.qaihm/external_repos/...``). With no network, this module answers those two
steps from a mirror named in ``$QAIHM_REPO_MIRRORS`` (``URL=PATH`` entries separated by white
space; PATH is any git repository holding the pinned commit, bare or not). Everything upstream
does after the clone (checking out the commit, applying its patches, 0.65.0's postprocessing and
import rewriting) still runs, unchanged, so the store ends up as a real clone would leave it.

A mirror may lack some large blobs (partial snapshots do): the checkout then leaves those files
out, and ``absent`` records their paths so that the seeding report says so.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MIRRORS_VARIABLE = "QAIHM_REPO_MIRRORS"


def normalized(url: str) -> str:
    """``url`` without a trailing slash or ``.git``: how mirrors are matched."""
    url = url.strip().rstrip("/")
    return url[: -len(".git")] if url.endswith(".git") else url


def mirrors(text: str | None = None) -> dict[str, Path]:
    """The mirrors named by ``text`` (default ``$QAIHM_REPO_MIRRORS``), by normalized URL."""
    found: dict[str, Path] = {}
    for entry in (os.environ.get(MIRRORS_VARIABLE, "") if text is None else text).split():
        url, separator, path = entry.rpartition("=")
        if not separator or not url or not path:
            raise SystemExit(f"{MIRRORS_VARIABLE}: {entry!r} is not URL=PATH")
        found[normalized(url)] = Path(path)
    return found


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)


def materialize(mirror: Path, commit: str, target: Path, *, every_ref: bool = False) -> list[str]:
    """A repository at ``target`` with ``commit`` checked out (detached), from ``mirror``'s
    objects (those of ``commit`` only, or with ``every_ref`` of every branch, as a clone has
    them); returns the paths whose blobs the mirror lacks (left out of the work tree)."""
    target.mkdir(parents=True, exist_ok=True)
    if _git("init", "-q", cwd=target).returncode != 0:
        raise RuntimeError(f"git init failed in {target}")
    which = ["--all"] if every_ref else []
    pack = _git(
        "pack-objects", "--revs", *which, "--missing=allow-any", "--stdout", cwd=mirror,
        stdin=b"" if every_ref else f"{commit}\n".encode(),
    )  # fmt: skip
    if pack.returncode != 0:
        raise RuntimeError(f"{mirror} has no commit {commit}: {pack.stderr.decode()[-300:]}")
    for step in (
        _git("index-pack", "--stdin", cwd=target, stdin=pack.stdout),
        _git("update-ref", "--no-deref", "HEAD", commit, cwd=target),
        _git("read-tree", "HEAD", cwd=target),
    ):
        if step.returncode != 0:
            raise RuntimeError(f"materializing {commit} failed: {step.stderr.decode()[-300:]}")
    _git("checkout-index", "--all", cwd=target)  # a missing blob fails its own file only
    listed = _git("ls-files", "--deleted", cwd=target).stdout.decode().split("\n")
    return [path for path in listed if path]


@contextlib.contextmanager
def clones_answered(report: dict[str, Any]) -> Iterator[None]:
    """Upstream's clone steps served from the mirrors; ``report["repositories"]`` lists each
    clone made (url, commit, where, and the files the mirror could not provide)."""
    known = mirrors()
    made: list[dict[str, Any]] = report.setdefault("repositories", [])
    try:
        import git  # GitPython: upstream clones with it, so environments that clone have it
    except ImportError:
        known = {}
    if not known:
        yield
        return

    def mirror_of(url: str) -> Path:
        found = known.get(normalized(url))
        if found is None:
            raise RuntimeError(f"no mirror of {url} in ${MIRRORS_VARIABLE}")
        return found

    original_clone = git.Repo.clone_from.__func__  # type: ignore[attr-defined]

    def clone_from(cls: Any, url: str, to_path: Any, *args: Any, **kw: Any) -> Any:
        # 0.46.1's maybe_clone_git_repo checks the commit out itself right after.
        mirror = mirror_of(url)
        head = _git("rev-parse", "HEAD", cwd=mirror).stdout.decode().strip()
        absent = materialize(mirror, head, Path(to_path), every_ref=True)
        _git("remote", "add", "origin", url, cwd=Path(to_path))
        made.append({"url": url, "mirror": str(mirror), "path": str(to_path), "absent": absent})
        return cls(to_path)

    git.Repo.clone_from = classmethod(clone_from)  # type: ignore[assignment]
    external = None
    with contextlib.suppress(ImportError):
        # 0.65.0 and later; importing it first lets models that clone on import be answered.
        from qai_hub_models.utils import external_repo as external  # type: ignore[no-redef]
    original_shallow = getattr(external, "_shallow_clone", None)

    def shallow_clone(url: str, commit_sha: str, target: Path) -> None:
        mirror = mirror_of(url)
        absent = materialize(mirror, commit_sha, Path(target))
        made.append({"url": url, "mirror": str(mirror), "path": str(target), "absent": absent})

    if original_shallow is not None:
        external._shallow_clone = shallow_clone  # type: ignore[union-attr]
    try:
        yield
    finally:
        git.Repo.clone_from = classmethod(original_clone)  # type: ignore[assignment]
        if original_shallow is not None:
            external._shallow_clone = original_shallow  # type: ignore[union-attr]


if __name__ == "__main__":  # python seed_repos.py MIRROR COMMIT TARGET: one checkout, by hand
    print(materialize(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
