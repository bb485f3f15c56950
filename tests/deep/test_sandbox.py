"""The sandbox's parts on their own: the worker's environment, bubblewrap's command line,
Landlock's read rules, and the folders a killed run leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from qaihm_lint.deep.inside.confine import readable_outside
from qaihm_lint.deep.sandbox import (
    Protection,
    bwrap_command,
    detect,
    remove_abandoned_runs,
    worker_environment,
)


def test_the_worker_environment_is_an_allow_list(tmp_path: Path) -> None:
    source = {
        "PATH": "/usr/bin",
        "QAIHUB_API_TOKEN": "secret",
        "GITHUB_TOKEN": "secret",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "HOME": "/home/me",
        "HTTPS_PROXY": "http://user:pass@proxy",
        "TORCH_HOME": "/weights",
    }
    env = worker_environment(source, tmp_path / "home", tmp_path / "tmp", threads=2, network=False)
    assert "secret" not in env.values() and "HTTPS_PROXY" not in env
    assert env["HOME"] == str(tmp_path / "home") and env["TORCH_HOME"] == "/weights"
    assert env["XDG_CONFIG_HOME"].startswith(str(tmp_path / "home"))
    assert env["HF_HUB_OFFLINE"] == "1"
    online = worker_environment(source, tmp_path, tmp_path, threads=1, network=True)
    assert online["HTTPS_PROXY"] == "http://user:pass@proxy"
    shared = worker_environment(
        {**source, "QAIHM_LINT_PASS_ENV": "GITHUB_TOKEN"},
        tmp_path,
        tmp_path,
        threads=1,
        network=False,
    )
    assert shared["GITHUB_TOKEN"] == "secret"  # only when the user names it


def test_bwrap_hides_then_binds_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    venv = home / "venv"
    venv.mkdir(parents=True)
    command = bwrap_command(
        "bwrap",
        ["python", "x"],
        hidden=[home],
        readable=[venv],
        writable=[tmp_path / "run"],
        network=False,
    )
    text = " ".join(command)
    assert text.index(f"--tmpfs {home}") < text.index(f"--ro-bind {venv} {venv}")
    assert "--share-net" not in command and "--unshare-all" in command
    assert command[-3:] == ["--", "python", "x"]
    assert Protection(bwrap="bwrap", landlock_abi=6).describe().count("no network") == 1


def test_a_folder_reached_through_a_link_in_a_hidden_folder_stays_reachable(
    tmp_path: Path,
) -> None:
    """An environment given as /tmp/link (its files elsewhere): the hidden /tmp would leave the
    link's paths dangling inside the sandbox, so the folder is bound at the link's path too."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    real = tmp_path / "real" / "env"
    (real / "bin").mkdir(parents=True)
    (real / "bin" / "marker").write_text("reached\n")
    link = hidden / "env"
    link.symlink_to(real)
    command = bwrap_command(
        "bwrap",
        ["cat", str(link / "bin" / "marker")],
        hidden=[hidden],
        readable=[link],
        writable=[],
        network=False,
    )
    text = " ".join(command)
    assert text.index(f"--tmpfs {hidden}") < text.index(f"--ro-bind {real} {link}")
    protection = detect("bwrap")
    if protection.bwrap is None:
        if os.environ.get("QAIHM_REQUIRE_SANDBOX") == "1":
            pytest.fail("QAIHM_REQUIRE_SANDBOX=1 but bubblewrap is not available")
        return  # the command line is checked above; running it needs bubblewrap
    command[0] = protection.bwrap
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.stdout == "reached\n", done.stderr


def test_landlock_reads_allow_everything_but_what_is_hidden(tmp_path: Path) -> None:
    (tmp_path / "a" / "secret").mkdir(parents=True)
    (tmp_path / "a" / "fine").mkdir()
    allowed = readable_outside([tmp_path / "a" / "secret"])
    assert tmp_path / "a" / "fine" in allowed
    assert not any(
        p == tmp_path / "a" / "secret" or tmp_path / "a" / "secret" in p.parents for p in allowed
    )


def test_a_killed_runs_folders_are_removed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = tmp_path / f"qaihm-deep-run-{dead.stdout.strip()}-abc"
    (gone / "tree0").mkdir(parents=True)
    alive = tmp_path / f"qaihm-deep-run-{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "qaihm-deep-run-notapid"
    other.mkdir()
    assert remove_abandoned_runs() == 1
    assert not gone.exists() and alive.exists() and other.exists()


def test_an_explicit_ultralytics_folder_is_kept_and_shared(tmp_path: Path) -> None:
    from qaihm_lint.deep.sandbox import shared_folders

    chosen = tmp_path / "ultralytics"
    chosen.mkdir()
    env = worker_environment(
        {"YOLO_CONFIG_DIR": str(chosen)}, tmp_path / "h", tmp_path / "t", threads=1, network=False
    )
    assert env["YOLO_CONFIG_DIR"] == str(chosen)
    assert shared_folders({"YOLO_CONFIG_DIR": str(chosen)}) == [chosen]
    default = worker_environment({}, tmp_path / "h", tmp_path / "t", threads=1, network=False)
    assert default["YOLO_CONFIG_DIR"].startswith(str(tmp_path / "h"))


def test_the_tree_copy_is_checked_and_restored(tmp_path: Path) -> None:
    from qaihm_lint.deep.treecopy import TreeCopy

    repo = tmp_path / "repo"
    package = repo / "qai_hub_models"
    (package / "models" / "a" / "external_repos").mkdir(parents=True)
    (package / "models" / "a" / "model.py").write_text("ok = 1\n")
    (package / "utils").mkdir()
    (package / "utils" / "base.py").write_text("base = 1\n")
    copy = TreeCopy(repo, package, tmp_path / "copy")
    code = copy.code_of("a", [])
    assert Path("models/a") in code and Path("utils") in code
    assert copy.check(code) == []
    # What upstream writes at run time is not the model's code.
    (copy.package / "models" / "a" / "external_repos" / "clone.hash").write_text("abc")
    assert copy.check(code) == []
    (copy.package / "utils" / "base.py").write_text("import os; os.system('evil')\n")
    assert copy.check(code) == [Path("utils")]
    assert (copy.package / "utils" / "base.py").read_text() == "base = 1\n"  # restored
    assert (package / "utils" / "base.py").read_text() == "base = 1\n"


def test_the_invoking_environment_stays_readable_under_a_hidden_folder(tmp_path: Path) -> None:
    """A built environment reaches torch through links into the invoking environment; when that
    environment sits under a hidden folder (a clone under /tmp, as a CI runner may make), the
    fork server must still read it, with bubblewrap and with Landlock alike."""
    from qaihm_lint.deep.sandbox import SandboxRun

    (tmp_path / "run").mkdir()
    (tmp_path / "run2").mkdir()
    run = SandboxRun(Protection(bwrap="bwrap", landlock_abi=6), 1, root=tmp_path / "run")
    try:
        built = str(tmp_path / "env" / "bin" / "python")  # a built environment's interpreter
        command = run.wrap(built, ["python", "x"])
        bound = {command[i + 1] for i, word in enumerate(command) if word == "--ro-bind"}
        site = next(p for p in sys.path if p.endswith("site-packages"))
        assert any(site == b or site.startswith(b + os.sep) for b in bound), (site, bound)
        landlock = SandboxRun(Protection(landlock_abi=6), 1, root=tmp_path / "run2")
        try:
            reads = landlock.confine(built, [])["read"]
            assert isinstance(reads, list) and site in reads
        finally:
            landlock.close()
    finally:
        run.close()
