"""One small tree per era of upstream's framework (issue 17): a clean model of that era is clean
under the default rules, and each era's own mistakes are found, read from the tree's framework."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qaihm_lint.rules._eras import GENERATED_ERA, INSTANCE_ERA, STATIC_ERA, WORKBENCH_ERA
from qaihm_lint.testing import MODEL_PY, build_tree, lint_paths
from qaihm_lint.workspace import Layout
from tests.conftest import RunCli

STATIC_NAMES = (
    '    @staticmethod\n    def get_output_names() -> list[str]:\n        return ["features"]'
)
STATIC_SPEC = (
    '    @staticmethod\n    def get_output_spec() -> dict:\n        return {"features": None}'
)
INSTANCE_INPUT = "    def get_input_spec(self, height: int = 224, width: int = 224)"
STATIC_INPUT = "    @staticmethod\n    def get_input_spec(height: int = 224, width: int = 224)"
INSTANCE_NAMES = STATIC_NAMES.replace("    @staticmethod\n", "").replace("names()", "names(self)")
INSTANCE_SPEC = STATIC_SPEC.replace("    @staticmethod\n", "").replace("spec()", "spec(self)")

# The transitional era's code-gen schema knows `external_repos` (0.54 to 0.58).
CODE_GEN_SCHEMA = """\
from pydantic import BaseModel


class QAIHMModelCodeGen(BaseModel):
    is_aimet: bool = False
    supported_precisions: list[str] = []
    global_requirements_incompatible: bool = False
    external_repos: dict[str, dict[str, str]] = {}
"""
EXTERNAL_REPOS = """\
supported_precisions:
- float
external_repos:
  example_repo:
    repo_url: https://github.com/example/example
    commit_sha: 4c50fd3a46bdf63dbf2082c5cbb3458d39579e6c
"""

ERAS = {
    "static": (STATIC_ERA, Layout.INFO, MODEL_PY, {}),
    "generated": (GENERATED_ERA, Layout.INFO, MODEL_PY.replace(STATIC_NAMES, STATIC_SPEC), {}),
    "instance": (
        INSTANCE_ERA,
        Layout.INFO,
        MODEL_PY.replace(STATIC_INPUT, INSTANCE_INPUT).replace(STATIC_NAMES, INSTANCE_NAMES),
        {"code-gen.yaml": EXTERNAL_REPOS},
    ),
    "workbench": (
        WORKBENCH_ERA,
        Layout.MANIFEST,
        MODEL_PY.replace(STATIC_INPUT, INSTANCE_INPUT).replace(STATIC_NAMES, INSTANCE_SPEC),
        {"scorecard-config.yaml": "global_requirements_incompatible: false\n"},
    ),
}


def _lint(tmp_path: Path, era: str, model_py: str | None = None) -> list[str]:
    base, layout, clean, extra = ERAS[era]
    tree = build_tree(
        tmp_path,
        {"model.py": model_py if model_py is not None else clean, **extra},
        package_files={"utils/base_model.py": base, "configs/code_gen_yaml.py": CODE_GEN_SCHEMA},
        layout=layout,
    )
    return [f"{d.code} {d.path.name}:{d.start.row}" for d in lint_paths([tree.model()])]


@pytest.mark.parametrize("era", sorted(ERAS))
def test_a_clean_model_of_each_era_has_no_finding(tmp_path: Path, era: str) -> None:
    assert _lint(tmp_path, era) == []


def test_static_era_asks_for_static_spec_methods(tmp_path: Path) -> None:
    instance = MODEL_PY.replace(STATIC_INPUT, INSTANCE_INPUT)
    assert _lint(tmp_path, "static", instance) == ["QAI204 model.py:24"]


@pytest.mark.parametrize(
    ("era", "names"), [("instance", INSTANCE_NAMES), ("workbench", INSTANCE_SPEC)]
)
def test_instance_eras_accept_instance_and_static_spec_methods(
    tmp_path: Path, era: str, names: str
) -> None:
    # 0.54 turned about 170 static methods into instance methods: neither shape is a finding.
    assert _lint(tmp_path, era, MODEL_PY.replace(STATIC_NAMES, names)) == []


def test_get_output_spec_alone_is_enough_only_where_the_framework_generates_names(
    tmp_path: Path,
) -> None:
    spec_only = MODEL_PY.replace(STATIC_NAMES, STATIC_SPEC)
    assert _lint(tmp_path / "generated", "generated", spec_only) == []
    assert _lint(tmp_path / "static", "static", spec_only) == ["QAI201 model.py:12"]


def test_workbench_era_asks_for_get_output_spec(tmp_path: Path) -> None:
    names_only = MODEL_PY.replace(STATIC_INPUT, INSTANCE_INPUT).replace(
        STATIC_NAMES, INSTANCE_NAMES
    )
    assert _lint(tmp_path, "workbench", names_only) == ["QAI201 model.py:12"]


def test_verbose_facts_say_where_each_expectation_was_read(tmp_path: Path) -> None:
    from qaihm_lint.rules.framework import framework_facts
    from qaihm_lint.workspace import Package

    tree = build_tree(tmp_path / "g", package_files={"utils/base_model.py": GENERATED_ERA})
    facts = framework_facts(Package(tree.package))
    assert facts[0] == "get_input_spec: static (HubModel, utils/base_model.py:27)"
    assert facts[1].endswith("generated from get_output_spec")
    assert "built-in" in facts[-3] and facts[-1] == "code-gen.yaml schema: the 0.46.1 schema"
    tree = build_tree(tmp_path / "w", layout=Layout.MANIFEST)
    assert framework_facts(Package(tree.package))[0].startswith(
        "get_input_spec: instance method (WorkbenchModel"
    )


def test_verbose_says_what_the_rules_read_and_keeps_json_parsable(
    tmp_path: Path, run_cli: RunCli
) -> None:
    tree = build_tree(tmp_path, package_files={"utils/base_model.py": INSTANCE_ERA})
    code, out, err = run_cli("--verbose", "--no-cache", "--output-format", "json", tree.model())
    assert code == 0 and json.loads(out) == []
    assert "get_input_spec: instance method (HubModel, utils/base_model.py:" in err
    assert "precisions: built-in" in err
