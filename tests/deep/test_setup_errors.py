"""Usage and setup problems are one-line DeepErrors; odd folders are findings, not crashes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from qaihm_lint.deep import DeepError, DeepOptions, run_deep, run_deep_detailed
from qaihm_lint.deep.common import normalise_groups
from qaihm_lint.workspace import Layout, ModelFolder
from tests.deep.conftest import FIXTURE_REPO, folders_of

REPO = Path(__file__).resolve().parents[2]


def test_stage_groups() -> None:
    assert normalise_groups(frozenset({"onnx"}), compile_on=True) == {"load", "onnx"}
    assert normalise_groups(frozenset({"compile"}), compile_on=True) == {"load", "trace", "compile"}
    assert normalise_groups(frozenset({"compile", "onnx"}), compile_on=False) == {"load", "onnx"}
    with pytest.raises(DeepError, match="unknown deep stage"):
        normalise_groups(frozenset({"load", "profile"}), compile_on=False)


def test_interpreter_without_torch_names_the_extra(tmp_path: Path) -> None:
    # The same Python without site-packages: no torch, onnx or onnxruntime there.
    wrapper = tmp_path / "python-without-site"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    options = DeepOptions(python=str(wrapper), compile=False, progress=False, cache_dir=tmp_path)
    with pytest.raises(DeepError) as caught:
        run_deep(folders_of(FIXTURE_REPO, "good"), options)
    text = str(caught.value)
    # qaihm-lint is not on PyPI: the hint names this checkout, whose extra matches torchvision.
    assert f"pip install -e '{REPO}[deep]'" in text and str(wrapper) in text
    assert "matched torchvision" in text
    assert "\n" not in text


def test_missing_interpreter(tmp_path: Path) -> None:
    options = DeepOptions(python=str(tmp_path / "nope"), compile=False, progress=False)
    with pytest.raises(DeepError, match="no such interpreter"):
        run_deep(folders_of(FIXTURE_REPO, "good"), options)


@pytest.mark.deep
def test_folder_outside_a_package_is_an_import_finding(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = tmp_path / "lonely"
    shutil.copytree(FIXTURE_REPO / "qai_hub_models/models/good", folder)
    options = DeepOptions(compile=False, progress=False, cache_dir=tmp_path / "cache")
    (finding,) = run_deep([ModelFolder(folder, Layout.INFO, None)], options)
    assert finding.code == "QAI801" and "not inside a qai_hub_models package" in finding.message


def test_worker_imports_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import qaihm_lint.deep.inside.worker\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(' '.join(sorted(new - set(sys.stdlib_module_names))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout.split()
    # Only our own package name; nothing of the parent side (rich, qai_hub, diagnostics).
    assert out == ["qaihm_lint"]
    code = (
        "import sys, qaihm_lint.deep.inside.worker\n"
        "print(sorted(m for m in sys.modules if m.startswith('qaihm_lint')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    assert "qaihm_lint.deep.runner" not in loaded and "qaihm_lint.diagnostics" not in loaded


def test_worker_module_usage_error() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "qaihm_lint.deep.inside.worker"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert completed.returncode == 2 and "usage" in completed.stderr


@pytest.mark.deep
def test_card_only_folder_runs_nothing(fixture_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    card = fixture_copy / "qai_hub_models/models/card_only"
    card.mkdir()
    (card / "info.yaml").write_text("id: card_only\n")
    options = DeepOptions(compile=False, progress=False, cache_dir=tmp_path)
    result = run_deep_detailed(folders_of(fixture_copy, "card_only"), options)
    assert result.diagnostics == [] and result.workers_run == 0


@pytest.mark.deep
@pytest.mark.slow
def test_a_torchvision_from_another_build_is_a_setup_error_before_any_build(
    tmp_path: Path,
) -> None:
    """Issue 21 item 1: the index's torchvision beside another torch failed every model after a
    4-minute build, as QAI801 at model.py:1:1. Now: exit 2, one line, nothing built."""
    pytest.importorskip("torchvision")
    # This interpreter, with a torchvision that fails to load the way a mismatched build does.
    shadow = tmp_path / "shadow" / "torchvision"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n"
    )
    wrapper = tmp_path / "python-mismatched"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{shadow.parent}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    completed = subprocess.run(
        [
            sys.executable, "-m", "qaihm_lint", "--deep", "--no-compile", "--python",
            str(wrapper), "--env-dir", str(tmp_path / "envs"), "--no-cache",
            str(FIXTURE_REPO / "qai_hub_models/models/good"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr
    assert "torchvision" in lines[0] and "does not load beside torch" in lines[0]
    assert "operator torchvision::nms does not exist" in lines[0]
    assert "QAI801" not in completed.stdout
    assert not (tmp_path / "envs").exists()
