"""The package's own asset store (``$QAIHM_STORE_ROOT/.qaihm``) reaches the workers, inside the
sandbox (issue 21: a model whose SourceAsRoot clone or asset-store weights were placed there
beforehand must load offline, as upstream's own test loads it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qaihm_lint.deep import DeepOptions, run_deep_detailed
from qaihm_lint.deep.sandbox import landlock_abi, shared_folders, worker_environment
from tests.deep.builders import add_model
from tests.deep.conftest import MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

# What 0.46.1's ddrnet23_slim does with its SourceAsRoot clone: find it in the asset store (the
# store's root is $QAIHM_STORE_ROOT, else the home), delete a file of the clone that would import
# what is not installed, then import the clone's code and read its weights from the store.
USES_CLONE = """\
root = Path(os.environ.get("QAIHM_STORE_ROOT", os.path.expanduser("~"))) / ".qaihm"
clone = root / "models" / "uses_store" / "v1" / "author_repo_git"
if not (clone / ".git").exists():
    raise ValueError("Unable to load uses_store without its required repository.")
bad_init = clone / "ddrlib" / "__init__.py"
if bad_init.exists():
    bad_init.unlink()
sys.path.insert(0, str(clone))
import ddrlib.layer
assert ddrlib.layer.SCALE == 2.0
assert (root / "models" / "uses_store" / "v1" / "weights.pth").read_text() == "seeded"
"""


def test_the_store_variable_is_passed_and_only_its_store_is_shared(tmp_path: Path) -> None:
    (tmp_path / ".qaihm").mkdir()
    source = {"QAIHM_STORE_ROOT": str(tmp_path)}
    env = worker_environment(source, tmp_path / "h", tmp_path / "t", threads=1, network=False)
    assert env["QAIHM_STORE_ROOT"] == str(tmp_path)
    assert shared_folders(source) == [tmp_path / ".qaihm"]  # never the root (maybe the home)
    assert shared_folders({"QAIHM_STORE_ROOT": str(tmp_path / "absent")}) == []


@pytest.mark.deep
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "landlock"])
def test_a_clone_in_the_asset_store_loads_in_the_sandbox(
    fixture_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pytest.importorskip("torch")
    if mode == "landlock" and not landlock_abi():
        pytest.skip("Landlock is not available in this kernel")  # auto still runs
    store = tmp_path / "store"  # under /tmp: hidden by bubblewrap unless bound back
    version = store / ".qaihm" / "models" / "uses_store" / "v1"
    clone = version / "author_repo_git"
    (clone / ".git").mkdir(parents=True)
    (clone / "ddrlib").mkdir()
    (clone / "ddrlib" / "layer.py").write_text("SCALE = 2.0\n")
    (clone / "ddrlib" / "__init__.py").write_text("import not_installed_anywhere\n")
    (version / "weights.pth").write_text("seeded")
    monkeypatch.setenv("QAIHM_STORE_ROOT", str(store))
    add_model(
        fixture_copy,
        "uses_store",
        imports="import os, sys\nfrom pathlib import Path",
        body=USES_CLONE,
    )
    options = DeepOptions(
        compile=False,
        stages=frozenset({"load"}),
        timeout=STAGE_TIMEOUT,
        jobs=1,
        cache_dir=tmp_path / "cache",
        progress=False,
        memory_limit_mb=MEMORY_LIMIT_MB,
        python=sys.executable,
        sandbox=mode,
    )
    result = run_deep_detailed(folders_of(fixture_copy, "uses_store"), options)
    assert [d.message for d in result.diagnostics] == []
    statuses = {record.stage: record.status for record in result.outcomes[0].records}
    assert statuses["from_pretrained"] == "ok"
    # The loader's own edit of its clone went where upstream's would: into the store.
    assert not (clone / "ddrlib" / "__init__.py").exists()
