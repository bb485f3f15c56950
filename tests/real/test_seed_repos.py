"""The real tier's clone answering (``bench/seed_repos.py``), on small repositories made here:
fast, so part of the default run (unlike ``test_real_models.py``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench import real_models, seed_repos

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def mirror_lacking_a_blob(tmp_path: Path) -> tuple[Path, str]:
    """A repository whose commit names a blob it does not hold (as partial snapshots do)."""
    source = tmp_path / "source"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "net.py").write_text("SCALE = 2\n")
    (source / "big.txt").write_text("a large data list\n")
    git(tmp_path, "init", "-q", str(source))
    git(source, "add", ".")
    git(source, "commit", "-q", "-m", "one")
    commit = git(source, "rev-parse", "HEAD")
    blob = git(source, "rev-parse", "HEAD:big.txt")
    (source / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    return source / ".git", commit


def test_a_checkout_leaves_out_only_what_the_mirror_lacks(tmp_path: Path) -> None:
    mirror, commit = mirror_lacking_a_blob(tmp_path)
    target = tmp_path / "clone"
    assert seed_repos.materialize(mirror, commit, target) == ["big.txt"]
    assert (target / "lib" / "net.py").read_text() == "SCALE = 2\n"
    assert git(target, "rev-parse", "HEAD") == commit
    everything = tmp_path / "clone-all-refs"
    assert seed_repos.materialize(mirror, commit, everything, every_ref=True) == ["big.txt"]
    with pytest.raises(RuntimeError, match="no commit"):
        seed_repos.materialize(mirror, "0" * 40, tmp_path / "nothing")


def test_mirrors_match_urls_with_or_without_git_suffix(tmp_path: Path) -> None:
    found = seed_repos.mirrors(f"https://github.com/a/B.pytorch.git/={tmp_path}")
    assert found == {"https://github.com/a/B.pytorch": tmp_path}
    assert seed_repos.normalized("https://github.com/a/B.pytorch") in found
    with pytest.raises(SystemExit, match="URL=PATH"):
        seed_repos.mirrors("no-path-here")
    assert real_models.mirror_entry(f"https://github.com/a/b={tmp_path}").endswith(str(tmp_path))
    with pytest.raises(Exception, match="URL=PATH"):
        real_models.mirror_entry(f"https://github.com/a/b={tmp_path / 'absent'}")
