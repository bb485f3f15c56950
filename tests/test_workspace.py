"""Finding the package root and the model folders from whatever paths a user passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaihm_lint.testing import Tree, build_tree
from qaihm_lint.workspace import Layout, WorkspaceError, discover, find_package_root


def test_every_entry_point_finds_the_same_package(tree: Tree) -> None:
    for path in (
        tree.root,
        tree.package,
        tree.package / "models",
        tree.model(),
        tree.model() / "model.py",
    ):
        assert find_package_root(path) == tree.package, path
    workspace = discover([tree.root])
    assert [f.model_id for f in workspace.folders] == ["example"]


def test_library_folders_are_not_models(tree: Tree) -> None:
    tree.write("models/_shared/yolo/model.py", "x = 1\n")
    tree.write("models/_internal/model.py", "x = 1\n")
    tree.write("models/templates/__init__.py", "")
    tree.write("models/templates/yolo/model.py", "x = 1\n")
    (tree.package / "models" / "assets_only").mkdir()
    assert [f.model_id for f in discover([tree.package]).folders] == ["example"]


def test_layout_is_detected_per_folder(tmp_path: Path) -> None:
    build_tree(tmp_path, model_id="old_style")
    build_tree(tmp_path, model_id="new_style", layout=Layout.MANIFEST)
    layouts = {f.model_id: f.layout for f in discover([tmp_path]).folders}
    assert layouts == {"old_style": Layout.INFO, "new_style": Layout.MANIFEST}


def test_generated_files_are_skipped(tree: Tree) -> None:
    tree.write("models/example/export.py", "def broken(:\n")
    tree.write(
        "models/example/hand.py",
        "# ---\n# THIS FILE WAS AUTO-GENERATED. DO NOT EDIT MANUALLY.\ndef broken(:\n",
    )
    (folder,) = discover([tree.model()]).folders
    names = [source.path.name for source in folder.python_files()]
    assert "export.py" not in names and "hand.py" not in names and "model.py" in names


def test_symlink_loop_and_outside_links(tree: Tree, tmp_path: Path) -> None:
    loop = tree.package / "models" / "loop"
    loop.symlink_to(loop)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.py").write_text("x = 1\n")
    (tree.package / "models" / "linked").symlink_to(outside)
    assert [f.model_id for f in discover([tree.package]).folders] == ["example"]
    with pytest.raises(WorkspaceError, match="cannot be resolved"):
        discover([loop])


def test_exclude_patterns(tmp_path: Path) -> None:
    for name in ("alpha", "beta", "beta_two"):
        build_tree(tmp_path, model_id=name)
    workspace = discover([tmp_path], exclude=["beta*"])
    assert [f.model_id for f in workspace.folders] == ["alpha"]
