"""--shard K/N splits the run deterministically; --merge-reports puts the shards back together."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qaihm_lint.deep.cache import record_cost, recorded_costs
from qaihm_lint.deep.shard import ShardError, parse_shard, partition
from qaihm_lint.workspace import Layout, ModelFolder
from tests.conftest import RunCli


def folders(*names: str) -> list[ModelFolder]:
    return [ModelFolder(Path("/repo/qai_hub_models/models") / n, Layout.INFO, None) for n in names]


NAMES = [f"model_{i:02d}" for i in range(11)]


def ids(shards: list[list[ModelFolder]]) -> list[list[str]]:
    return [[f.model_id for f in shard] for shard in shards]


def test_every_model_lands_in_exactly_one_shard_whatever_the_order() -> None:
    costs = {name: float(i * 7 % 5 + 1) for i, name in enumerate(NAMES)}
    shards = ids(partition(folders(*NAMES), 3, costs))
    assert sorted(name for shard in shards for name in shard) == NAMES
    assert ids(partition(folders(*reversed(NAMES)), 3, costs)) == shards


def test_balanced_by_recorded_cost() -> None:
    costs = {"slow": 100.0, "a": 10.0, "b": 10.0, "c": 10.0, "d": 10.0}
    shards = ids(partition(folders(*costs), 2, costs))
    assert shards == [["slow"], ["a", "b", "c", "d"]]


def test_even_split_unless_every_model_has_a_cost() -> None:
    even = ids(partition(folders(*NAMES), 4, {}))
    assert sorted(len(shard) for shard in even) == [2, 3, 3, 3]
    # A shard that ran first recorded some costs: the others must still agree with it.
    partial = {name: 100.0 * i for i, name in enumerate(NAMES[:4])}
    assert ids(partition(folders(*NAMES), 4, partial)) == even


def test_more_shards_than_models_leaves_some_empty() -> None:
    shards = ids(partition(folders("a", "b"), 4, {}))
    assert sorted(map(len, shards)) == [0, 0, 1, 1]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "2", "1/2/3"])
def test_bad_shard_values(text: str) -> None:
    with pytest.raises(ShardError):
        parse_shard(text)


def test_costs_are_one_file_per_model(tmp_path: Path) -> None:
    record_cost(tmp_path, "a", 1.5)
    record_cost(tmp_path, "b", 2.25)
    record_cost(tmp_path, "a", 3.0)
    record_cost(tmp_path, "b", 9.0, overwrite=False)  # a sharded run keeps what shards saw
    record_cost(tmp_path, "c", 4.0, overwrite=False)
    assert recorded_costs(tmp_path) == {"a": 3.0, "b": 2.25, "c": 4.0}
    assert sorted(p.name for p in (tmp_path / "costs").iterdir()) == ["a.json", "b.json", "c.json"]


def copy_fixture(tmp_path: Path) -> Path:
    import shutil

    from tests.deep.conftest import FIXTURE_REPO

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def test_static_shards_merge_into_the_unsharded_report(tmp_path: Path, run_cli: RunCli) -> None:
    models = copy_fixture(tmp_path) / "qai_hub_models" / "models"
    common = ("--no-cache", "--exit-zero", "--output-format", "json", models)
    _, whole, _ = run_cli(*common)
    parts = []
    for k in (1, 2, 3):
        _, out, err = run_cli(*common, "--shard", f"{k}/3")
        assert err == ""
        part = tmp_path / f"shard{k}.json"
        part.write_text(out)
        parts.append(part)
    code, merged, err = run_cli("--merge-reports", "--output-format", "json", *parts)
    assert err == ""
    assert json.loads(merged) == json.loads(whole)
    assert code == (1 if json.loads(whole) else 0)
    code, concise, _ = run_cli("--merge-reports", "--output-format", "concise", *parts)
    assert concise.count("\n") >= len(json.loads(whole))


def test_merge_refuses_mixed_or_unreadable_reports(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.xml").write_text("<testsuites/>")
    (tmp_path / "c.txt").write_text("not a report")
    for files, expected in (
        (("a.json", "b.xml"), "only JSON reports or only JUnit"),
        (("c.txt",), "neither a JSON nor a JUnit report"),
        (("missing.json",), "cannot read report"),
    ):
        code, out, err = run_cli("--merge-reports", *(tmp_path / f for f in files))
        assert code == 2 and out == "" and expected in err and err.count("\n") == 1
    code, _, err = run_cli("--merge-reports", "--output-format", "junit", tmp_path / "a.json")
    assert code == 2 and "merge the shards' JUnit reports" in err
    code, _, err = run_cli("--shard", "5/4", tmp_path)
    assert code == 2 and "K must be between 1 and N" in err


@pytest.mark.deep
@pytest.mark.slow
def test_deep_shards_merge_into_the_unsharded_junit(tmp_path: Path, run_cli: RunCli) -> None:
    pytest.importorskip("torch")
    models = copy_fixture(tmp_path) / "qai_hub_models" / "models"
    chosen = [models / name for name in ("good", "output_mismatch", "bad_input_spec")]
    common = (
        "--deep", "--no-compile", "--python", sys.executable, "--stages", "load",
        "--select", "QAI8", "--output-format", "junit", *chosen,
    )  # fmt: skip
    parts = []
    for k in (1, 2):
        _, out, _ = run_cli(*common, "--shard", f"{k}/2")
        part = tmp_path / f"shard{k}.xml"
        part.write_text(out)
        parts.append(part)
    shard_cases = [{c.get("classname") for c in ET.parse(p).iter("testcase")} for p in parts]
    assert shard_cases[0] and shard_cases[1] and not shard_cases[0] & shard_cases[1]
    code, merged, _ = run_cli("--merge-reports", "--output-format", "junit", *parts)
    assert code == 1
    _, whole, _ = run_cli(*common)  # every model from the cache the shards filled

    def cases(text: str) -> list[tuple[str | None, str | None, bool]]:
        return sorted(
            (c.get("classname"), c.get("name"), c.find("failure") is None)
            for c in ET.fromstring(text).iter("testcase")
        )

    assert cases(merged) == cases(whole)
    root = ET.fromstring(merged)
    assert root.get("tests") == str(len(cases(whole)))
    assert root.get("failures") == str(sum(1 for *_, ok in cases(whole) if not ok))


@pytest.mark.parametrize("first", ["1/2", "01/2", " 1/2"])
def test_shared_code_goes_to_the_first_shard_however_it_is_written(
    tmp_path: Path, run_cli: RunCli, first: str
) -> None:
    from qaihm_lint.testing import build_tree

    tree = build_tree(tmp_path)
    tree.write("models/_shared/det/__init__.py", "")
    tree.write("models/_shared/det/model.py", "import torch\n\nW = torch.load('w.pt')\n")
    models = tree.package / "models"
    findings = {}
    for shard in (first, "2/2"):
        _, out, _ = run_cli(models, "--no-cache", "--output-format", "json", "--shard", shard)
        findings[shard] = [d["code"] for d in json.loads(out)]
    assert findings[first] == ["QAI502"] and findings["2/2"] == []
