"""docs/deep-ci.yml, the example GitHub Actions workflow, passes actionlint and shards the way
--shard expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / "docs" / "deep-ci.yml"


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    if found is None:
        pytest.fail("actionlint is missing: pip install -e '.[dev]'")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_workflow_passes_actionlint() -> None:
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_checks_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("matrix.shard", "matrix.shards", 1))
    result = lint(broken)
    assert result.returncode == 1
    assert "shards" in result.stdout


def test_matrix_and_shard_count_agree() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    shards = workflow["env"]["SHARDS"]
    deep = workflow["jobs"]["deep"]
    assert deep["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert f"/{shards}" in deep["name"]
    run = next(step["run"] for step in deep["steps"] if "--shard" in step.get("run", ""))
    assert '--shard "${{ matrix.shard }}/$SHARDS"' in run
    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == "deep" and merge["if"] == "always()"
    assert any("--merge-reports" in step.get("run", "") for step in merge["steps"])
