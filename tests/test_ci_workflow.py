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


def test_pull_request_code_never_meets_a_secret() -> None:
    # Issue 19/18: the job that runs model code has no secret and compiles nothing; the job
    # with the token never runs for a pull request; forks work because nothing needs a secret.
    text = WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    jobs = workflow["jobs"]
    assert "pull_request" in workflow[True]  # yaml reads the `on:` key as True
    for name, job in jobs.items():
        uses_secret = "secrets." in yaml.safe_dump(job)
        runs_deep = any("--deep" in step.get("run", "") for step in job["steps"])
        if uses_secret:
            assert job.get("if") == "github.event_name != 'pull_request'", name
        if runs_deep and job.get("if") != "github.event_name != 'pull_request'":
            assert not uses_secret, name
            run = next(s["run"] for s in job["steps"] if "--deep" in s.get("run", ""))
            assert "--no-compile" in run and "Compile skipped" in run
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False, name
    assert [n for n, j in jobs.items() if "secrets." in yaml.safe_dump(j)] == ["compile"]
    compile_run = next(s["run"] for s in jobs["compile"]["steps"] if "--deep" in s.get("run", ""))
    assert 'if [ -z "$QAIHUB_API_TOKEN" ]' in compile_run and "compile skipped" in compile_run


def test_concurrency_is_per_branch_and_install_is_not_pypi() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    group = workflow["concurrency"]["group"]
    assert "github.event.pull_request.number" in group and "github.ref" in group
    spec = workflow["env"]["QAIHM_LINT_SPEC"]
    assert "git+" in spec  # qaihm-lint is not published on PyPI
    # The results cache is kept outside the checkout (a cache inside the tree is refused).
    assert not workflow["env"]["QAIHM_LINT_DEEP_CACHE"].startswith(("./", "qai_hub_models"))
