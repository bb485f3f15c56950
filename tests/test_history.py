"""bench/history.py's matching and classification, on synthetic tags (no git, no network)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "history.py"
    spec = importlib.util.spec_from_file_location("bench_history", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


history = _load()
releases = sys.modules["releases"]
Finding = history.Finding


def finding(code: str, path: str, message: str, row: int = 1, model: str | None = "m") -> object:
    return Finding(code, code.lower(), model, path, row, message)


def test_normalize_strips_line_references_but_keeps_versions() -> None:
    message = (
        "`torch==2.1.0` does not satisfy global_requirements.txt's `torch==2.4.1` (line 12); "
        "see requirements.txt line 3 and qai_hub_models/models/m/model.py:25:4"
    )
    assert history.normalize(message) == (
        "`torch==2.1.0` does not satisfy global_requirements.txt's `torch==2.4.1` (line); "
        "see requirements.txt line and qai_hub_models/models/m/model.py"
    )


def test_a_finding_that_moves_down_the_file_is_one_instance() -> None:
    message = "Base (qai_hub_models/models/m/model.py:10) lacks get_output_names"
    moved = message.replace(":10", ":42")
    instances = history.follow(
        [[finding("QAI201", "models/m/model.py", message, 10)],
         [finding("QAI201", "models/m/model.py", moved, 42)]]
    )  # fmt: skip
    assert len(instances) == 1
    assert [f.row for f in instances[0].findings] == [10, 42]


def test_identical_findings_in_one_file_are_counted_not_merged() -> None:
    at_import = "SourceAsRoot(...) runs when app.py is imported"
    two = [finding("QAI402", "models/m/app.py", at_import, row) for row in (5, 30)]
    instances = history.follow([two, two[:1]])
    assert sorted(len(i.findings) for i in instances) == [1, 2]


def test_a_reworded_requirement_finding_continues_but_another_package_does_not() -> None:
    before = finding("QAI302", "models/m/requirements.txt", "`timm==1.0.3` vs global `timm==1.0.9`")
    after = finding("QAI302", "models/m/requirements.txt", "`timm==1.0.3` vs global `timm==1.1.0`")
    other = finding("QAI302", "models/m/requirements.txt", "`numpy==1.0` vs global `numpy==2.0`")
    assert len(history.follow([[before], [after]])) == 1
    assert len(history.follow([[before], [other]])) == 2


def test_a_version_change_in_a_message_is_not_mistaken_for_a_line_move() -> None:
    pinned = finding("QAI301", "models/m/requirements.txt", "`scipy` allows a range (`>=1.9`)")
    widened = finding("QAI301", "models/m/requirements.txt", "`scipy` allows a range (`>=1.10`)")
    assert history.keyed([pinned]).keys() != history.keyed([widened]).keys()


MESSAGE = "test.py of m has no test_trace"


def outcome_of(
    before: dict[str, str], after: dict[str, str], path: str = "models/m/test.py"
) -> str:
    (instance,) = history.follow([[finding("QAI601", path, MESSAGE)], []])
    history.classify([instance], [before, after])
    return str(instance.outcome)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ({"models/m/test.py": "b2", "models/m/model.py": "a"}, "confirmed"),
        ({"models/other/x.py": "z"}, "gone-folder"),
        ({"models/m/model.py": "a", "models/m/test_new.py": "b"}, "gone-file"),
        ({"models/m/test.py": "b", "models/m/model.py": "a2"}, "gone-unchanged"),
    ],
)
def test_disappearance_is_classified_by_what_happened_to_the_flagged_file(
    after: dict[str, str], expected: str
) -> None:
    before = {"models/m/test.py": "b", "models/m/model.py": "a"}
    assert outcome_of(before, after) == expected


def test_a_missing_file_that_appears_confirms_the_finding() -> None:
    before = {"models/m/model.py": "a"}
    after = {"models/m/model.py": "a", "models/m/app.py": "c"}
    assert outcome_of(before, after, "models/m/app.py") == "confirmed"
    assert outcome_of(before, dict(before), "models/m/app.py") == "gone-unchanged"


def test_a_change_to_a_file_the_message_cites_confirms_the_finding() -> None:
    cited = "get_input_spec of Base (qai_hub_models/models/_shared/base/model.py:62) needs self"
    (instance,) = history.follow([[finding("QAI204", "models/m/model.py", cited)], []])
    before = {"models/m/model.py": "a", "models/_shared/base/model.py": "s"}
    history.classify([instance], [before, {**before, "models/_shared/base/model.py": "s2"}])
    assert instance.outcome == "confirmed"
    history.classify([instance], [before, dict(before)])
    assert instance.outcome == "gone-unchanged"


def test_long_lived_needs_twenty_tags_and_an_edited_file() -> None:
    tags = history.LONG_LIVED_TAGS
    flagged = [[finding("QAI601", "models/m/test.py", MESSAGE)]] * tags
    unchanged = [{"models/m/test.py": "b"}] * tags
    edited = [{"models/m/test.py": "b" if i < 5 else "b2"} for i in range(tags)]
    (instance,) = history.follow(flagged)
    history.classify([instance], unchanged)
    assert not instance.long_lived and instance.outcome == "open"
    history.classify([instance], edited)
    assert instance.long_lived and instance.contents == 2
    (short,) = history.follow(flagged[:-1])
    history.classify([short], edited[:-1])
    assert not short.long_lived


def test_summary_counts_outcomes_new_and_open_per_code() -> None:
    kept = finding("QAI601", "models/m/test.py", MESSAGE)
    fixed = finding("QAI502", "models/m/model.py", "torch.load() without map_location", 7)
    late = finding("QAI502", "models/m/app.py", "torch.load() without map_location", 3)
    trees = [{"models/m/test.py": "t", "models/m/model.py": "a", "models/m/app.py": "p"}] * 2
    trees = [trees[0], {**trees[0], "models/m/model.py": "a2"}, trees[0]]
    instances = history.follow([[kept, fixed], [kept, late], [kept, late]])
    history.classify(instances, trees)
    table = history.summarize(instances)
    assert table["QAI601"]["open"] == 1 and table["QAI601"]["new"] == 0
    assert table["QAI502"]["confirmed"] == 1
    assert table["QAI502"]["new"] == 1 and table["QAI502"]["open"] == 1
    assert table["QAI502"]["total"] == 2


def test_release_tags_sort_by_version_and_skip_others(monkeypatch: pytest.MonkeyPatch) -> None:
    names = "ai-stack-models v0.10.0 v0.27 v0.3.0 v0.4.0r1 v0.4.0 v0.9.2"
    monkeypatch.setattr(releases, "git", lambda repo, *args: names.replace(" ", "\n"))
    assert releases.release_tags(Path(".")) == ["v0.3.0", "v0.4.0", "v0.4.0r1", "v0.9.2",
                                               "v0.10.0", "v0.27"]  # fmt: skip


DIFF = """diff --git a/x b/x
@@ -3 +3 @@
-mmcv==2.1.0
+mmcv==2.2.0
@@ -40,0 +41 @@ def test_trace():
+@pytest.mark.trace
"""


def test_the_excerpt_is_the_hunk_nearest_the_flagged_line() -> None:
    assert history.pick_change(DIFF, 41) == "L40: +@pytest.mark.trace"
    assert history.pick_change(DIFF, 1) == "L3: -mmcv==2.1.0 => +mmcv==2.2.0"


def test_a_requirement_excerpt_follows_the_package_not_the_row() -> None:
    assert history.pick_change(DIFF, 41, package="mmcv") == "L3: -mmcv==2.1.0 => +mmcv==2.2.0"
    assert history.pick_change(DIFF, 41, package="mm") == "L40: +@pytest.mark.trace"
    assert history.pick_change("", 1) == ""


def test_the_excerpt_prefers_the_hunk_that_removes_the_flagged_line() -> None:
    diff = (
        "@@ -5 +5 @@\n-import os\n+import sys\n"
        "@@ -90,2 +90 @@\n-    x = torch.load(p)\n+    x = load_torch(p)\n"
    )
    assert history.pick_change(diff, 6, flagged="x = torch.load(p)") == (
        "L90: -x = torch.load(p) => +x = load_torch(p)"
    )
    assert history.pick_change(diff, 6, flagged="y = 1") == "L5: -import os => +import sys"


def test_a_missing_app_is_confirmed_by_an_app_export_in_init() -> None:
    message = (
        "model folder m has no app.py: add an App class, or export one as `App` in __init__.py"
    )
    (instance,) = history.follow([[finding("QAI101", "models/m/app.py", message)], []])
    before = {"models/m/__init__.py": "i", "models/m/model.py": "a"}
    history.classify([instance], [before, {**before, "models/m/__init__.py": "i2"}])
    assert instance.outcome == "confirmed"
    history.classify([instance], [before, {**before, "models/m/model.py": "a2"}])
    assert instance.outcome == "gone-unchanged"


def test_a_missing_file_is_long_lived_when_its_folder_keeps_changing() -> None:
    message = "model folder m has no test.py"
    flagged = [[finding("QAI101", "models/m/test.py", message)]] * history.LONG_LIVED_TAGS
    trees = [{"models/m/model.py": "a" if i < 3 else "a2"} for i in range(len(flagged))]
    (instance,) = history.follow(flagged)
    history.classify([instance], trees)
    assert instance.long_lived
    history.classify([instance], [trees[0]] * len(flagged))
    assert not instance.long_lived


def test_a_folder_missing_from_one_release_does_not_split_its_findings() -> None:
    kept = [finding("QAI601", "models/m/test.py", MESSAGE)]
    with_m, without_m = {"models/m", "models/n"}, {"models/n"}
    (bridged,) = history.follow([kept, [], kept], [with_m, without_m, with_m])
    assert (bridged.start, bridged.end, len(bridged.findings)) == (0, 2, 2)
    assert len(history.follow([kept, [], kept], [with_m, with_m, with_m])) == 2
    assert len(history.follow([kept, [], [], kept], [with_m, without_m, without_m, with_m])) == 2


def test_a_wheel_file_has_the_blob_id_git_gives_it() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    assert releases.blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_a_diff_between_snapshots_reads_like_git_diff_u0(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, text in ((old, "a\nmmcv==2.1.0\nb\n"), (new, "a\nmmcv==2.2.0\nb\n")):
        (root / "models/m").mkdir(parents=True)
        (root / "models/m/requirements.txt").write_text(text)
    before = releases.Snapshot("0.1.0", old, {})
    after = releases.Snapshot("0.2.0", new, {})
    change = releases.diff(before, after, "models/m/requirements.txt")
    assert history.pick_change(change, 2, "mmcv") == "L2: -mmcv==2.1.0 => +mmcv==2.2.0"


def test_counts_per_release_split_errors_and_warnings_by_code(tmp_path: Path) -> None:
    tree = {"models/m/__init__.py": "1", "models/_shared/x/__init__.py": "2"}
    snapshot = releases.Snapshot("0.1.0", tmp_path, tree)
    findings = [
        finding("QAI301", "models/m/requirements.txt", "x"),
        finding("QAI301", "models/m/requirements.txt", "y"),
        Finding("QAI307", "r", "m", "models/m/requirements.txt", 1, "z", "warning"),
    ]
    rows = history.counts_per_release([snapshot], [findings])
    assert rows == [
        {"release": "0.1.0", "models": 1, "errors": {"QAI301": 2}, "warnings": {"QAI307": 1}}
    ]
    table = history.release_table(rows)
    assert table[0] == "| release | models | errors | QAI301 | warnings | QAI307 (w) |"
    assert table[2] == "| 0.1.0 | 1 | 2 | 2 | 1 | 1 |"
