"""The compile stage end to end with real torch and the fake AI Hub client (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaihm_lint.deep import DeepError, DeepOptions, FakeHubClient, FakeJobScript, run_deep_detailed
from tests.deep.conftest import MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

pytestmark = [pytest.mark.deep, pytest.mark.slow]

S25 = "Samsung Galaxy S25 (Family)"
X_ELITE = "Snapdragon X Elite CRD"


@pytest.fixture(autouse=True)
def _needs_torch() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("qai_hub")


def options(cache: Path, **overrides: object) -> DeepOptions:
    settings: dict[str, object] = {
        "targets": (S25, X_ELITE),
        # onnx is covered elsewhere; "compile" brings "trace" along.
        "stages": frozenset({"load", "compile"}),
        "timeout": STAGE_TIMEOUT,
        "jobs": 2,
        "cache_dir": cache,
        "progress": False,
        "memory_limit_mb": MEMORY_LIMIT_MB,
        "poll_interval": 0.0,
        "compile_timeout": 30.0,
    }
    settings.update(overrides)
    return DeepOptions(**settings)  # type: ignore[arg-type]


def test_all_targets_in_one_submit_then_polled_to_success(
    fixture_copy: Path, tmp_path: Path
) -> None:
    hub = FakeHubClient()
    result = run_deep_detailed(folders_of(fixture_copy, "good"), options(tmp_path), hub)
    assert result.diagnostics == []
    assert hub.preflights == 1
    (submission,) = hub.submissions
    assert [device.name for device in submission["device"]] == [S25, X_ELITE]
    assert submission["single_compile"] is False
    assert submission["model"].endswith(".pt")
    assert submission["input_specs"] == {"image": ((1, 3, 8, 8), "float32")}
    compile_records = [r for r in result.outcomes[0].records if r["stage"] == "compile"]
    assert {(r["target"], r["status"]) for r in compile_records} == {(S25, "ok"), (X_ELITE, "ok")}
    assert all(job.polls >= 3 for job in hub.jobs)


def test_failed_job_is_reported_with_url_and_reason(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient(
        {X_ELITE: FakeJobScript(("CREATED", "OPTIMIZING_MODEL", "FAILED"), "Op Fft is unsupported")}
    )
    result = run_deep_detailed(folders_of(fixture_copy, "good"), options(tmp_path), hub)
    (finding,) = result.diagnostics
    assert (finding.code, finding.rule) == ("QAI808", "compile-failed")
    assert f"deep stage 7 (compile, on {X_ELITE})" in finding.message
    assert "Op Fft is unsupported" in finding.message
    failed_job = next(job for job in hub.jobs if job.device.name == X_ELITE)
    assert failed_job.url in finding.message
    assert finding.extra["url"] == failed_job.url


def test_collection_components_compile_separately(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient()
    result = run_deep_detailed(
        folders_of(fixture_copy, "good_collection", "good_manifest"),
        options(tmp_path, targets=(S25,)),
        hub,
    )
    assert result.diagnostics == []
    names = sorted(submission["name"] for submission in hub.submissions)
    assert names == ["good_collection_decoder", "good_collection_encoder", "good_manifest"]
    models = {submission["name"]: submission["model"] for submission in hub.submissions}
    assert models["good_manifest"].endswith(".pt2")  # the manifest layout uses torch.export


def test_a_job_that_never_finishes_times_out(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient(default=FakeJobScript(("CREATED", "OPTIMIZING_MODEL")))
    result = run_deep_detailed(
        folders_of(fixture_copy, "good"),
        options(tmp_path, targets=(S25,), compile_timeout=0.5, poll_interval=0.1),
        hub,
    )
    (finding,) = result.diagnostics
    assert (finding.code, finding.rule) == ("QAI809", "deep-timeout")
    assert "still OPTIMIZING_MODEL after 0.5 s" in finding.message
    assert hub.jobs[0].url in finding.message


def test_rate_limiting_is_waited_out(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient(rate_limited_submits=2, rate_limited_polls=2)
    result = run_deep_detailed(
        folders_of(fixture_copy, "good"), options(tmp_path, targets=(S25,)), hub
    )
    assert result.diagnostics == []
    assert len(hub.submissions) == 1 and result.jobs_submitted == 1


def test_models_that_fail_locally_are_not_submitted(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient()
    result = run_deep_detailed(
        folders_of(fixture_copy, "output_mismatch", "needs_argument"), options(tmp_path), hub
    )
    assert {d.code for d in result.diagnostics} == {"QAI804", "QAI802"}
    assert hub.submissions == []


def test_second_run_submits_nothing(
    fixture_copy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folders = folders_of(fixture_copy, "good")
    first_hub = FakeHubClient(
        {X_ELITE: FakeJobScript(("CREATED", "FAILED"), "out of memory on device")}
    )
    first = run_deep_detailed(folders, options(tmp_path), first_hub)
    assert [d.code for d in first.diagnostics] == ["QAI808"]
    capfd.readouterr()
    second_hub = FakeHubClient()
    second = run_deep_detailed(folders, options(tmp_path), second_hub)
    assert second_hub.submissions == [] and second.workers_run == 0
    assert second.diagnostics == first.diagnostics  # the cached verdict, not a new compile
    assert "nothing run, nothing submitted" in capfd.readouterr().err
    # A new target needs the traced model again: the worker reruns, only that target is sent.
    third_hub = FakeHubClient()
    third = run_deep_detailed(
        folders, options(tmp_path, targets=(S25, X_ELITE, "Snapdragon 8 Elite QRD")), third_hub
    )
    assert third.workers_run == 1
    assert [[d.name for d in s["device"]] for s in third_hub.submissions] == [
        ["Snapdragon 8 Elite QRD"]
    ]
    assert [d.code for d in third.diagnostics] == ["QAI808"]


def test_preflight_failure_stops_before_any_model(fixture_copy: Path, tmp_path: Path) -> None:
    hub = FakeHubClient(preflight_error="no AI Hub API token: run `qai-hub configure`")
    with pytest.raises(DeepError, match="qai-hub configure"):
        run_deep_detailed(folders_of(fixture_copy, "good"), options(tmp_path), hub)
    assert hub.submissions == []


def test_no_compile_needs_no_hub(fixture_copy: Path, tmp_path: Path) -> None:
    # No client given and no token configured: fine, because compile is off.
    result = run_deep_detailed(folders_of(fixture_copy, "good"), options(tmp_path, compile=False))
    assert result.diagnostics == [] and result.jobs_submitted == 0
    assert not any(r["stage"] == "compile" for r in result.outcomes[0].records)


def test_missing_token_with_compile_on_is_a_deep_error(fixture_copy: Path, tmp_path: Path) -> None:
    # QAIHUB_CLIENT_INI points at a missing file (conftest): the real client's preflight.
    with pytest.raises(DeepError) as caught:
        run_deep_detailed(folders_of(fixture_copy, "good"), options(tmp_path))
    assert "qai-hub configure --api_token" in str(caught.value)
    assert "--no-compile" in str(caught.value)
