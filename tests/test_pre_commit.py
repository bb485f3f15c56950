"""The hooks of .pre-commit-hooks.yaml, run by the real pre-commit on a temporary repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qaihm_lint.testing import INFO_YAML, build_tree

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One hook environment for the module: installing it is the slow part.
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(repo: Path, home: Path, hook: str) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or "pre-commit"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run(
        [pre_commit, "try-repo", str(ROOT), hook, "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "checkout"
    build_tree(repo)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "ci@example.invalid")
    _git(repo, "config", "user.name", "CI")
    return repo


def test_lint_hook_fails_on_a_broken_model(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "qai_hub_models/models/example/demo.py").unlink()
    _git(repo, "add", "-A")
    result = _try_repo(repo, pre_commit_home, "qaihm-lint")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "QAI101" in result.stdout and "has no demo.py" in result.stdout


def test_fix_hook_rewrites_then_passes(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repo(tmp_path)
    info = repo / "qai_hub_models/models/example/info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: example  # noqa: QAI701"))
    _git(repo, "add", "-A")
    first = _try_repo(repo, pre_commit_home, "qaihm-lint-fix")
    assert first.returncode == 1, first.stdout + first.stderr  # files were modified
    assert "files were modified by this hook" in first.stdout
    assert info.read_text() == INFO_YAML
    _git(repo, "add", "-A")
    second = _try_repo(repo, pre_commit_home, "qaihm-lint-fix")
    assert second.returncode == 0, second.stdout + second.stderr
