"""The fix loop: what --fix writes, what --diff shows, and what is never written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qaihm_lint.config import Settings
from qaihm_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Severity
from qaihm_lint.engine.fixes import apply_round as _apply_round
from qaihm_lint.fixers.apply import write_atomic
from qaihm_lint.fixers.edits import OverlappingEdits, apply_edits, minimal_edit, overlaps
from qaihm_lint.sources import SourceFile
from qaihm_lint.testing import INFO_YAML, Tree
from qaihm_lint.workspace import discover
from tests.conftest import RunCli

STALE = INFO_YAML.replace("id: example", "id: example  # noqa: QAI701")


def test_fix_writes_and_second_fix_changes_nothing(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    code, out, _ = run_cli(tree.model(), "--fix", "--no-cache")
    assert code == 0, out
    assert info.read_text() == INFO_YAML
    assert "Found 1 warning (1 fixed, 0 remaining)." in out  # QAI001 is a warning
    before = info.stat().st_mtime_ns
    code, out, _ = run_cli(tree.model(), "--fix", "--no-cache")
    assert code == 0 and "All checks passed!" in out
    assert info.stat().st_mtime_ns == before  # nothing rewritten


def test_diff_prints_and_writes_nothing(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    code, out, err = run_cli(tree.model(), "--diff", "--no-cache")
    assert code == 1  # something to change
    assert info.read_text() == STALE
    assert "--- a/" in out and "+++ b/" in out
    assert "-id: example  # noqa: QAI701\n+id: example\n" in out
    assert "Would fix 1 warning." in err  # QAI001 is a warning


def test_diff_matches_what_fix_writes(tree: Tree, run_cli: RunCli) -> None:
    import difflib

    info = tree.write("models/example/info.yaml", STALE)
    _, diff_out, _ = run_cli(tree.model(), "--diff", "--no-cache")
    run_cli(tree.model(), "--fix", "--no-cache")
    expected = "".join(
        difflib.unified_diff(
            STALE.splitlines(True), info.read_text().splitlines(True), fromfile="a/x", tofile="b/x"
        )
    )
    assert diff_out.split("\n", 2)[2] == expected.split("\n", 2)[2]


def test_fix_keeps_file_mode_and_crlf(tree: Tree, run_cli: RunCli) -> None:
    info = tree.model() / "info.yaml"
    info.write_bytes(STALE.replace("\n", "\r\n").encode())
    info.chmod(0o640)
    run_cli(tree.model(), "--fix", "--no-cache")
    assert info.read_bytes() == INFO_YAML.replace("\n", "\r\n").encode()
    assert stat.S_IMODE(info.stat().st_mode) == 0o640


def test_read_only_file_is_reported_not_written(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    info.chmod(0o444)
    code, out, err = run_cli(tree.model(), "--fix", "--no-cache", "--max-warnings", "0")
    assert code == 1
    assert "fix skipped: the file is read-only" in err
    assert info.read_text() == STALE
    assert "QAI001" in out


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    write_atomic(target, b"new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["file.txt"]


def _diagnostic(path: Path, edits: tuple[Edit, ...], code: str = "QAI001") -> Diagnostic:
    return Diagnostic(
        code,
        "x",
        "m",
        Severity.ERROR,
        path,
        Location(1, 1),
        Location(1, 1),
        "example",
        Fix(Applicability.SAFE, "f", edits),
    )


def test_a_fix_that_would_break_the_file_is_not_applied(tree: Tree) -> None:
    model = tree.model() / "demo.py"
    original = model.read_text()
    broken = _diagnostic(model, (Edit(Location(1, 1), Location(1, 1), "def (:\n"),))
    fine = _diagnostic(model, (Edit(Location(2, 1), Location(2, 1), "# ok\n"),))
    workspace = discover([tree.model()])
    overlay: dict[Path, bytes] = {}
    skipped: list[str] = []
    changed, applied = _apply_round(
        [broken, fine], overlay, {f.path: f for f in workspace.folders}, Settings(), skipped
    )
    assert applied == 1 and changed == {tree.model()}
    assert overlay[model].decode().startswith(original.split("\n")[0] + "\n# ok\n")
    assert any("would not parse" in note for note in skipped)
    assert model.read_text() == original  # rounds work in memory


def test_fixes_outside_the_checked_folders_are_refused(tree: Tree) -> None:
    outside = tree.package / "global_requirements.txt"
    diagnostic = _diagnostic(outside, (Edit(Location(1, 1), Location(1, 1), "x\n"),))
    workspace = discover([tree.model()])
    skipped: list[str] = []
    _changed, applied = _apply_round(
        [diagnostic], {}, {f.path: f for f in workspace.folders}, Settings(), skipped
    )
    assert applied == 0 and "outside the model folders" in skipped[0]


def test_unsafe_fixes_need_the_flag(tree: Tree) -> None:
    demo = tree.model() / "demo.py"
    edit = Edit(Location(1, 1), Location(1, 1), "# u\n")
    unsafe = Diagnostic(
        "QAI501",
        "x",
        "m",
        Severity.ERROR,
        demo,
        Location(1, 1),
        Location(1, 1),
        "example",
        Fix(Applicability.UNSAFE, "f", (edit,)),
    )
    folders = {f.path: f for f in discover([tree.model()]).folders}
    assert _apply_round([unsafe], {}, folders, Settings(), [])[1] == 0
    assert _apply_round([unsafe], {}, folders, Settings(unsafe_fixes=True), [])[1] == 1


def test_edit_helpers() -> None:
    source = SourceFile(Path("x.py"), b"a = 1\r\nb = 2\r\n")
    edit = minimal_edit(source, "a = 1\r\nb = 3\r\n")
    assert edit == Edit(Location(2, 5), Location(2, 6), "3")
    assert apply_edits(source.text, source, [edit]) == "a = 1\r\nb = 3\r\n"
    assert minimal_edit(source, source.text) is None
    with pytest.raises(OverlappingEdits):
        apply_edits(
            source.text,
            source,
            [Edit(Location(1, 1), Location(1, 4), ""), Edit(Location(1, 2), Location(1, 3), "")],
        )
    assert overlaps([(0, 5)], [(4, 6)]) and not overlaps([(0, 5)], [(5, 6)])
    assert overlaps([(5, 5)], [(5, 6)]) and overlaps([(3, 3)], [(3, 3)])
