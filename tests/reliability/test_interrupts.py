"""Interrupt safety and concurrency, with real processes.

A ``--fix`` run killed at a random moment (SIGINT or SIGKILL) leaves every file either exactly
as it was or exactly as a complete run writes it; the next run, cache on, is correct. Two runs on
one tree and one cache at once both finish with the right answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qaihm_lint.testing import INFO_YAML, MODEL_PY, TEST_PY, build_tree
from tests.reliability._support import snapshot

FOLDERS = 24


def _template(root: Path) -> Path:
    """A repository with FOLDERS model folders, each with several fixable findings in several
    files (QAI001 in YAML, requirements and Python; QAI202 and QAI602 where those fixers exist)."""
    others = {}
    for i in range(FOLDERS):
        mid = f"m{i:02d}"
        others[mid] = {
            "info.yaml": INFO_YAML.replace("id: example\n", f"id: {mid}  # noqa: QAI701\n"),
            "requirements.txt": "torch==2.4.0  # noqa: QAI701\nnumpy==1.26.4  # noqa: QAI702\n",
            "model.py": MODEL_PY.replace(
                "MODEL_ASSET_VERSION = 1\n", "MODEL_ASSET_VERSION = 1  # noqa: QAI701\n"
            ).replace("    @classmethod\n    def from_pretrained", "    def from_pretrained"),
            "test.py": TEST_PY.replace("models.example.", f"models.{mid}.").replace(
                "@pytest.mark.trace\n", ""
            ),
        }
    build_tree(root, other_models=others)
    return root


SLOW_DISK = """\
import os as _os
import time as _time

_fsync = _os.fsync


def _slow_fsync(fd):
    _time.sleep(0.012)
    return _fsync(fd)


_os.fsync = _slow_fsync
"""


def _slow_disk_env(base: Path) -> dict[str, str]:
    """An environment whose fsync takes 12 ms (a slow disk): the write phase of a run then
    lasts long enough for random kills to land inside it."""
    shim = base / "slow_disk"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SLOW_DISK)
    return {**os.environ, "PYTHONPATH": str(shim)}


def _cli(repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "qaihm_lint", *args, str(repo / "qai_hub_models")]


def _files(repo: Path) -> dict[str, bytes | str]:
    return {
        k: v
        for k, v in snapshot(repo).items()
        if not k.startswith(".qaihm_lint_cache") and v != "dir"
    }


def _temporaries(repo: Path) -> list[str]:
    return [k for k in _files(repo) if Path(k).name.startswith(".") and k.endswith(".tmp")]


def _findings(repo: Path, *extra: str) -> tuple[int, list[tuple[str, int, int, str]]]:
    completed = subprocess.run(
        _cli(repo, "--output-format", "json", *extra),
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode in (0, 1), completed.stderr
    rows = [
        (
            os.path.relpath(f["filename"], repo),
            f["location"]["row"],
            f["location"]["column"],
            f["code"],
        )
        for f in json.loads(completed.stdout)
    ]
    return completed.returncode, rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("interrupts")
    template = _template(base / "template")
    old = _files(template)
    clean = base / "clean"
    shutil.copytree(template, clean, symlinks=True)
    started = time.monotonic()
    completed = subprocess.run(
        _cli(clean, "--fix", "--unsafe-fixes"),
        cwd=clean,
        env=_slow_disk_env(base),
        capture_output=True,
        text=True,
        timeout=300,
    )
    duration = time.monotonic() - started
    assert completed.returncode in (0, 1), completed.stderr
    new = _files(clean)
    assert set(new) == set(old)
    changed = [k for k in old if old[k] != new[k]]
    assert len(changed) >= 3 * FOLDERS, "the template must give --fix work in many files"
    return {
        "base": base,
        "template": template,
        "old": old,
        "new": new,
        "duration": duration,
        "after": _findings(clean, "--no-cache"),
        "env": _slow_disk_env(base),
    }


@pytest.mark.slow
def test_killed_fix_runs_leave_old_or_new_files(reference: dict[str, object]) -> None:
    base, template = reference["base"], reference["template"]
    old, new = reference["old"], reference["new"]
    assert isinstance(base, Path) and isinstance(template, Path)
    assert isinstance(old, dict) and isinstance(new, dict)
    duration = float(reference["duration"])  # type: ignore[arg-type]
    rng = random.Random(int(os.environ.get("QAIHM_INTERRUPT_SEED", "7")))
    trials = int(os.environ.get("QAIHM_INTERRUPT_TRIALS", "8"))
    outcomes = {"old": 0, "mixed": 0, "new": 0}
    for trial in range(trials):
        repo = base / f"trial{trial}"
        shutil.copytree(template, repo, symlinks=True)
        kill = signal.SIGKILL if trial % 2 else signal.SIGINT
        jobs = "1" if trial % 4 < 2 else "2"
        process = subprocess.Popen(
            _cli(repo, "--fix", "--unsafe-fixes", "--jobs", jobs),
            cwd=repo,
            env=reference["env"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.3, 1.05) * duration)
        process.send_signal(kill)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # an interrupted run must end by itself
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            if kill == signal.SIGKILL:  # the pool's workers die with their parent's group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        # Python may print a KeyboardInterrupt raised in an at-fork hook or during start-up;
        # any other traceback is ours.
        assert b"Traceback" not in err or err.rstrip().endswith(b"KeyboardInterrupt"), err
        files = _files(repo)
        temporaries = _temporaries(repo)
        if kill == signal.SIGINT:
            assert not temporaries, temporaries
        for name in set(files) - set(temporaries):
            assert files[name] in (old[name], new[name]), f"trial {trial}: {name} is partial"
        states = {"old" if files[k] == old[k] else "new" for k in old if old[k] != new[k]}
        outcomes["mixed" if len(states) > 1 else states.pop()] += 1
        # The next run (cache on, maybe written by the killed run) reports the truth, and a
        # --fix run finishes the job and sweeps a killed writer's leftovers.
        code, rows = _findings(repo)
        assert _findings(repo, "--no-cache") == (code, rows)
        subprocess.run(
            _cli(repo, "--fix", "--unsafe-fixes"),
            cwd=repo,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert _files(repo) == new, f"trial {trial}: finishing the fix gave another result"
        assert _findings(repo) == reference["after"]
        shutil.rmtree(repo)
    print(f"interrupt trials: {outcomes}")


@pytest.mark.slow
def test_two_processes_on_one_tree_and_cache(reference: dict[str, object]) -> None:
    base, template = reference["base"], reference["template"]
    assert isinstance(base, Path) and isinstance(template, Path)
    repo = base / "concurrent"
    shutil.copytree(template, repo, symlinks=True)
    expected = _findings(repo, "--no-cache")
    for round_ in range(3):
        if round_ == 1:
            shutil.rmtree(repo / ".qaihm_lint_cache", ignore_errors=True)
        runs = [
            subprocess.Popen(
                _cli(repo, "--output-format", "json", "--jobs", jobs),
                cwd=repo,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for jobs in ("1", "2")
        ]
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == expected[0], err
            rows = [
                (
                    os.path.relpath(f["filename"], repo),
                    f["location"]["row"],
                    f["location"]["column"],
                    f["code"],
                )
                for f in json.loads(out)
            ]
            assert rows == expected[1]
    # Two --fix runs at once: both finish, the tree ends exactly as one run leaves it.
    fixers = [
        subprocess.Popen(
            _cli(repo, "--fix", "--unsafe-fixes", "--jobs", jobs),
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for jobs in ("1", "2")
    ]
    for run in fixers:
        _out, err = run.communicate(timeout=120)
        assert run.returncode in (0, 1) and "Traceback" not in err, err
    assert _files(repo) == reference["new"]
    assert _findings(repo) == reference["after"]


def test_only_dead_writers_temp_files_are_swept(tmp_path: Path) -> None:
    from qaihm_lint.fixers.apply import remove_stale_temporaries

    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    stale = tmp_path / f".info.yaml.qaihm-lint-{dead.pid}.abc123_x.tmp"
    live = tmp_path / f".info.yaml.qaihm-lint-{os.getppid()}.abc123_x.tmp"
    mine = tmp_path / f".info.yaml.qaihm-lint-{os.getpid()}.abc123_x.tmp"
    other = tmp_path / ".hidden.tmp"
    # A user's file that merely looks like a temp name of some other tool: never ours to delete.
    foreign = tmp_path / f".notes.txt.{dead.pid}.abc123_x.tmp"
    for path in (stale, live, mine, other, foreign):
        path.write_text("partial")
    assert remove_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and live.exists() and mine.exists() and other.exists()
    assert foreign.exists()
