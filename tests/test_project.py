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
    from qaihm_lint.rule_docs import rules_markdown

    doc = ROOT / "docs" / "rules.md"
    expected = rules_markdown()
    assert doc.read_text(encoding="utf-8") == expected, (
        "docs/rules.md is stale: python -c 'from qaihm_lint.rule_docs import rules_markdown; "
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


def _third_party_imports() -> set[str]:
    import ast

    names: set[str] = set()
    for path in (ROOT / "qaihm_lint").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value.split(".")[0])
    # qai_hub_models is the code being checked (imported by deep workers), not a dependency.
    ours = {"qaihm_lint", "qai_hub_models"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in ours}


def test_mypy_reads_the_deep_modules_as_any_with_or_without_the_extra() -> None:
    """The README's Development command runs mypy in a `.[dev]` environment, CI in one with
    `[deep]` too: every module only the [deep] extra brings must be typed as Any (not followed)
    so that both give the same verdict."""
    import importlib.metadata

    from packaging.requirements import Requirement

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = (
        project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]
    )
    static_dists = {Requirement(r).name.lower().replace("_", "-") for r in declared}
    provides = importlib.metadata.packages_distributions()
    deep_only = {
        name
        for name in _third_party_imports()
        if name not in static_dists
        and not {d.lower().replace("_", "-") for d in provides.get(name, [])} & static_dists
    }
    assert {"torch", "onnx", "qai_hub"} <= deep_only  # the scan sees the lazy imports
    skipped = [
        override
        for override in project["tool"]["mypy"]["overrides"]
        if override.get("follow_imports") == "skip" and override.get("ignore_missing_imports")
    ]
    covered = {module for override in skipped for module in override["module"]}
    missing = sorted(n for n in deep_only if n not in covered or f"{n}.*" not in covered)
    assert not missing, f"add {missing} to the follow_imports = 'skip' override in pyproject.toml"


def test_readme_pre_commit_rev_is_a_commit_of_this_history() -> None:
    """Tags do not travel with every copy of the repository; a commit does. Every `rev:` in the
    README is one full SHA, reachable from HEAD (so a fresh clone has it), whose
    .pre-commit-hooks.yaml defines the hooks the README names."""
    import re
    import subprocess

    import yaml

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    revs = set(re.findall(r"^\s*rev:\s*(\S+)\s*$", readme, flags=re.MULTILINE))
    assert len(revs) == 1, revs
    (rev,) = revs
    assert re.fullmatch(r"[0-9a-f]{40}", rev), f"rev {rev!r} is not a full commit SHA"
    ancestor = subprocess.run(
        ["git", "merge-base", "--is-ancestor", rev, "HEAD"], cwd=ROOT, capture_output=True
    )
    assert ancestor.returncode == 0, f"{rev} is not in this history (a shallow clone?)"
    hooks = subprocess.run(
        ["git", "show", f"{rev}:.pre-commit-hooks.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = {hook["id"] for hook in yaml.safe_load(hooks)}
    named = set(re.findall(r"^\s*- id: (\S+)", readme, flags=re.MULTILINE))
    named |= set(re.findall(r"# or (qaihm-lint-\w+)", readme))
    assert named and named <= ids, (named, ids)


def test_readme_configuration_example_is_a_valid_configuration() -> None:
    import re

    from qaihm_lint.config import settings_from_table

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # The configuration's block (the README's Editors section has a Helix languages.toml too).
    (block,) = [
        b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL) if "[tool." in b
    ]
    settings = settings_from_table(tomllib.loads(block)["tool"]["qaihm-lint"], None)
    assert settings.max_warnings == 0 and settings.per_model_ignores


@pytest.mark.slow
def test_building_the_package_warns_of_nothing_deprecated(tmp_path: Path) -> None:
    """setuptools deprecates the `license = {text = ...}` table: pyproject.toml uses the SPDX
    string, so an install prints no deprecation warning."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "deprecat" not in output.lower(), output
    (wheel,) = tmp_path.glob("qaihm_lint-*.whl")
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        assert "License-Expression: BSD-3-Clause" in archive.read(metadata).decode()
