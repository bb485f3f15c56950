"""Fixes upstream made between published releases that the default rules missed (issue 17):
each case is the shape of the release before the fix, built as a small tree."""

from __future__ import annotations

from pathlib import Path

from qaihm_lint.rules.source_as_root._examples import CODE_GEN_REPOS, FULL
from qaihm_lint.testing import build_tree, lint_paths


def test_code_gen_external_repo_of_a_known_pip_package(tmp_path: Path) -> None:
    # rf_detr cloned rf-detr through code-gen.yaml's external_repos (0.54.0-0.56.0), then
    # installed the `rfdetr` package instead (0.57.0). Nothing in the tree says the package
    # is on PyPI, so it takes the configured list.
    files = {
        "code-gen.yaml": CODE_GEN_REPOS.format(sha=FULL, patch="p.diff"),
        "external_repos/p.diff": "",
    }
    tree = build_tree(tmp_path, files)
    assert lint_paths([tree.model()], select=["QAI403"]) == []
    (finding,) = lint_paths([tree.model()], select=["QAI403"], known_pip_installable=("rfdetr",))
    assert finding.path.name == "code-gen.yaml" and finding.start.row == 2
    assert "rf-detr" in finding.message
