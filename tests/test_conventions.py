"""The conventions a contributor expects from ruff and ESLint: --list-rules as JSON,
--extend-select, --show-fixes, what a baseline hid, fixes confined to the files given (and never
for a baselined finding), and an error that points at the repository root."""

from __future__ import annotations

import json

import pytest

from qaihm_lint.catalogue import CATALOGUE
from qaihm_lint.testing import INFO_YAML, MODEL_PY, Tree
from tests.conftest import RunCli

UNUSED_NOQA = INFO_YAML.replace("id: example", "id: example  # noqa: QAI101")
TORCH_LOAD = MODEL_PY + "\n\ndef load(path: str) -> object:\n    return torch.load(path)\n"


def test_list_rules_as_json(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--list-rules", "--output-format", "json")
    assert code == 0
    rules = {row["code"]: row for row in json.loads(out)}
    assert list(rules) == list(CATALOGUE)
    assert rules["QAI502"]["name"] == "torch-load-without-map-location"
    assert rules["QAI502"]["fix"] == "safe" and rules["QAI205"]["enabled_by_default"] is False
    assert rules["QAI001"]["severity"] == "warning"
    assert rules["QAI701"]["explanation"].startswith("QAI701 (invalid-info-yaml)")
    code, _, err = run_cli("--list-rules", "--output-format", "sarif")
    assert code == 2 and "--list-rules prints text or json" in err


def test_extend_select_adds_to_the_selection(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "demo.py").unlink()
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: exampel"))
    args = (tree.model(), "--no-cache", "--output-format", "concise")
    _, out, _ = run_cli(*args, "--select", "QAI7")
    assert "QAI701" in out and "QAI101" not in out
    _, out, _ = run_cli(*args, "--select", "QAI7", "--extend-select", "QAI101")
    assert "QAI701" in out and "QAI101" in out
    # In the config as in ruff: on top of the default selection, an exact code enables an
    # off-by-default rule.
    (tree.root / "pyproject.toml").write_text(
        '[tool.qaihm-lint]\nextend-select = ["input-spec-arg-without-default"]\n'
    )
    model = tree.model() / "model.py"
    model.write_text(model.read_text().replace("def get_input_spec(", "def get_input_spec(size, "))
    _, out, _ = run_cli(*args)
    assert "QAI205" in out and "QAI101" in out
    _, out, _ = run_cli(*args, "--select", "QAI1")  # the command line's selection starts afresh
    assert "QAI205" not in out and "QAI101" in out
    code, _, err = run_cli(*args, "--extend-select", "QAI99")
    assert code == 2 and "--extend-select: unknown rule selector 'QAI99'" in err


def test_show_fixes_lists_what_was_fixed(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/info.yaml", UNUSED_NOQA)
    tree.write("models/example/model.py", TORCH_LOAD)
    code, out, _ = run_cli(tree.model(), "--fix", "--show-fixes", "--no-cache")
    assert code == 0
    assert "Fixed 2 findings:\n" in out
    assert "info.yaml:\n    1 \u00d7 QAI001 (unused-noqa)\n" in out
    assert "model.py:\n    1 \u00d7 QAI502 (torch-load-without-map-location)\n" in out
    _, out, _ = run_cli(tree.model(), "--fix", "--show-fixes", "--no-cache")
    assert "No fixes applied." in out
    _, out, _ = run_cli(tree.model(), "--fix", "--no-cache")
    assert "Fixed" not in out and "No fixes" not in out


def test_a_baselined_run_says_how_many_findings_it_hid(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "demo.py").unlink()
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: exampel"))
    baseline = tree.root / "baseline.json"
    assert run_cli(tree.model(), "--write-baseline", baseline)[0] == 0
    code, out, _ = run_cli(tree.model(), "--baseline", baseline, "--no-cache")
    assert code == 0
    assert "All checks passed! (checked 1 model folder; 2 baselined findings not shown)" in out
    tree.write("models/example/model.py", TORCH_LOAD)
    code, out, _ = run_cli(tree.model(), "--baseline", baseline, "--no-cache")
    assert code == 1 and "Found 1 error (2 baselined findings not shown)." in out


def test_fix_changes_only_the_files_given(tree: Tree, run_cli: RunCli) -> None:
    """pre-commit passes the files a commit changed; a changed global_requirements.txt
    re-checks every model, but the hook must not rewrite files outside the commit."""
    tree.write("models/example/info.yaml", UNUSED_NOQA)
    tree.write("models/example/model.py", TORCH_LOAD)
    info, model = tree.model() / "info.yaml", tree.model() / "model.py"
    code, out, _ = run_cli(tree.package / "global_requirements.txt", "--fix", "--no-cache")
    assert code == 1 and "QAI502" in out  # reported, not fixed
    assert info.read_text() == UNUSED_NOQA and model.read_text() == TORCH_LOAD
    run_cli(info, "--fix", "--no-cache")
    assert info.read_text() == INFO_YAML and model.read_text() == TORCH_LOAD
    run_cli(tree.model(), "--fix", "--no-cache")  # a folder: everything under it
    assert 'map_location="cpu"' in model.read_text()


def test_fix_never_touches_a_baselined_finding(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/model.py", TORCH_LOAD)
    baseline = tree.root / "baseline.json"
    run_cli(tree.model(), "--write-baseline", baseline)
    tree.write("models/example/info.yaml", UNUSED_NOQA)  # new since the baseline
    code, out, _ = run_cli(tree.model(), "--fix", "--baseline", baseline, "--no-cache")
    assert code == 0, out
    assert (tree.model() / "info.yaml").read_text() == INFO_YAML
    assert (tree.model() / "model.py").read_text() == TORCH_LOAD


def test_outside_the_package_the_error_points_at_the_repository_root(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tree.root / "scripts" / "util"
    scripts.mkdir(parents=True)
    monkeypatch.chdir(scripts)
    code, _, err = run_cli()
    assert code == 2 and err.count("\n") == 1
    assert "the repository root is ../..: run `qaihm-lint ../..` or run it there" in err
