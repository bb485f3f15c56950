"""Adopting the linter with a baseline: old findings stay quiet, new ones are reported."""

from __future__ import annotations

import json

from qaihm_lint.testing import INFO_YAML, Tree
from tests.conftest import RunCli


def test_baseline_survives_unrelated_line_moves(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: old"))
    baseline = tree.root / "baseline.json"
    code, _, err = run_cli(tree.model(), "--write-baseline", baseline)
    assert code == 0 and "Wrote 1 finding" in err
    data = json.loads(baseline.read_text())
    assert data["findings"] == [
        {
            "code": "QAI701",
            "file": "qai_hub_models/models/example/info.yaml",
            "anchor": "id: old",
            "count": 1,
        }
    ]
    assert run_cli(tree.model(), "--baseline", baseline)[0] == 0

    # Lines inserted above the baselined finding move it; it is still the same finding.
    info.write_text("# a comment\n# another\n" + info.read_text())
    code, out, _ = run_cli(tree.model(), "--baseline", baseline)
    assert code == 0, out

    # A new finding is reported.
    (tree.model() / "demo.py").unlink()
    code, out, _ = run_cli(tree.model(), "--baseline", baseline, "--output-format", "concise")
    assert code == 1 and "QAI101" in out and "QAI701" not in out


def test_baseline_counts_identical_findings(tree: Tree, run_cli: RunCli) -> None:
    text = INFO_YAML + "name: Again\n"
    tree.write("models/example/info.yaml", text)
    baseline = tree.root / "baseline.json"
    run_cli(tree.model(), "--write-baseline", baseline)
    tree.write("models/example/info.yaml", text + "name: Again\n")
    code, out, _ = run_cli(tree.model(), "--baseline", baseline, "--output-format", "concise")
    assert code == 1 and out.count("QAI701") == 1


def test_bad_baseline_file(tree: Tree, run_cli: RunCli) -> None:
    baseline = tree.root / "baseline.json"
    baseline.write_text("[1, 2]")
    code, _, err = run_cli(tree.model(), "--baseline", baseline)
    assert code == 2 and "not a qaihm-lint baseline" in err
    baseline.write_text("{")
    code, _, err = run_cli(tree.model(), "--baseline", baseline)
    assert code == 2 and "not valid JSON" in err
