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


def _readme_blocks(language: str) -> list[str]:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL)


def _hooks_repository(tmp_path: Path) -> Path:
    """This working tree as a git repository tagged like a release, so that the README's
    `rev:` resolves exactly as written."""
    from qaihm_lint import __version__

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    hooks = tmp_path / "qaihm-lint"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (hooks / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, hooks / name)
    _git(hooks, "init", "-q")
    _git(hooks, "add", "-A")
    _git(hooks, "-c", "user.email=ci@example.invalid", "-c", "user.name=CI", "commit", "-qm", "r")
    _git(hooks, "tag", f"v{__version__}")
    return hooks


def test_readme_baseline_recipe_passes_old_findings_and_fails_new_ones(
    tmp_path: Path, pre_commit_home: Path
) -> None:
    """The README's pre-commit adoption recipe, as written: write the baseline, commit it, run
    the hook with `args: [--baseline, ...]`."""
    (config,) = [block for block in _readme_blocks("yaml") if "--baseline" in block]
    (recipe,) = [block for block in _readme_blocks("bash") if "--write-baseline" in block]
    hooks = _hooks_repository(tmp_path)
    repo = _repo(tmp_path)
    (repo / "qai_hub_models/models/example/demo.py").unlink()  # a legacy finding (QAI101)
    config = config.replace("https://github.com/<where-you-host>/qaihm-lint", str(hooks))
    (repo / ".pre-commit-config.yaml").write_text(config)
    bin_dir = Path(sys.executable).parent
    for line in recipe.strip().splitlines():
        command = line.split()
        if command[0] == "qaihm-lint":
            command[0] = str(bin_dir / "qaihm-lint")
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    assert "QAI101" in (repo / ".qaihm-lint-baseline.json").read_text()
    _git(repo, "add", "-A")

    pre_commit = shutil.which("pre-commit", path=str(bin_dir)) or "pre-commit"
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "NO_COLOR": "1"}

    def run_hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "run", "--all-files", "--color", "never"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    old_only = run_hook()
    assert old_only.returncode == 0, old_only.stdout + old_only.stderr
    info = repo / "qai_hub_models/models/example/info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: exampel"))  # a new finding (QAI701)
    _git(repo, "add", "-A")
    new = run_hook()
    assert new.returncode == 1, new.stdout + new.stderr
    assert "QAI701" in new.stdout and "QAI101" not in new.stdout
