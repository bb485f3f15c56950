"""Our suppressions against upstream's own ruff: the version ai-hub-models pins (v0.13.0, the
[dev] extra pins the same) with its settings unchanged (tests/fixtures/upstream_ruff), run as
its pre-commit hooks run it (``ruff check --fix``, then ``ruff format``).

Upstream selects RUF, so ruff reports a ``# noqa`` naming a code it does not know (RUF100) and
its fix deletes it; ``# qaihm-lint: ignore[CODE]`` is not a noqa directive to ruff and stays.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qaihm_lint.testing import INFO_YAML, MODEL_PY, Tree
from tests.conftest import RunCli

UPSTREAM_RUFF = "0.13.0"
CONFIG = Path(__file__).parent / "fixtures" / "upstream_ruff" / "pyproject.toml"

# A long statement (ruff format wraps it once our comment is on it: the comment is no pragma
# to ruff, so it counts towards the width) and one whose finding starts above a multi-line
# string (the comment can only end the statement).
LOADS = '''

def load_weights(path_of_the_pretrained_checkpoint: str) -> object:
    state_dict_of_the_pretrained_model = torch.load(path_of_the_pretrained_checkpoint)
    other = torch.load(
        """weights
        .pt"""
    )
    return state_dict_of_the_pretrained_model, other
'''


def _ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found is not None, "ruff is not installed: pip install -e '.[dev]'"
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split() == ["ruff", UPSTREAM_RUFF], (
        f"upstream's ruff is {UPSTREAM_RUFF}; {found} is {version.stdout.strip()}: "
        "pip install -e '.[dev]'"
    )
    return found


def _upstream_ruff(tree: Tree, *args: str) -> subprocess.CompletedProcess[str]:
    """ruff with upstream's settings, from the repository root as its pre-commit hook runs."""
    shutil.copyfile(CONFIG, tree.root / "pyproject.toml")
    return subprocess.run(
        [_ruff(), *args, "--no-cache", "qai_hub_models"],
        cwd=tree.root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_noqa_is_deleted_by_upstreams_ruff_and_the_ignore_form_is_not(
    tree: Tree, run_cli: RunCli
) -> None:
    model = tree.model() / "model.py"
    noqa = "    return torch.load(path)  # noqa: QAI502\n"
    ignore = "    return torch.load(path)  # qaihm-lint: ignore[QAI502]\n"
    for comment, survives in ((noqa, False), (ignore, True)):
        model.write_text(MODEL_PY + "\n\ndef load(path: str) -> object:\n" + comment)
        assert run_cli(tree.model(), "--no-cache")[0] == 0
        fixed = _upstream_ruff(tree, "check", "--fix", "--exit-zero")
        assert fixed.returncode == 0, fixed.stderr
        assert (comment in model.read_text()) is survives, model.read_text()
        code, out, _ = run_cli(tree.model(), "--no-cache", "--output-format", "concise")
        assert (code == 0) is survives, out
        if not survives:
            assert "QAI502" in out  # the finding it silenced is back


def test_add_noqa_then_upstreams_hooks_leave_the_run_clean(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    model.write_text(MODEL_PY + LOADS)
    info = tree.model() / "info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: exampel"))
    (tree.model() / "requirements.txt").write_text("timm\n")
    code, out, _ = run_cli(tree.model(), "--no-cache", "--output-format", "concise")
    assert code == 1
    assert {"QAI502", "QAI701", "QAI301"} <= {line.split()[1] for line in out.splitlines()[:-2]}

    code, _, err = run_cli(tree.model(), "--no-cache", "--add-noqa")
    assert code == 0, err
    assert "Added 4 suppressions" in err
    text = model.read_text()
    assert "torch.load(path_of_the_pretrained_checkpoint)  # qaihm-lint: ignore[QAI502]\n" in text
    assert '.pt"""\n    )  # qaihm-lint: ignore[QAI502]\n' in text
    assert "id: exampel  # qaihm-lint: ignore[QAI701]\n" in info.read_text()
    clean = run_cli(tree.model(), "--no-cache")
    assert clean[0] == 0 and "All checks passed!" in clean[1], clean

    # Idempotent: nothing left to add, no file touched.
    before = {path: path.read_bytes() for path in tree.model().iterdir() if path.is_file()}
    code, _, err = run_cli(tree.model(), "--no-cache", "--add-noqa")
    assert code == 0 and "Added 0 suppressions" in err
    assert before == {path: path.read_bytes() for path in before}

    # Upstream's pre-commit hooks: ruff-check --fix, then ruff-format.
    checked = _upstream_ruff(tree, "check", "--fix", "--exit-zero")
    assert checked.returncode == 0, checked.stderr
    assert "RUF100" not in checked.stdout
    formatted = _upstream_ruff(tree, "format")
    assert formatted.returncode == 0, formatted.stderr
    text = model.read_text()
    assert text.count("# qaihm-lint: ignore[QAI502]") == 2
    # The formatter wrapped the long statement: the comment now ends its last row, and a
    # directive covers the whole statement.
    assert "torch.load(path_of_the_pretrained_checkpoint)  # qaihm-lint" not in text
    after = run_cli(tree.model(), "--no-cache")
    assert after[0] == 0 and "All checks passed!" in after[1], after


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("key: |\n  text\n  more\n", "YAML block scalar"),
    ],
)
def test_add_noqa_leaves_a_line_a_comment_cannot_end(
    tree: Tree, run_cli: RunCli, line: str, reason: str
) -> None:
    """A finding inside a YAML block scalar: the comment would become text; said, not written."""
    info = tree.model() / "info.yaml"
    info.write_text(INFO_YAML.replace("id: example", "id: exampel") + line)
    from qaihm_lint.add_noqa import add_suppressions
    from qaihm_lint.diagnostics import Diagnostic, Location, Severity

    inside = Diagnostic(
        code="QAI701",
        rule="invalid-info-yaml",
        message="m",
        severity=Severity.ERROR,
        path=info,
        start=Location(INFO_YAML.count("\n") + 2, 3),
        end=Location(INFO_YAML.count("\n") + 2, 3),
        model_id="example",
    )
    outcome = add_suppressions([inside])
    assert outcome.changed == {} and outcome.added == 0, reason
    assert "a comment cannot end this line" in outcome.left[0]
