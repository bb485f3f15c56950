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


def _commit(tree: Tree, message: str) -> None:
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "add", "-A")
    _git(tree.root, "-c", "user.email=a@b.invalid", "-c", "user.name=a", "commit", "-qm", message)


def _two_branches(tree: Tree) -> None:
    """main moves on after the pull request branched: `other` breaks on main only; the pull
    request (branch `feature`) breaks `example`."""
    _repo(tree)
    _git(tree.root, "branch", "-M", "main")
    _git(tree.root, "checkout", "-qb", "feature")
    (tree.model() / "demo.py").unlink()
    _commit(tree, "feature: example loses its demo")
    _git(tree.root, "checkout", "-q", "main")
    (tree.model("other") / "app.py").unlink()
    _commit(tree, "main: other loses its app")
    _git(tree.root, "checkout", "-q", "feature")


def test_changed_since_means_the_merge_base(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git diff main...HEAD`: what changed only on main is not the pull request's."""
    _two_branches(tree)
    monkeypatch.chdir(tree.root)
    monkeypatch.delenv("PRE_COMMIT_TO_REF", raising=False)
    code, out, _ = run_cli("--changed-since", "main", "--output-format", "concise", "--no-cache")
    assert code == 1 and "example has no demo.py" in out
    assert "other" not in out


def test_pre_commit_from_and_to_refs_are_honoured(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pre-commit run --from-ref main --to-ref feature`: the same files pre-commit passes (the
    merge base to the to-ref), not the work tree's uncommitted edits."""
    _two_branches(tree)
    monkeypatch.chdir(tree.root)
    args = ("--output-format", "concise", "--no-cache")
    code, _, err = run_cli("--changed-since", "pre-commit", *args)
    assert code == 2 and "only under `pre-commit run --from-ref A --to-ref B`" in err
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "main")
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "feature")
    (tree.model("other") / "demo.py").unlink()  # uncommitted: not part of the refs' range
    for ref in ("pre-commit", "main"):
        code, out, _ = run_cli("--changed-since", ref, *args)
        assert code == 1 and "example has no demo.py" in out, ref
        assert "other" not in out, ref


@pytest.mark.parametrize("ref", ["--output=stolen.txt", "-p", ""])
def test_an_option_like_ref_never_reaches_git(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    _repo(tree)
    monkeypatch.chdir(tree.root)
    code, out, err = run_cli(f"--changed-since={ref}")
    assert code == 2 and out == ""
    assert f"--changed-since {ref!r}: not a git ref" in err and err.count("\n") == 1
    assert not (tree.root / "stolen.txt").exists()
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "--output=stolen.txt")
    code, _, err = run_cli("--changed-since", "HEAD")
    assert code == 2 and not (tree.root / "stolen.txt").exists()


def test_a_shallow_clone_without_the_merge_base_says_so(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _two_branches(tree)
    shallow = tmp_path / "shallow"
    _git(
        tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", tree.root.as_uri(), "shallow"
    )
    monkeypatch.chdir(shallow)
    code, _, err = run_cli("--changed-since", "origin/main")
    assert code == 2 and err.count("\n") == 1
    assert "have no common ancestor here (a shallow clone?" in err
