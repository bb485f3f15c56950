"""Whatever the tree holds, a finding or a clear error: never a traceback."""

from __future__ import annotations

from qaihm_lint.testing import Tree
from tests.conftest import RunCli


def concise(run_cli: RunCli, tree: Tree) -> tuple[int, str, str]:
    return run_cli(tree.model(), "--output-format", "concise", "--no-cache")


def test_non_utf8_python(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "app.py").write_bytes(b"name = 'caf\xe9'\n")
    code, out, err = concise(run_cli, tree)
    assert code == 1 and err == ""
    assert "app.py:1:12: QAI000 app.py is not valid UTF-8 (byte 0xe9)" in out


def test_binary_and_empty_files(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "app.py").write_bytes(b"\x00\x01\x02" * 100)
    (tree.model() / "demo.py").write_bytes(b"")
    code, out, _ = concise(run_cli, tree)
    assert code == 1
    assert "QAI000 app.py is a binary file" in out
    assert "demo.py:" not in out  # an empty file is fine (test.py importing from it is QAI105)


def test_syntax_error_has_its_location(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "demo.py").write_text("def main(:\n    pass\n")
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "demo.py:1:10: QAI000 demo.py cannot be parsed: " in out


def test_bom_and_crlf_are_fine(tree: Tree, run_cli: RunCli) -> None:
    app = tree.model() / "app.py"
    app.write_bytes(b"\xef\xbb\xbf" + app.read_bytes().replace(b"\n", b"\r\n"))
    assert concise(run_cli, tree)[0] == 0


def test_invalid_yaml(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "info.yaml").write_text("name: [unclosed\nid: x\n")
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "info.yaml:2:3: QAI701 info.yaml is not valid YAML" in out


def test_yaml_alias_bomb_is_refused_quickly(tree: Tree, run_cli: RunCli) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 20):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    (tree.model() / "info.yaml").write_text("\n".join(lines) + "\n")
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "aliases; refusing to expand it" in out


def test_deeply_nested_python(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "app.py").write_text("x = " + "(" * 5000 + ")" * 5000 + "\n")
    code, out, err = concise(run_cli, tree)
    assert code == 1 and "QAI000 app.py" in out and "Traceback" not in err


def test_model_py_that_is_a_directory(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "model.py").unlink()
    (tree.model() / "model.py").mkdir()
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "has no model.py" in out


def test_unicode_and_spaces_in_paths(tmp_path, run_cli: RunCli) -> None:  # type: ignore[no-untyped-def]
    from qaihm_lint.testing import build_tree

    tree = build_tree(tmp_path / "my répo with spaces")
    (tree.model() / "demo.py").unlink()
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "has no demo.py" in out


def test_enormous_requirements_file_is_refused(tree: Tree, run_cli: RunCli) -> None:
    (tree.model() / "requirements.txt").write_text("numpy==1.26.0\n" * 100_000)
    code, out, _ = concise(run_cli, tree)
    assert code == 1 and "QAI304 requirements.txt is too large to check (1,400,000 bytes)" in out
