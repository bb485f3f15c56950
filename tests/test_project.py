"""The project's own promises: the README's commands are the ones CI runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest -q\n" in readme
    assert ".venv/bin/python -m pytest -q\n" in ci
    assert ".venv/bin/qaihm-lint examples/qai_hub_models/models/toy_classifier" in readme
    assert ".venv/bin/qaihm-lint examples/qai_hub_models/models/toy_classifier\n" in ci


def test_example_folder_is_clean() -> None:
    from qaihm_lint.testing import lint_paths

    assert lint_paths([ROOT / "examples/qai_hub_models/models/toy_classifier"]) == []


def test_rules_reference_is_generated_from_the_rules() -> None:
    from qaihm_lint.cli import rules_markdown

    doc = ROOT / "docs" / "rules.md"
    expected = rules_markdown()
    assert doc.read_text(encoding="utf-8") == expected, (
        "docs/rules.md is stale: python -c 'from qaihm_lint.cli import rules_markdown; "
        'print(rules_markdown(), end="")\' > docs/rules.md'
    )


@pytest.mark.slow
def test_ruff_and_mypy_are_clean(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    for command in (
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy")],
    ):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
