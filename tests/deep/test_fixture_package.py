"""The deep stages over the synthetic package: each broken model ends with exactly its finding,
the good ones with none, and a second run on the unchanged tree runs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaihm_lint.deep import DeepOptions, DeepResult, run_deep, run_deep_detailed
from qaihm_lint.diagnostics import Location, Severity
from tests.deep.conftest import FIXTURE_REPO, MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

pytestmark = [pytest.mark.deep, pytest.mark.slow]

# The package also holds the hostile models of test_wrong_answers.py, which check themselves.
EXPECTED = {
    "bad_input_spec": {("QAI803", "invalid-input-spec")},
    "data_dependent": {("QAI806", "trace-divergence")},
    "good": set(),
    "good_collection": set(),
    "good_manifest": set(),
    "hangs": {("QAI809", "deep-timeout")},
    "memory_hog": {("QAI802", "from-pretrained-failed")},
    "missing_dependency": {("QAI801", "import-failed")},
    "needs_argument": {("QAI802", "from-pretrained-failed")},
    "onnx_unsupported": {("QAI807", "onnx-export-failed")},
    "output_mismatch": {("QAI804", "output-names-mismatch")},
    "precompiled": set(),
    "segfaults": {("QAI804", "output-names-mismatch")},
    "uses_cuda": {("QAI802", "from-pretrained-failed")},
}


def options(cache_dir: Path, **overrides: object) -> DeepOptions:
    settings: dict[str, object] = {
        "compile": False,
        "timeout": STAGE_TIMEOUT,
        "jobs": 2,
        "cache_dir": cache_dir,
        "progress": False,
        "memory_limit_mb": MEMORY_LIMIT_MB,
    }
    settings.update(overrides)
    return DeepOptions(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deep-cache")


@pytest.fixture(scope="module")
def first_run(cache_dir: Path) -> DeepResult:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return run_deep_detailed(folders_of(FIXTURE_REPO, *EXPECTED), options(cache_dir))


def by_model(result: DeepResult) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {
        outcome.folder.model_id: set() for outcome in result.outcomes
    }
    for diagnostic in result.diagnostics:
        assert diagnostic.model_id is not None
        found[diagnostic.model_id].add((diagnostic.code, diagnostic.rule))
    return found


def message_of(result: DeepResult, model_id: str) -> str:
    (diagnostic,) = [d for d in result.diagnostics if d.model_id == model_id]
    return diagnostic.message


def test_each_model_ends_with_exactly_its_finding(first_run: DeepResult) -> None:
    assert by_model(first_run) == EXPECTED
    assert first_run.workers_run == len(EXPECTED)


def test_diagnostics_shape(first_run: DeepResult) -> None:
    for diagnostic in first_run.diagnostics:
        assert diagnostic.severity is Severity.ERROR
        # The frame that raised when it is the model's code, else its model.py (issue 21:
        # no more "model.py:1:1" with the licence header for an error raised elsewhere).
        assert diagnostic.path.name == "model.py"
        assert diagnostic.path.parent.name == diagnostic.model_id
        assert diagnostic.message.startswith("deep stage ")
        assert "Traceback" not in diagnostic.message
    at = {d.model_id: d.start for d in first_run.diagnostics}
    source = (FIXTURE_REPO / "qai_hub_models/models/missing_dependency/model.py").read_text()
    import_row = source.splitlines().index(
        "import qaihm_lint_fixture_absent_dependency  # noqa: F401  (installed nowhere)"
    )
    assert at["missing_dependency"] == Location(import_row + 1, 1)
    assert at["hangs"] == Location(1, 1)  # killed: no frame to point at
    ordered = sorted(first_run.diagnostics, key=lambda d: d.sort_key())
    assert first_run.diagnostics == ordered


def test_good_models_pass_every_applicable_stage(first_run: DeepResult) -> None:
    outcomes = {outcome.folder.model_id: outcome for outcome in first_run.outcomes}
    good = outcomes["good"].records
    assert [(r["stage"], r["status"]) for r in good] == [
        ("import", "ok"),
        ("from_pretrained", "ok"),
        ("input_spec", "ok"),
        ("forward", "ok"),
        ("trace", "ok"),
        ("onnx", "ok"),
    ]
    # Both components of the collection run every stage.
    collection = outcomes["good_collection"].records
    for component in ("encoder", "decoder"):
        stages = [r["stage"] for r in collection if r["component"] == component]
        assert stages == ["input_spec", "forward", "trace", "onnx"]
    assert all(r["status"] == "ok" for r in collection)
    # The manifest layout is exported with torch.export, and passes too.
    assert all(r["status"] == "ok" for r in outcomes["good_manifest"].records)
    # A precompiled model has no PyTorch graph: only the input spec applies.
    precompiled = {(r["stage"], r["status"]) for r in outcomes["precompiled"].records}
    assert ("input_spec", "ok") in precompiled
    assert {("forward", "skip"), ("trace", "skip"), ("onnx", "skip")} <= precompiled


def test_messages_say_stage_cause_and_remedy(first_run: DeepResult) -> None:
    text = message_of(first_run, "output_mismatch")
    assert "deep stage 4 (forward)" in text
    assert "returns 2 tensor(s)" in text and "names 3" in text

    text = message_of(first_run, "data_dependent")
    assert "deep stage 5 (trace)" in text and "fresh input set" in text
    assert "% of its elements differ by more than 0.0001 x scale" in text and "worst at [" in text
    assert "TracerWarning" in text and "data_dependent/model.py" in text

    text = message_of(first_run, "onnx_unsupported")
    assert "deep stage 6 (onnx)" in text and "aten::fft_fft" in text

    text = message_of(first_run, "needs_argument")
    assert "from_pretrained() cannot be called without arguments" in text
    assert "checkpoint_path" in text and "default" in text

    text = message_of(first_run, "uses_cuda")
    assert "deep stage 2 (from_pretrained)" in text
    assert "needs a GPU" in text and "CPU" in text and "uses_cuda/model.py:" in text

    text = message_of(first_run, "hangs")
    assert "deep stage 4 (forward)" in text
    assert f"did not finish within {STAGE_TIMEOUT:g} s" in text and "--timeout" in text

    text = message_of(first_run, "segfaults")
    assert "deep stage 4 (forward)" in text and "SIGSEGV" in text
    assert "segfaults/model.py:" in text and "in forward" in text

    text = message_of(first_run, "memory_hog")
    # Whichever stops the model first, its own address-space limit or the fork server's count
    # over its whole process tree, the model is told the same thing.
    assert f"ran out of memory (the limit of {MEMORY_LIMIT_MB} MiB" in text, text
    assert "any processes it starts together" in text, text

    text = message_of(first_run, "missing_dependency")
    assert "deep stage 1 (import)" in text
    assert "qaihm_lint_fixture_absent_dependency" in text

    text = message_of(first_run, "bad_input_spec")
    assert "deep stage 3 (input_spec)" in text and "(0, 4)" in text


# Verdicts about the environment, not the code, are never cached (issue 12): a missing module
# may be installed and a memory failure depends on the cap, which follows --jobs; a timeout
# says as much about a busy runner as about the model (issue 19).
UNCACHED = {"missing_dependency", "memory_hog", "hangs"}


def test_second_run_on_unchanged_tree_runs_nothing(
    first_run: DeepResult, cache_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    second = run_deep_detailed(folders_of(FIXTURE_REPO, *EXPECTED), options(cache_dir))
    assert second.workers_run == len(UNCACHED)
    assert second.jobs_submitted == 0
    assert {o.folder.model_id for o in second.outcomes if not o.cached} == UNCACHED

    # memory_hog runs again, and which limit stops it first (its address space or the fork
    # server's count over its process tree) may differ between runs: compare it by code.
    def settled(result: DeepResult) -> list[object]:
        return [
            (d.code, d.model_id) if d.model_id == "memory_hog" else d for d in result.diagnostics
        ]

    assert settled(second) == settled(first_run)
    cached_only = folders_of(FIXTURE_REPO, *(set(EXPECTED) - UNCACHED))
    third = run_deep_detailed(cached_only, options(cache_dir))
    assert third.workers_run == 0
    err = capfd.readouterr().err
    assert "unchanged since the last deep run: nothing run, nothing submitted" in err


def test_no_cache_runs_again(cache_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folders = folders_of(FIXTURE_REPO, "good")
    result = run_deep_detailed(folders, options(cache_dir, use_cache=False))
    assert result.workers_run == 1 and result.diagnostics == []


def test_an_edit_reruns_only_the_edited_model(fixture_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folders = folders_of(fixture_copy, "good", "output_mismatch")
    cache = tmp_path / "cache"
    first = run_deep_detailed(folders, options(cache, stages=frozenset({"load"})))
    assert by_model(first)["output_mismatch"] == {("QAI804", "output-names-mismatch")}
    model_py = fixture_copy / "qai_hub_models/models/output_mismatch/model.py"
    model_py.write_text(
        model_py.read_text().replace('"features", "pooled", "logits"', '"features", "pooled"')
    )
    second = run_deep_detailed(folders, options(cache, stages=frozenset({"load"})))
    assert second.workers_run == 1
    assert {o.folder.model_id: o.cached for o in second.outcomes} == {
        "good": True,
        "output_mismatch": False,
    }
    assert second.diagnostics == []


def test_plain_progress_lines(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    diagnostics = run_deep(
        folders_of(FIXTURE_REPO, "good"), options(tmp_path, stages=frozenset({"load"}))
    )
    captured = capfd.readouterr()
    assert diagnostics == []
    assert captured.out == ""  # stdout belongs to the report
    assert "deep: good import ok" in captured.err
    assert "deep: good forward ok" in captured.err
    assert "trace" not in captured.err.replace("qaihm", "")


def test_live_progress_table(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("rich")
    run_deep(
        folders_of(FIXTURE_REPO, "good", "output_mismatch"),
        options(tmp_path, stages=frozenset({"load"}), progress=True),
    )
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "qaihm-lint --deep: 2/2 models, 1 failure(s)" in captured.err
    assert "output_mismatch" in captured.err and "✗" in captured.err and "✓" in captured.err
