"""Hostile trees, one test each: whatever a model folder holds, qaihm-lint ends with findings or
one clear line, in bounded time, and a fix never corrupts, follows a link out or writes a file it
must not."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from qaihm_lint.config import Settings
from qaihm_lint.engine import folder as engine_folder
from qaihm_lint.engine import lint, make_plan
from qaihm_lint.testing import INFO_YAML, MODEL_PY, Tree, build_tree
from qaihm_lint.workspace import discover
from tests.conftest import RunCli
from tests.reliability._support import changed_entries, check_findings, snapshot

UNUSED_NOQA_YAML = INFO_YAML.replace("id: example\n", "id: example  # noqa: QAI701\n")


def run_json(run_cli: RunCli, *args: str | Path) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    code, out, err = run_cli(*args, "--output-format", "json", "--no-cache")
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1), (code, err)
    findings = json.loads(out)
    for finding in findings:
        assert finding["location"]["row"] >= 1 and finding["location"]["column"] >= 1, finding
        assert finding["code"] != "QAI002", finding
    return code, findings, err


def codes_in(findings: list[dict], name: str) -> set[str]:  # type: ignore[type-arg]
    return {f["code"] for f in findings if Path(f["filename"]).name == name}


# ---------------------------------------------------------------------------------------------
# Contents


def test_empty_model_py(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "model.py").write_bytes(b"")
    code, findings, _ = run_json(run_cli, tree.model())
    assert code == 1 and "QAI102" in {f["code"] for f in findings}


def test_binary_model_py(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "model.py").write_bytes(bytes(range(256)) * 40)
    code, findings, _ = run_json(run_cli, tree.model())
    assert code == 1 and "QAI000" in codes_in(findings, "model.py")


@pytest.mark.parametrize(
    "name", ["model.py", "export.py", "info.yaml", "requirements.txt", "code-gen.yaml"]
)
def test_five_megabyte_generated_looking_file(tree: Tree, run_cli: RunCli, name: str) -> None:
    if name.endswith(".py"):
        head = (
            "# THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY.\n" if name == "export.py" else ""
        )
        line = "WEIGHTS_{0} = [" + ", ".join(["0.123456789"] * 20) + "]\n"
    elif name == "requirements.txt":
        head, line = "", "package-{0}==1.0.{0}\n"
    else:
        head, line = "", "key_{0}: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\n"
    parts, size, i = [head], len(head), 0
    while size < 5_000_000:
        parts.append(line.format(i))
        size += len(parts[-1])
        i += 1
    (tree.model() / name).write_text("".join(parts))
    started = time.monotonic()
    code, findings, _ = run_json(run_cli, tree.model())
    assert time.monotonic() - started < 30
    if name not in ("export.py", "requirements.txt"):  # 100,000 pinned requirements are fine
        assert code == 1 and codes_in(findings, name), findings


BAD_BYTES = b"name = 'caf\xe9'\n"


@pytest.mark.parametrize(
    "name",
    [
        "model.py",
        "app.py",
        "test.py",
        "__init__.py",
        "info.yaml",
        "requirements.txt",
        "code-gen.yaml",
    ],
)
def test_non_utf8_file_is_a_finding(tree: Tree, run_cli: RunCli, name: str) -> None:
    path = tree.model() / name
    old = path.read_bytes() if path.exists() else b""
    path.write_bytes(old + BAD_BYTES.replace(b"name = ", b"# "))
    code, findings, _ = run_json(run_cli, tree.model(), "--select", "ALL")
    assert code == 1 and codes_in(findings, name), findings


@pytest.mark.parametrize(
    "name", ["model.py", "app.py", "test.py", "__init__.py", "info.yaml", "requirements.txt"]
)
def test_bom_prefixed_files_are_read_normally(tree: Tree, run_cli: RunCli, name: str) -> None:
    path = tree.model() / name
    if not path.exists():
        path.write_text("torch==2.4.0\n")
    before_code, before, _ = run_json(run_cli, tree.model())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, findings, _ = run_json(run_cli, tree.model())
    assert (code, findings) == (before_code, before)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("name", ["info.yaml", "model.py", "requirements.txt"])
def test_crlf_survives_a_fix(tree: Tree, run_cli: RunCli, name: str, bom: bytes) -> None:
    """QAI001's fix (an unused noqa) on a CRLF file: only that comment goes, every line keeps
    its CRLF, the BOM stays."""
    path = tree.model() / name
    if name == "info.yaml":
        text = UNUSED_NOQA_YAML
    elif name == "model.py":
        text = MODEL_PY.replace(
            "MODEL_ASSET_VERSION = 1\n", "MODEL_ASSET_VERSION = 1  # noqa: QAI701\n"
        )
    else:
        text = "torch==2.4.0  # noqa: QAI701\nnumpy==1.26.4\n"
    path.write_bytes(bom + text.replace("\n", "\r\n").encode())
    code, _out, err = run_cli(tree.model(), "--fix", "--no-cache")
    assert code == 0, err
    expected = text.replace("  # noqa: QAI701", "").replace("\n", "\r\n").encode()
    assert path.read_bytes() == bom + expected


def test_tabs(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    model.write_text(MODEL_PY.replace("    ", "\t"))
    code, findings, _ = run_json(run_cli, tree.model())
    assert code == 0, findings  # tab-indented Python is Python
    model.write_text(MODEL_PY + "\n\ndef mixed():\n        x = 1\n\treturn x\n")
    code, findings, _ = run_json(run_cli, tree.model())
    assert code == 1 and "QAI000" in codes_in(findings, "model.py")  # TabError, reported
    (tree.model() / "info.yaml").write_text(INFO_YAML.replace("- Phone", "\t- Phone"))
    code, findings, _ = run_json(run_cli, tree.model())
    assert "QAI701" in codes_in(findings, "info.yaml")


@pytest.mark.parametrize("name", ["info.yaml", "code-gen.yaml"])
def test_yaml_alias_bomb(tree: Tree, run_cli: RunCli, name: str) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 30)]
    (tree.model() / name).write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    code, findings, _ = run_json(run_cli, tree.model(), "--select", "ALL")
    assert time.monotonic() - started < 10
    assert code == 1 and codes_in(findings, name)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "{a: " * 50_000,
        "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 2000)),
        "- " * 20_000 + "x\n",
    ],
)
def test_deeply_nested_yaml(tree: Tree, run_cli: RunCli, text: str) -> None:
    (tree.model() / "info.yaml").write_text(text)
    started = time.monotonic()
    code, findings, _ = run_json(run_cli, tree.model())
    assert time.monotonic() - started < 10
    assert code == 1 and "QAI701" in codes_in(findings, "info.yaml")


def test_deeply_nested_python_blocks(tree: Tree, run_cli: RunCli) -> None:
    body = "".join("    " * i + f"if x{i}:\n" for i in range(99)) + "    " * 99 + "pass\n"
    (tree.model() / "app.py").write_text(body)
    (tree.model() / "demo.py").write_text(
        "".join("    " * i + f"def f{i}():\n" for i in range(120)) + "    " * 120 + "pass\n"
    )
    code, findings, _ = run_json(run_cli, tree.model())
    assert code == 1 and "QAI000" in codes_in(findings, "demo.py")  # too many indentation levels


@pytest.mark.parametrize("depth", [900, 2900])
def test_deeply_nested_python_expressions_with_fixes(
    tree: Tree, run_cli: RunCli, depth: int
) -> None:
    """Expressions as deep as ``ast`` accepts, in files every rule and fixer visits."""
    deep_attr = "a." * depth + "b"
    deep_sum = "1 + " * depth + "1"
    (tree.model() / "app.py").write_text(
        f"import sys\nimport torch\n\nX = {deep_sum}\nW = torch.load({deep_attr})\n"
        f"sys.path.append({deep_attr})\n"
    )
    (tree.model() / "model.py").write_text(
        MODEL_PY.replace("    @classmethod\n    def from_pretrained", "    def from_pretrained")
        + f"\n\nDEEP = {deep_attr}\nSUM = {deep_sum}\n"
    )
    (tree.model() / "test.py").write_text(f"import pytest\n\nY = {deep_sum}\n")
    before = snapshot(tree.root)
    code, _findings, _ = run_json(run_cli, tree.model(), "--select", "ALL")
    assert code == 1
    code, _out, err = run_cli(
        tree.model(), "--fix", "--unsafe-fixes", "--no-cache", "--select", "ALL"
    )
    assert "QAI002" not in _out and "Traceback" not in err, _out + err
    for relative in changed_entries(before, snapshot(tree.root)):
        if relative.endswith(".py"):
            import ast

            ast.parse((tree.root / relative).read_bytes())


# ---------------------------------------------------------------------------------------------
# Links, permissions, special files


def test_symlink_loops_are_not_followed(tree: Tree, run_cli: RunCli) -> None:
    model, package = tree.model(), tree.package
    os.symlink("..", model / "loop")
    os.symlink(".", model / "self")
    os.symlink(package, package / "models" / "_shared" / "package_loop")
    os.symlink(tree.root, package / "utils" / "up")
    os.symlink("nowhere", model / "dangling.py")
    os.symlink("b.py", model / "a.py")
    os.symlink("a.py", model / "b.py")  # a.py <-> b.py: a loop of file links
    started = time.monotonic()
    code, _findings, _ = run_json(run_cli, tree.root, "--select", "ALL")
    assert time.monotonic() - started < 20
    run_json(run_cli, tree.root, "--select", "ALL", "--jobs", "2")
    code, _out, err = run_cli(tree.root, "--fix", "--unsafe-fixes", "--no-cache")
    assert code in (0, 1) and "Traceback" not in err


def test_symlinks_pointing_outside_are_never_written(tmp_path: Path, run_cli: RunCli) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "info.yaml").write_text(UNUSED_NOQA_YAML)
    (outside / "requirements.txt").write_text("torch==2.4.0  # noqa: QAI701\n")
    foreign_model = outside / "foreign_model"
    shutil.copytree(build_tree(tmp_path / "donor").model(), foreign_model)
    (foreign_model / "info.yaml").write_text(UNUSED_NOQA_YAML)
    tree = build_tree(tmp_path / "repo")
    model = tree.model()
    (model / "info.yaml").unlink()
    os.symlink(outside / "info.yaml", model / "info.yaml")
    os.symlink(outside / "requirements.txt", model / "requirements.txt")
    os.symlink(outside, model / "assets")
    os.symlink(foreign_model, tree.package / "models" / "linked_model")
    before_outside = snapshot(outside)
    before_tree = snapshot(tree.root)

    # --max-warnings 0: the unfixed QAI001 warnings must fail the run.
    code, out, err = run_cli(
        tree.root, "--fix", "--no-cache", "--output-format", "concise", "--max-warnings", "0"
    )
    assert code == 1, out + err
    # Files linked out of the repository are not the repository's: never read (so no line
    # of theirs is printed), never fixed.
    assert "torch==2.4.0" not in out + err
    assert snapshot(outside) == before_outside
    assert snapshot(tree.root) == before_tree  # links stay links, nothing written
    assert "linked_model" not in out  # a symlinked model folder is not a model of this tree


def test_read_only_file_is_reported_and_not_written(tree: Tree, run_cli: RunCli) -> None:
    info = tree.model() / "info.yaml"
    info.write_text(UNUSED_NOQA_YAML)
    info.chmod(0o444)
    try:
        before = snapshot(tree.root)
        code, out, err = run_cli(
            tree.model(), "--fix", "--no-cache", "--output-format", "concise", "--max-warnings", "0"
        )
        assert code == 1 and "read-only" in err and "QAI001" in out
        assert snapshot(tree.root) == before
        assert stat.S_IMODE(info.stat().st_mode) == 0o444
    finally:
        info.chmod(0o644)


def test_read_only_folder_write_failure_is_reported(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder refuses new files (simulated: tests may run as root): the fix is reported as
    not written, the findings stay, the exit status says so, no temp file is left."""
    import tempfile

    info = tree.model() / "info.yaml"
    info.write_text(UNUSED_NOQA_YAML)
    real_mkstemp = tempfile.mkstemp

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(kwargs.get("dir", "")) == tree.model():
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    before = snapshot(tree.root)
    code, out, err = run_cli(
        tree.model(), "--fix", "--no-cache", "--output-format", "concise", "--max-warnings", "0"
    )
    assert code == 1 and "cannot write" in err and "QAI001" in out, out + err
    assert snapshot(tree.root) == before


def test_unreadable_file_is_a_finding(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tree.model() / "app.py"
    if os.geteuid() != 0:
        target.chmod(0)
    else:  # root reads anything: simulate the refusal
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self == target:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    try:
        code, out, err = run_cli(
            tree.model(), "--no-cache", "--jobs", "1", "--output-format", "concise"
        )
        assert code == 1 and "app.py cannot be read: permission denied" in out, out + err
    finally:
        target.chmod(0o644)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("name", ["model.py", "info.yaml", "requirements.txt"])
def test_named_pipe_does_not_hang(tree: Tree, name: str) -> None:
    import subprocess

    target = tree.model() / name
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    completed = subprocess.run(
        [sys.executable, "-m", "qaihm_lint", str(tree.model()), "--no-cache", "--fix"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tree.root,
    )
    assert completed.returncode in (0, 1), completed.stderr
    assert "Traceback" not in completed.stderr


# ---------------------------------------------------------------------------------------------
# A tree that changes under the run


def test_folder_disappears_between_discover_and_lint(tree: Tree) -> None:
    other = build_tree(tree.root, other_models={"second": {}}).model("second")
    workspace = discover([tree.package])
    shutil.rmtree(tree.model())
    settings = Settings(jobs=1, use_cache=True)
    result = lint(workspace, make_plan(settings))
    check_findings(result.diagnostics)
    assert not [d for d in result.diagnostics if d.path.is_relative_to(other)]


@pytest.mark.parametrize("when", ["first-rule", "python-rules"])
def test_folder_disappears_while_rules_run(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    from qaihm_lint.rules.files import MissingRequiredFile

    gone = {"done": False}

    def vanish() -> None:
        if not gone["done"]:
            gone["done"] = True
            shutil.rmtree(tree.model())

    if when == "first-rule":
        original = MissingRequiredFile.check

        def check(self) -> None:  # type: ignore[no-untyped-def]
            vanish()
            original(self)

        monkeypatch.setattr(MissingRequiredFile, "check", check)
    else:
        original_walk = engine_folder.walk_file

        def walk(*args, **kwargs):  # type: ignore[no-untyped-def]
            vanish()
            return original_walk(*args, **kwargs)

        monkeypatch.setattr(engine_folder, "walk_file", walk)
    code, out, err = run_cli(tree.package, "--jobs", "1", "--output-format", "concise")
    assert gone["done"]
    assert code in (0, 1) and "Traceback" not in err and "internal error" not in err, out + err
    assert "QAI002" not in out, out
    # And the next run, cache on, sees the folder gone.
    code, out, err = run_cli(tree.package, "--jobs", "1")
    assert code == 2 and "no model folders" in err


def test_folder_disappears_before_fixes_are_written(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree.model() / "info.yaml").write_text(UNUSED_NOQA_YAML)
    import qaihm_lint.cli as cli

    original = cli.lint_with_fixes

    def then_vanish(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = original(*args, **kwargs)
        shutil.rmtree(tree.model())
        return outcome

    monkeypatch.setattr(cli, "lint_with_fixes", then_vanish)
    code, out, err = run_cli(tree.model(), "--fix", "--no-cache", "--output-format", "concise")
    assert code in (1, 2) and "Traceback" not in err, out + err
    assert "cannot write" in err
    assert not tree.model().exists()  # nothing recreated it


# ---------------------------------------------------------------------------------------------
# Scale and names


@pytest.mark.slow
def test_two_thousand_model_folders(tmp_path: Path, run_cli: RunCli) -> None:
    tree = build_tree(tmp_path / "repo")
    models = tree.package / "models"
    template = tree.model()
    expected = set()
    for i in range(2000):
        target = models / f"m{i:04d}"
        target.mkdir()
        for source in template.iterdir():
            data = source.read_bytes()
            if source.name == "info.yaml":
                data = data.replace(b"id: example", f"id: m{i:04d}".encode())
            else:
                data = data.replace(b"models.example.", f"models.m{i:04d}.".encode())
            (target / source.name).write_bytes(data)
        if i % 10 == 3:
            (target / "demo.py").unlink()
            expected.add(f"m{i:04d}")
    started = time.monotonic()
    code, out, err = run_cli(tree.package, "--output-format", "json", "--jobs", "2")
    cold = time.monotonic() - started
    assert code == 1, err
    findings = json.loads(out)
    assert {f["model_id"] for f in findings} == expected
    assert {f["code"] for f in findings} == {"QAI101"}
    assert len(findings) == len(expected)
    started = time.monotonic()
    code, warm_out, _ = run_cli(tree.package, "--output-format", "json", "--jobs", "2")
    warm = time.monotonic() - started
    assert warm_out == out and code == 1
    assert cold < 120 and warm < cold


def test_spaces_and_unicode_in_paths(tmp_path: Path, run_cli: RunCli) -> None:
    model_id = "mödel_ünïcode_模型"
    tree = build_tree(tmp_path / "my répo with spaces" / "and more", model_id=model_id)
    model = tree.model(model_id)
    info = model / "info.yaml"
    info.write_text(
        info.read_text().replace(f"id: {model_id}\n", f"id: {model_id}  # noqa: QAI701\n")
    )
    (model / "demo file.py").write_text("x = 'é'  # noqa: QAI101\n")
    code, findings, _ = run_json(run_cli, model, "--max-warnings", "0")
    assert code == 1 and {Path(f["filename"]).name for f in findings} == {
        "info.yaml",
        "demo file.py",
    }
    assert all(f["model_id"] == model_id for f in findings)
    code, _out, err = run_cli(model, "--fix")
    assert code == 0, err
    assert "noqa" not in info.read_text() and (model / "demo file.py").read_text() == "x = 'é'\n"
    code, _out, _err = run_cli(model)  # cache on
    assert code == 0
