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


def test_example_tree_is_the_testing_tree(tmp_path: Path) -> None:
    """examples/ is a snapshot of qaihm_lint.testing's clean tree (the one every rule example
    starts from), kept on disk for the README's first command."""
    from qaihm_lint.testing import build_tree

    generated = build_tree(tmp_path, model_id="toy_classifier").root
    shipped = ROOT / "examples"

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".qaihm_lint_cache" not in p.parts
        }

    assert files(shipped) == files(generated)


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
