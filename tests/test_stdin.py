"""``--stdin-filename PATH`` and ``-``: a piped buffer linted (and fixed) as the file PATH, in
PATH's model folder, without touching the disk."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qaihm_lint.cli import main
from qaihm_lint.testing import INFO_YAML, MODEL_PY, Tree

NO_DEFAULT = MODEL_PY.replace('weights: str = "default"', "weights: str")
UNMAPPED_LOAD = MODEL_PY.replace(
    "        return cls(torch.nn.Conv2d(3, 8, 3))",
    "        net = torch.load(weights)\n        return cls(net)",
)

Piped = Callable[..., tuple[int, bytes, str]]


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]) -> Piped:
    """Run the CLI in this process with ``data`` on standard input; (status, stdout bytes,
    stderr text)."""

    def run(data: bytes | str, *args: str | Path) -> tuple[int, bytes, str]:
        raw = data.encode() if isinstance(data, str) else data
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        code = main(["--no-cache", *(str(arg) for arg in args)])
        sys.stdout.flush()
        out, err = capfdbinary.readouterr()
        return code, out, err.decode()

    return run


def test_the_buffer_is_linted_not_the_file_on_disk(tree: Tree, piped: Piped) -> None:
    model = tree.model() / "model.py"
    code, out, _ = piped(NO_DEFAULT, "--stdin-filename", model)
    assert code == 1
    text = out.decode()
    assert "QAI203" in text
    # The excerpt quotes the buffer, not the clean file on disk.
    assert "def from_pretrained(cls, weights: str) -> ExampleModel:" in text
    assert model.read_text() == MODEL_PY

    # And the other way round: a broken file on disk, a clean buffer.
    model.write_text(NO_DEFAULT)
    code, out, _ = piped(MODEL_PY, "--stdin-filename", model)
    assert code == 0, out
    assert b"All checks passed!" in out


def test_dash_reads_stdin_too(tree: Tree, piped: Piped) -> None:
    code, out, _ = piped(NO_DEFAULT, "--stdin-filename", tree.model() / "model.py", "-")
    assert code == 1 and b"QAI203" in out


def test_only_the_buffers_findings_are_reported(tree: Tree, piped: Piped) -> None:
    # The folder's other files are context: a finding in info.yaml is not the buffer's.
    tree.write("models/example/info.yaml", INFO_YAML.replace("id: example", "id: exampel"))
    code, out, _ = piped(NO_DEFAULT, "--stdin-filename", tree.model() / "model.py")
    assert code == 1
    assert b"QAI203" in out and b"QAI701" not in out
    code, out, _ = piped(INFO_YAML, "--stdin-filename", tree.model() / "info.yaml")
    assert code == 0, out


def test_the_buffer_is_checked_against_the_rest_of_its_folder(tree: Tree, piped: Piped) -> None:
    # A requirement the buffer pins against global_requirements.txt (torch>=2.1,<2.9), with
    # the folder's code-gen.yaml (without the opt-out flag) read from disk.
    tree.write("models/example/code-gen.yaml", "is_aimet: false\n")
    path = tree.model() / "requirements.txt"
    code, out, _ = piped("torch==2.0.0\n", "--stdin-filename", path, "--output-format", "concise")
    assert code == 1
    assert b"requirements.txt:1:1: QAI302" in out
    assert not path.exists()  # a new file: the buffer is all there is


def test_fix_prints_the_fixed_text_and_writes_nothing(tree: Tree, piped: Piped) -> None:
    model = tree.model() / "model.py"
    code, out, err = piped(UNMAPPED_LOAD, "--fix", "--stdin-filename", model)
    fixed = out.decode()
    assert 'torch.load(weights, map_location="cpu")' in fixed
    compile(fixed, "model.py", "exec")
    assert model.read_text() == MODEL_PY
    assert code == 0, err
    assert "(1 fixed, 0 remaining)" in err
    # A second --fix changes nothing and finds nothing left.
    code, again, err = piped(fixed, "--fix", "--stdin-filename", model)
    assert again == out and code == 0, err


def test_fix_with_nothing_to_fix_echoes_the_input(tree: Tree, piped: Piped) -> None:
    data = NO_DEFAULT.encode()
    code, out, err = piped(data, "--fix", "--stdin-filename", tree.model() / "model.py")
    assert out == data
    assert code == 1 and "QAI203" in err


def test_fix_applies_even_where_the_file_on_disk_is_read_only(tree: Tree, piped: Piped) -> None:
    model = tree.model() / "model.py"
    model.chmod(0o444)
    try:
        _, out, _ = piped(UNMAPPED_LOAD, "--fix", "--stdin-filename", model)
    finally:
        model.chmod(0o644)
    assert b'map_location="cpu"' in out


def test_diff_shows_the_buffers_diff(tree: Tree, piped: Piped) -> None:
    model = tree.model() / "model.py"
    code, out, err = piped(UNMAPPED_LOAD, "--diff", "--stdin-filename", model)
    assert code == 1
    diff = out.decode()
    assert (
        '-        net = torch.load(weights)\n+        net = torch.load(weights, map_location="cpu")'
        in diff
    )
    assert "Would fix 1 error" in err
    assert model.read_text() == MODEL_PY


def test_configuration_is_the_files_not_the_working_directorys(
    tree: Tree, piped: Piped, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree.root / "pyproject.toml").write_text('[tool.qaihm-lint]\nignore = ["QAI203"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = piped(NO_DEFAULT, "--stdin-filename", tree.model() / "model.py")
    assert code == 0, out


@pytest.mark.parametrize(
    "data",
    [b"def broken(:\n", b"\x00\xff\xfe binary junk \x80\x81", b"x = 1\x00\n"],
    ids=["syntax-error", "binary", "nul-byte"],
)
def test_a_malformed_buffer_is_qai000(tree: Tree, piped: Piped, data: bytes) -> None:
    code, out, err = piped(data, "--stdin-filename", tree.model() / "model.py")
    assert code == 1
    assert b"QAI000" in out
    assert "Traceback" not in err


def test_a_buffer_outside_every_model_folder_checks_nothing(tree: Tree, piped: Piped) -> None:
    code, out, _ = piped("x = 1\n", "--stdin-filename", tree.package / "utils" / "helpers.py")
    assert code == 0
    assert b"in no model folder" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-"], "add --stdin-filename PATH"),
        (["--stdin-filename", "{model}", "{folder}"], "drop the PATH argument"),
        (["--stdin-filename", "{model}", "--deep"], "--deep does not work with --stdin-filename"),
        (["--stdin-filename", "{model}", "--add-noqa"], "--add-noqa does not work"),
        (["--stdin-filename", "/no/such/folder/model.py"], "does not exist"),
    ],
)
def test_bad_stdin_usage_is_one_line_and_exit_two(
    tree: Tree, piped: Piped, args: list[str], message: str
) -> None:
    filled = [a.format(model=tree.model() / "model.py", folder=tree.model()) for a in args]
    code, out, err = piped("x = 1\n", *filled)
    assert code == 2
    assert out == b""
    assert message in err and len(err.strip().splitlines()) == 1


def test_end_to_end_through_a_pipe(tree: Tree) -> None:
    # The way an editor calls it: a real process, the buffer on a real pipe.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "qaihm_lint",
            "--no-cache",
            "--output-format",
            "concise",
            "--stdin-filename",
            str(tree.model() / "model.py"),
            "-",
        ],
        input=NO_DEFAULT.encode(),
        capture_output=True,
        cwd=tree.root,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.decode().startswith("qai_hub_models/models/example/model.py:18:5: QAI203")
