"""The hooks of .pre-commit-hooks.yaml, run by the real pre-commit on a temporary repository."""

from __future__ import annotations

import os
import re
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
    readme = _readme()
    return re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL)


def _fresh_clone(tmp_path: Path) -> dict[str, str]:
    """A fresh clone of this repository (tags and all: none travel), and the environment under
    which git fetches the README's `repo:` URL from it: the URL stays exactly as the README
    writes it (git's url.<base>.insteadOf, which pre-commit passes through to git)."""
    clone = tmp_path / "qaihm-lint-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    (url,) = set(re.findall(r"^\s*- repo: (\S+)\s*$", _readme(), flags=re.MULTILINE))
    return {
        **os.environ,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{clone}.insteadOf",
        "GIT_CONFIG_VALUE_0": url,
    }


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _run_pre_commit(
    repo: Path, env: dict[str, str], home: Path
) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or "pre-commit"
    return subprocess.run(
        [pre_commit, "run", "--all-files", "--color", "never"],
        cwd=repo,
        env={**env, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_readme_snippet_works_verbatim_from_a_fresh_clone(
    tmp_path: Path, pre_commit_home: Path
) -> None:
    """The README's first snippet, byte for byte, as .pre-commit-config.yaml: its rev resolves
    in a fresh clone, the hook fails on an error and shows a warning when it passes."""
    config = next(block for block in _readme_blocks("yaml") if "--baseline" not in block)
    env = _fresh_clone(tmp_path)
    repo = _repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text(config)
    info = repo / "qai_hub_models/models/example/info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: example  # noqa: QAI101"))
    _git(repo, "add", "-A")
    warned = _run_pre_commit(repo, env, pre_commit_home)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "QAI001" in warned.stdout and "warning" in warned.stdout  # the hook is verbose
    (repo / "qai_hub_models/models/example/demo.py").unlink()
    _git(repo, "add", "-A")
    failed = _run_pre_commit(repo, env, pre_commit_home)
    assert failed.returncode == 1 and "has no demo.py" in failed.stdout, failed.stdout


def test_readme_baseline_recipe_passes_old_findings_and_fails_new_ones(
    tmp_path: Path, pre_commit_home: Path
) -> None:
    """The README's pre-commit adoption recipe, as written: write the baseline, commit it, run
    the hook with `args: [--baseline, ...]`."""
    (config,) = [block for block in _readme_blocks("yaml") if "--baseline" in block]
    (recipe,) = [block for block in _readme_blocks("bash") if "--write-baseline" in block]
    env = _fresh_clone(tmp_path)
    repo = _repo(tmp_path)
    (repo / "qai_hub_models/models/example/demo.py").unlink()  # a legacy finding (QAI101)
    (repo / ".pre-commit-config.yaml").write_text(config)
    bin_dir = Path(sys.executable).parent
    for line in recipe.strip().splitlines():
        command = line.split()
        if command[0] == "qaihm-lint":
            command[0] = str(bin_dir / "qaihm-lint")
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    assert "QAI101" in (repo / ".qaihm-lint-baseline.json").read_text()
    _git(repo, "add", "-A")

    old_only = _run_pre_commit(repo, env, pre_commit_home)
    assert old_only.returncode == 0, old_only.stdout + old_only.stderr
    assert "1 baselined finding not shown" in old_only.stdout
    info = repo / "qai_hub_models/models/example/info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: exampel"))  # a new finding (QAI701)
    _git(repo, "add", "-A")
    new = _run_pre_commit(repo, env, pre_commit_home)
    assert new.returncode == 1, new.stdout + new.stderr
    assert "QAI701" in new.stdout and "QAI101" not in new.stdout


def test_fix_hook_changes_only_the_files_of_the_commit_and_no_baselined_finding(
    tmp_path: Path, pre_commit_home: Path
) -> None:
    """A commit that changes only a comment in global_requirements.txt re-checks every model,
    and the fix hook rewrites none of them; a baselined fixable finding is never fixed."""
    (readme_config,) = [block for block in _readme_blocks("yaml") if "--baseline" in block]
    config = readme_config.replace("id: qaihm-lint\n", "id: qaihm-lint-fix\n")
    env = _fresh_clone(tmp_path)
    repo = _repo(tmp_path)
    model = repo / "qai_hub_models/models/example/model.py"
    loads = model.read_text() + "\n\ndef load(path):\n    return torch.load(path)\n"
    model.write_text(loads)
    (repo / ".qaihm-lint-baseline.json").write_text(
        '{"format": "qaihm-lint-baseline/1", "findings": []}\n'
    )
    (repo / ".pre-commit-config.yaml").write_text(config)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=ci@example.invalid", "-c", "user.name=CI", "commit", "-qm", "a")
    requirements = repo / "qai_hub_models/global_requirements.txt"
    requirements.write_text("# pinned for the CI image\n" + requirements.read_text())
    _git(repo, "add", "-A")

    def run_staged() -> subprocess.CompletedProcess[str]:
        # Without --all-files: pre-commit passes the staged files only.
        pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
        return subprocess.run(
            [pre_commit or "pre-commit", "run", "--color", "never"],
            cwd=repo,
            env={**env, "PRE_COMMIT_HOME": str(pre_commit_home), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    result = run_staged()
    assert result.returncode == 1 and "QAI502" in result.stdout, result.stdout
    assert "files were modified by this hook" not in result.stdout
    assert model.read_text() == loads
    # In the commit, but baselined: still not fixed.
    subprocess.run(
        [
            str(Path(sys.executable).parent / "qaihm-lint"),
            "--write-baseline",
            ".qaihm-lint-baseline.json",
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    model.write_text(loads + "# touched\n")
    _git(repo, "add", "-A")
    result = run_staged()
    assert result.returncode == 0, result.stdout
    assert model.read_text() == loads + "# touched\n"
