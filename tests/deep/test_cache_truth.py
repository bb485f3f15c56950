"""The deep cache keeps only verdicts about the model's own code (issue 12, "a cache that never
lies"). Each test first produces the verdict the old cache kept wrongly, then changes what the
verdict really depended on, and expects the model to be run again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qaihm_lint.deep import DeepOptions, DeepResult, run_deep_detailed
from qaihm_lint.deep import probe as runner_mod
from tests.deep.builders import add_model
from tests.deep.conftest import MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

pytestmark = [pytest.mark.deep, pytest.mark.slow]


def run(repo: Path, cache: Path, *model_ids: str, **overrides: object) -> DeepResult:
    pytest.importorskip("torch")
    settings: dict[str, object] = {
        "compile": False,
        "stages": frozenset({"load"}),
        "timeout": STAGE_TIMEOUT,
        "jobs": 1,
        "cache_dir": cache,
        "progress": False,
        "memory_limit_mb": MEMORY_LIMIT_MB,
        "python": sys.executable,
    }
    settings.update(overrides)
    return run_deep_detailed(folders_of(repo, *model_ids), DeepOptions(**settings))  # type: ignore[arg-type]


def codes(result: DeepResult) -> set[str]:
    return {d.code for d in result.diagnostics}


def test_missing_module_is_not_served_after_the_environment_is_fixed(
    fixture_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_model(fixture_copy, "late_dependency", imports="import qaihm_lint_fixture_late  # noqa")
    first = run(fixture_copy, tmp_path / "cache", "late_dependency")
    assert codes(first) == {"QAI801"}
    # The user installs the missing package into the environment.
    site = tmp_path / "site"
    site.mkdir()
    (site / "qaihm_lint_fixture_late.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(site))
    second = run(fixture_copy, tmp_path / "cache", "late_dependency")
    assert second.workers_run == 1
    assert codes(second) == set()


def test_network_failure_is_not_served_after_the_network_is_back(
    fixture_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    online = shared / "online"
    monkeypatch.setenv("QAIHM_LINT_TEST_ONLINE", str(shared))
    monkeypatch.setenv("QAIHM_LINT_PASS_ENV", "QAIHM_LINT_TEST_ONLINE")
    add_model(
        fixture_copy,
        "downloads",
        imports="import os",
        body="""\
        if not os.path.exists(os.path.join(os.environ["QAIHM_LINT_TEST_ONLINE"], "online")):
            raise ConnectionError(
                "HTTPSConnectionPool(host='example.invalid', port=443): Max retries exceeded"
            )
        """,
    )
    first = run(fixture_copy, tmp_path / "cache", "downloads")
    (finding,) = first.diagnostics
    assert finding.code == "QAI802" and "network error" in finding.message
    online.touch()
    second = run(fixture_copy, tmp_path / "cache", "downloads")
    assert second.workers_run == 1 and codes(second) == set()


def test_a_library_error_hiding_the_network_is_not_served_after_the_weights_arrive(
    fixture_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 item 5: transformers raises its own OSError, the network cause dropped."""
    # A folder shared with the worker (the sandbox passes only named variables and folders).
    shared = tmp_path / "shared"
    shared.mkdir()
    weights = shared / "preprocessor_config.json"
    monkeypatch.setenv("QAIHM_LINT_TEST_WEIGHTS", str(shared))
    monkeypatch.setenv("QAIHM_LINT_PASS_ENV", "QAIHM_LINT_TEST_WEIGHTS")
    add_model(
        fixture_copy,
        "hf_processor",
        imports="import os",
        body="""\
        folder = os.environ["QAIHM_LINT_TEST_WEIGHTS"]
        if not os.path.exists(os.path.join(folder, "preprocessor_config.json")):
            raise OSError(
                "Can't load image processor for 'apple/mobilevit-small'. If you were trying "
                "to load it from 'https://huggingface.co/models', make sure you don't have a "
                "local directory with the same name."
            )
        """,
    )
    first = run(fixture_copy, tmp_path / "cache", "hf_processor")
    (finding,) = first.diagnostics
    assert finding.code == "QAI802" and "no local copy of a file" in finding.message
    weights.touch()
    second = run(fixture_copy, tmp_path / "cache", "hf_processor")
    assert second.workers_run == 1 and codes(second) == set()


def test_a_torch_hub_download_failure_names_its_url(fixture_copy: Path, tmp_path: Path) -> None:
    """Issue 21 item 5: urllib's URLError does not carry the URL; the frame that fetched does."""
    add_model(
        fixture_copy,
        "hub_weights",
        imports="import socket\nimport urllib.error",
        body="""\
        def download_url_to_file(url: str, dst: str) -> None:
            raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

        download_url_to_file(
            "https://download.pytorch.org/models/resnet18-f37072fd.pth", "/nonexistent"
        )
        """,
    )
    (finding,) = run(fixture_copy, tmp_path / "cache", "hub_weights").diagnostics
    assert finding.code == "QAI802"
    assert "fetching https://download.pytorch.org/models/resnet18-f37072fd.pth failed" in (
        finding.message
    )


def test_a_folder_is_rerun_when_a_model_folder_it_imports_breaks(
    fixture_copy: Path, tmp_path: Path
) -> None:
    helper = add_model(fixture_copy, "base_detector", files={"shared_layer.py": "SCALE = 1.0\n"})
    add_model(
        fixture_copy,
        "derived_detector",
        imports="from qai_hub_models.models.base_detector.shared_layer import SCALE",
        scale="SCALE",
    )
    first = run(fixture_copy, tmp_path / "cache", "derived_detector")
    assert codes(first) == set()
    (helper / "shared_layer.py").write_text("raise ImportError('broken on purpose')\n")
    second = run(fixture_copy, tmp_path / "cache", "derived_detector")
    assert second.workers_run == 1
    assert codes(second) == {"QAI801"}


def test_changing_jobs_reruns_nothing(fixture_copy: Path, tmp_path: Path) -> None:
    # The default memory cap is RAM shared among the --jobs workers.
    first = run(fixture_copy, tmp_path / "cache", "good", jobs=1, memory_limit_mb=None)
    assert first.workers_run == 1
    second = run(fixture_copy, tmp_path / "cache", "good", jobs=3, memory_limit_mb=None)
    assert second.workers_run == 0
    assert codes(second) == set()


def test_fully_cached_run_does_not_probe_the_interpreter(
    fixture_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[str] = []
    real_probe = runner_mod._probe

    def counting(python: str, explicit: bool) -> dict[str, str]:
        probes.append(python)
        return real_probe(python, explicit)

    monkeypatch.setattr(runner_mod, "_probe", counting)
    monkeypatch.setattr(runner_mod, "_PROBED", {})
    run(fixture_copy, tmp_path / "cache", "good")
    assert probes == [sys.executable]
    monkeypatch.setattr(runner_mod, "_PROBED", {})  # as in a new process
    second = run(fixture_copy, tmp_path / "cache", "good")
    assert second.workers_run == 0
    assert probes == [sys.executable]


def test_probe_is_repeated_when_the_interpreter_changes(tmp_path: Path) -> None:
    from qaihm_lint.deep.cache import interpreter_stamp

    prefix = tmp_path / "venv"
    site = prefix / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (prefix / "bin").mkdir()
    python = prefix / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    before = interpreter_stamp(str(python))
    assert before is not None and interpreter_stamp(str(python)) == before
    (site / "torch-2.14.1.dist-info").mkdir()  # pip install adds a .dist-info folder
    import os

    stat = site.stat()
    os.utime(site, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert interpreter_stamp(str(python)) != before


def test_source_as_root_clones_without_asking(fixture_copy: Path, tmp_path: Path) -> None:
    # What upstream's maybe_clone_git_repo does: ask on stdin unless QAIHM_CI=1.
    add_model(
        fixture_copy,
        "clones_upstream",
        imports="import os",
        body="""\
        if os.getenv("QAIHM_CI", "0") != "1":
            input("clones_upstream requires repository x.git . Ok to clone? [Y/n] ")
        """,
    )
    result = run(fixture_copy, tmp_path / "cache", "clones_upstream")
    assert codes(result) == set(), [d.message for d in result.diagnostics]
