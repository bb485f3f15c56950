"""--add-noqa: a suppression on the line of every finding left, merged, in the file's own line
endings, never where a comment would change the file, and refused with a fix flag."""

from __future__ import annotations

import pytest

from qaihm_lint.testing import MODEL_PY, Tree
from tests.conftest import RunCli


def test_codes_merge_into_an_ignore_comment_already_there(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    model.write_text(
        MODEL_PY
        + "\n\ndef load(p: str) -> object:\n"
        + "    return torch.load(p).cuda()  # qaihm-lint: ignore[QAI501]\n"
    )
    code, out, _ = run_cli(tree.model(), "--no-cache", "--output-format", "concise")
    assert code == 1 and "QAI502" in out and "QAI501" not in out
    code, _, err = run_cli(tree.model(), "--no-cache", "--add-noqa")
    assert code == 0, err
    assert "torch.load(p).cuda()  # qaihm-lint: ignore[QAI501, QAI502]\n" in model.read_text()
    assert run_cli(tree.model(), "--no-cache")[0] == 0


def test_line_endings_and_bom_are_kept(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    text = MODEL_PY + "\n\ndef load(p: str) -> object:\n    return torch.load(p)\n"
    model.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert run_cli(tree.model(), "--no-cache", "--add-noqa")[0] == 0
    data = model.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\n" not in data.replace(b"\r\n", b"")
    assert b"torch.load(p)  # qaihm-lint: ignore[QAI502]\r\n" in data
    assert run_cli(tree.model(), "--no-cache")[0] == 0


@pytest.mark.parametrize("flag", ["--fix", "--diff", "--unsafe-fixes"])
def test_add_noqa_is_not_combined_with_fixing(tree: Tree, run_cli: RunCli, flag: str) -> None:
    code, _, err = run_cli(tree.model(), "--add-noqa", flag)
    assert code == 2 and f"--add-noqa cannot be combined with {flag}" in err


def test_only_the_files_given_get_a_comment(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    text = MODEL_PY + "\n\ndef load(p: str) -> object:\n    return torch.load(p)\n"
    model.write_text(text)
    info = tree.model() / "info.yaml"
    info.write_text(info.read_text().replace("id: example", "id: exampel"))
    code, _, err = run_cli(info, "--no-cache", "--add-noqa")
    assert code == 0 and "Added 1 suppression " in err
    assert model.read_text() == text and "# qaihm-lint: ignore[QAI701]" in info.read_text()
