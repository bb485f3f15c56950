"""--changed-since: the CI mode for pull requests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qaihm_lint.testing import Tree, build_tree
from tests.conftest import RunCli


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repo(tree: Tree) -> None:
    build_tree(tree.root, model_id="other")
    _git(tree.root, "init", "-q")
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "add", "-A")
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "commit", "-qm", "base")


def test_only_changed_folders_are_checked(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tree)
    (tree.model("other") / "demo.py").unlink()  # changed since HEAD
    monkeypatch.chdir(tree.root)
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert code == 1 and "other has no demo.py" in out
    # The untouched folder alone: nothing changed there.
    (tree.model() / "info.yaml").write_text("id: [broken\n")
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "commit", "-qam", "x")
    (tree.model("other") / "app.py").write_text(
        "# edited\n" + (tree.model("other") / "app.py").read_text()
    )
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert "example" not in out


def test_shared_change_checks_everything(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tree)
    monkeypatch.chdir(tree.root)
    (tree.model() / "demo.py").unlink()
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "commit", "-qam", "x")
    tree.write("global_requirements.txt", "torch==2.1.0\n")
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert code == 1 and "example has no demo.py" in out


def test_bad_ref_is_a_clear_error(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tree)
    monkeypatch.chdir(tree.root)
    code, _, err = run_cli("--changed-since", "no-such-ref")
    assert code == 2 and "--changed-since no-such-ref" in err and err.count("\n") == 1


def test_shared_base_change_checks_its_dependants_only(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = (
        "from qai_hub_models.utils.base_model import BaseModel\n\n\n"
        "class SharedBase(BaseModel):\n"
        "    @classmethod\n"
        "    def from_pretrained(cls):\n"
        "        return cls()\n"
    )
    tree.write("models/_shared/family/__init__.py", "")
    tree.write("models/_shared/family/model.py", base)
    child = (
        "from qai_hub_models.models._shared.family.model import SharedBase\n\n\n"
        "class ExampleModel(SharedBase):\n"
        "    @staticmethod\n"
        "    def get_input_spec():\n"
        "        return {}\n\n"
        "    @staticmethod\n"
        "    def get_output_names():\n"
        "        return []\n"
    )
    tree.write("models/example/model.py", child)
    _repo(tree)
    monkeypatch.chdir(tree.root)
    # Both folders have a finding that only a full check would report.
    (tree.model() / "demo.py").unlink()
    (tree.model("other") / "demo.py").unlink()
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "commit", "-qam", "x")
    tree.write("models/_shared/family/model.py", base.replace("return cls()", "return cls()  # e"))
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert code == 1
    assert "example has no demo.py" in out  # inherits from the changed base
    assert "other has no demo.py" not in out  # does not


@pytest.mark.parametrize("where", ["", "qai_hub_models", "qai_hub_models/models"])
def test_a_new_untracked_folder_is_checked_from_any_subfolder(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The new-model case: a folder git does not know yet, the run started below the root."""
    _repo(tree)
    new = tree.model("newmodel")
    new.mkdir()
    (new / "model.py").write_text((tree.model() / "model.py").read_text())
    monkeypatch.chdir(tree.root / where)
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert code == 1, out
    assert "newmodel has no demo.py" in out
    assert "other" not in out and "example/" not in out


def test_a_renamed_file_rechecks_the_folder_it_left(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tree)
    _git(tree.root, "mv", "qai_hub_models/models/other/demo.py", "qai_hub_models/models/demo.py")
    monkeypatch.chdir(tree.package)
    code, out, _ = run_cli("--changed-since", "HEAD", "--output-format", "concise", "--no-cache")
    assert code == 1 and "other has no demo.py" in out


def test_no_change_says_nothing_was_checked(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tree)
    monkeypatch.chdir(tree.root)
    code, out, _ = run_cli("--changed-since", "HEAD", "--no-cache")
    assert code == 0
    assert out == (
        "No model folders to check: none changed since HEAD, and none depends on a change.\n"
    )
