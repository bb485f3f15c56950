"""Static mode never imports or executes the code it checks: every module of this tree writes a
marker file when imported, and the tree is importable from the linter's own sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qaihm_lint.testing import MODEL_PY, TEST_PY, build_tree
from tests.conftest import RunCli


def _payload(marker: Path, name: str) -> str:
    return (
        "import os as _os\n"
        f"_os.makedirs({str(marker)!r}, exist_ok=True)\n"
        f"open(_os.path.join({str(marker)!r}, {name!r}), 'w').write('imported')\n"
    )


def _hostile_tree(root: Path, marker: Path):  # type: ignore[no-untyped-def]
    tree = build_tree(
        root,
        {
            # Fixable findings, so that --fix has work to do (QAI202, QAI602, QAI001).
            "model.py": _payload(marker, "model")
            + MODEL_PY.replace(
                "    @classmethod\n    def from_pretrained", "    def from_pretrained"
            ),
            "test.py": _payload(marker, "test") + TEST_PY.replace("@pytest.mark.trace\n", ""),
            "app.py": _payload(marker, "app") + "class ExampleApp:\n    pass\n",
            "demo.py": _payload(marker, "demo") + "def main(is_test=False):\n    pass\n",
            "conftest.py": _payload(marker, "conftest"),
            "evaluate.py": _payload(marker, "evaluate"),
            "requirements.txt": "torch  # noqa: QAI701\n",
        },
        package_files={
            "__init__.py": _payload(marker, "package"),
            "models/__init__.py": _payload(marker, "models"),
            "models/_shared/__init__.py": _payload(marker, "shared"),
            "models/_shared/thing/__init__.py": _payload(marker, "shared_thing"),
            "models/_shared/thing/model.py": _payload(marker, "shared_model")
            + "class Thing:\n    pass\n",
            "utils/__init__.py": _payload(marker, "utils"),
            "utils/base_model.py": _payload(marker, "base_model") + "class BaseModel:\n    pass\n",
            "conftest.py": _payload(marker, "package_conftest"),
        },
    )
    init = tree.model() / "__init__.py"
    init.write_text(_payload(marker, "init") + init.read_text())
    return tree


@pytest.mark.parametrize("mode", [[], ["--fix", "--unsafe-fixes"], ["--diff"]])
def test_in_process_run_imports_nothing(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    marker = tmp_path / "marker"
    tree = _hostile_tree(tmp_path / "repo", marker)
    monkeypatch.syspath_prepend(str(tree.root))
    before = set(sys.modules)
    code, _out, err = run_cli(tree.root, *mode, "--no-cache", "--select", "ALL", "--jobs", "1")
    assert code in (0, 1), err
    assert not marker.exists(), sorted(p.name for p in marker.iterdir())
    assert not {m for m in set(sys.modules) - before if m.startswith("qai_hub_models")}


@pytest.mark.slow
def test_subprocess_runs_import_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    tree = _hostile_tree(tmp_path / "repo", marker)
    env = {**os.environ, "PYTHONPATH": str(tree.root)}
    for args in (["--jobs", "2"], ["--fix", "--unsafe-fixes", "--jobs", "2"], ["--jobs", "1"]):
        completed = subprocess.run(
            [sys.executable, "-m", "qaihm_lint", *args, "--select", "ALL", "qai_hub_models"],
            cwd=tree.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode in (0, 1), completed.stderr
        assert not marker.exists(), (args, sorted(p.name for p in marker.iterdir()))
    # The fixes did happen (so the fix path, libcst included, was exercised).
    assert "@classmethod" in (tree.model() / "model.py").read_text()
