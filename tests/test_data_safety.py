"""Static mode never loses or leaks data: fixes written only over what was read, no symlinked
folder followed out of the repository, and the small defects of issue 19, each reproduced."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from qaihm_lint.cache import ResultCache, read_small_file
from qaihm_lint.deep.cache import DeepCache
from qaihm_lint.fixers.apply import ChangedSinceRead, write_atomic
from qaihm_lint.testing import INFO_YAML, Tree, fix_paths
from tests.conftest import RunCli

STALE = INFO_YAML.replace("id: example", "id: example  # noqa: QAI701")
NESTED = "[" * 100_000 + "]" * 100_000


# ------------------------------------------------------------------ fixes: compare, then replace


def test_a_file_edited_during_the_run_is_not_overwritten(tree: Tree) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    outcome = fix_paths([tree.model()], write=False)
    assert info in outcome.changed
    # Someone appends a line after the fix was computed, before it is written.
    edited = STALE + "# added by the user meanwhile\n"
    info.write_text(edited)
    with pytest.raises(ChangedSinceRead, match="changed while it was being checked"):
        write_atomic(info, outcome.changed[info], expected=outcome.originals[info])
    assert info.read_text() == edited


def test_the_fix_base_is_what_was_read_not_what_is_there_at_the_end(tree: Tree) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    outcome = fix_paths([tree.model()], write=False)
    info.write_text("changed\n")
    assert outcome.originals[info] == STALE.encode()


def test_cli_fix_says_so_and_leaves_a_file_changed_meanwhile(
    tree: Tree, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qaihm_lint.cli as cli

    info = tree.write("models/example/info.yaml", STALE)
    real = cli.write_atomic

    def edit_then_write(path: Path, data: bytes, expected: object = None) -> None:
        path.write_text(STALE + "# edited\n")  # the user's editor saves just now
        real(path, data, expected=expected)

    monkeypatch.setattr(cli, "write_atomic", edit_then_write)
    code, _out, err = run_cli(tree.model(), "--fix", "--no-cache")
    assert "not written: the file changed while it was being checked" in err
    assert info.read_text() == STALE + "# edited\n"
    assert "Traceback" not in err and code != 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_fix_as_root_keeps_the_owner(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    os.chown(info, 12345, 12346)
    run_cli(tree.model(), "--fix", "--no-cache")
    assert info.read_text() == INFO_YAML
    assert (info.stat().st_uid, info.stat().st_gid) == (12345, 12346)


def test_fix_keeps_hard_links(tree: Tree, run_cli: RunCli) -> None:
    info = tree.write("models/example/info.yaml", STALE)
    other = tree.root / "linked-info.yaml"
    os.link(info, other)
    run_cli(tree.model(), "--fix", "--no-cache")
    assert info.read_text() == INFO_YAML
    assert other.read_text() == INFO_YAML
    assert os.path.samefile(info, other)


# ------------------------------------------------------------------ symbolic links


def test_a_symlinked_templates_folder_out_of_the_repo_is_neither_read_nor_fixed(
    tmp_path: Path, run_cli: RunCli
) -> None:
    from qaihm_lint.testing import build_tree

    tree = build_tree(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere" / "yolo"
    elsewhere.mkdir(parents=True)
    foreign = elsewhere / "model.py"
    text = "import torch\n\n\ndef load(path):\n    return torch.load(path)\n"
    foreign.write_text(text)
    (tree.package / "models" / "templates").symlink_to(tmp_path / "elsewhere")
    _code, out, err = run_cli(tree.root, "--fix", "--no-cache", "--select", "QAI502")
    assert foreign.read_text() == text, "a file of another project was rewritten"
    assert "elsewhere" not in out + err


def test_a_file_linked_out_of_the_tree_is_never_printed(
    tmp_path: Path, tree: Tree, run_cli: RunCli
) -> None:
    secret = tmp_path / "client.ini"
    secret.write_text("[api]\napi_token = SECRET-TOKEN-123\n")
    (tree.model() / "requirements.txt").symlink_to(secret)
    _code, out, err = run_cli(tree.model(), "--no-cache", "--output-format", "full")
    assert "SECRET-TOKEN-123" not in out + err


# ------------------------------------------------------------------ caches and baselines


def test_a_nested_result_cache_entry_is_a_miss(tree: Tree, run_cli: RunCli) -> None:
    code, _, _ = run_cli(tree.model())
    entries = list((tree.root / ".qaihm_lint_cache" / "results").glob("*.json"))
    assert entries
    for entry in entries:
        entry.write_text(NESTED)
    code, _out, err = run_cli(tree.model())
    assert code == 0 and "Traceback" not in err, err
    assert ResultCache(tree.root).get_entry(tree.model(), "x") is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_in_the_cache_does_not_hang_the_run(tree: Tree, run_cli: RunCli) -> None:
    run_cli(tree.model())
    entries = list((tree.root / ".qaihm_lint_cache" / "results").glob("*.json"))
    for entry in entries:
        entry.unlink()
        os.mkfifo(entry)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_cli(tree.model())[0]), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the run blocked on a FIFO in the cache"
    assert result == [0]
    fifo = tree.root / "fifo.json"
    os.mkfifo(fifo)
    assert read_small_file(fifo, 1024) is None


def test_deep_cache_refuses_nested_forged_and_special_entries(tmp_path: Path) -> None:
    cache = DeepCache(tmp_path / "deep", secret=b"k" * 32)
    cache.put("ab" * 32, {"records": []})
    assert cache.get("ab" * 32) == {"records": []}
    path = tmp_path / "deep" / "ab" / f"{'ab' * 32}.json"
    # Forged: a valid-looking entry without the MAC only this user's key gives.
    path.write_text(json.dumps({"mac": "0" * 64, "value": {"records": []}}))
    assert cache.get("ab" * 32) is None
    path.write_text(NESTED)
    assert cache.get("ab" * 32) is None
    # Another user's key (a cache restored from elsewhere, or committed): a miss.
    DeepCache(tmp_path / "deep", secret=b"k" * 32).put("cd" * 32, {"records": []})
    assert DeepCache(tmp_path / "deep", secret=b"x" * 32).get("cd" * 32) is None


def test_a_nested_baseline_is_one_clear_error(tree: Tree, run_cli: RunCli) -> None:
    baseline = tree.root / "baseline.json"
    baseline.write_text(NESTED)
    code, _, err = run_cli(tree.model(), "--baseline", baseline)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "baseline" in err


def test_write_baseline_failure_is_one_clear_error(tree: Tree, run_cli: RunCli) -> None:
    target = tree.root / "no-such-folder" / "baseline.json"
    code, _, err = run_cli(tree.model(), "--write-baseline", target)
    assert code == 2
    assert "internal error" not in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "cannot write the baseline" in err


# ------------------------------------------------------------------ arguments and encodings


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_timeout_that_is_not_a_positive_number_is_a_usage_error(
    tree: Tree, run_cli: RunCli, value: str
) -> None:
    code, out, err = run_cli(tree.model(), "--deep", "--timeout", value)
    assert code == 2 and out == ""
    assert "positive number of seconds" in err and "Traceback" not in err


def test_pep263_latin1_file_is_read_and_fixed_in_its_encoding(tree: Tree, run_cli: RunCli) -> None:
    model = tree.model() / "model.py"
    text = model.read_text()
    latin = (
        "# -*- coding: latin-1 -*-\n# Auteur: Jos\xe9 M\xfcller\n"
        + text
        + "\n\ndef load(path):\n    return torch.load(path)\n"
    )
    model.write_bytes(latin.encode("latin-1"))
    _code, out, _ = run_cli(tree.model(), "--no-cache", "--select", "QAI000,QAI502")
    assert "not valid UTF-8" not in out and "QAI000" not in out
    assert "QAI502" in out
    _code, out, _ = run_cli(tree.model(), "--no-cache", "--select", "QAI502", "--fix")
    data = model.read_bytes()
    assert "Jos\xe9 M\xfcller".encode("latin-1") in data  # still latin-1, not re-encoded
    assert b'map_location="cpu"' in data
