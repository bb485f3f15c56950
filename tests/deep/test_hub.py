"""The AI Hub boundary against the installed qai_hub: real signatures, real types, offline."""

from __future__ import annotations

import http.server
import inspect
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qaihm_lint.deep.common import DeepError
from qaihm_lint.deep.hub import (
    FakeHubClient,
    FakeJobScript,
    HubRateLimited,
    QaiHubClient,
    client_prints_to_stderr,
    compile_job_kwargs,
    make_device,
    status_from_qai_hub,
)

qai_hub = pytest.importorskip("qai_hub")


def test_compile_kwargs_bind_to_the_real_submit_compile_job(tmp_path: Path) -> None:
    devices = [make_device(qai_hub, "Samsung Galaxy S25 (Family)")]
    kwargs = compile_job_kwargs(
        tmp_path / "model.pt",
        devices,
        name="good",
        input_specs={"image": ((1, 3, 8, 8), "float32")},
        options="--target_runtime tflite",
    )
    # Both the module-level function and the Client method (which QaiHubClient calls).
    inspect.signature(qai_hub.submit_compile_job).bind(**kwargs)
    inspect.signature(qai_hub.Client.submit_compile_job).bind(object(), **kwargs)
    assert kwargs["single_compile"] is False
    assert kwargs["retry"] is False
    assert kwargs["input_specs"] == {"image": ((1, 3, 8, 8), "float32")}
    parameters = inspect.signature(qai_hub.submit_compile_job).parameters
    assert parameters["single_compile"].default is True  # why we must pass False
    assert parameters["retry"].default is True  # likewise: the runner retries by itself


def test_the_fake_prints_what_the_real_client_prints() -> None:
    # The fake's stdout chatter is only a fair test of ours if the real client says the same.
    source = inspect.getsource(qai_hub.client)
    for text in (
        "Submitting a compile job with a Torchscript model is deprecated",
        "Scheduled compile job (",
        "Retrying periodically until your request succeeds",
        "Retrying after {time_between_retries} seconds.",
    ):
        assert text in source
    assert "print(" in inspect.getsource(qai_hub.client._print_deprecation_message)
    assert qai_hub.client.RATE_LIMIT_RETRY_TIMEOUT == 10  # minutes of the client's own retries


def test_client_prints_go_to_stderr_and_stdout_comes_back(
    capfd: pytest.CaptureFixture[str],
) -> None:
    original = sys.stdout
    entered = threading.Barrier(4)

    def chatty() -> None:
        with client_prints_to_stderr():
            entered.wait()  # all four inside at once: the swaps overlap
            print("client chatter")
            entered.wait()

    threads = [threading.Thread(target=chatty) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.stdout is original
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err.count("client chatter") == 4


def test_other_calls_match_the_real_client() -> None:
    inspect.signature(qai_hub.Client.get_devices).bind(object(), name="x", os="", attributes=[])
    inspect.signature(qai_hub.client.CompileJob.get_status).bind(object())
    assert isinstance(inspect.getattr_static(qai_hub.Client, "config"), property)
    # What the adapter reads from a job: job_id (set in __init__), url, get_status().
    assert "job_id" in inspect.signature(qai_hub.client.Job.__init__).parameters
    assert isinstance(inspect.getattr_static(qai_hub.client.Job, "url"), property)
    inspect.signature(qai_hub.client.Job.get_status).bind(object())
    for state in ("CREATED", "OPTIMIZING_MODEL", "SUCCESS", "FAILED"):
        assert state in qai_hub.JobStatus.State.__members__
    assert issubclass(qai_hub.client.RateLimitedError, qai_hub.Error)


def test_targets_become_real_devices() -> None:
    by_name = make_device(qai_hub, "Samsung Galaxy S25 (Family)")
    assert isinstance(by_name, qai_hub.Device) and by_name.name == "Samsung Galaxy S25 (Family)"
    by_chipset = make_device(qai_hub, "chipset:qualcomm-snapdragon-8gen3")
    assert by_chipset.name == "" and by_chipset.attributes == ["chipset:qualcomm-snapdragon-8gen3"]


def test_status_conversion_uses_real_job_status() -> None:
    failed = status_from_qai_hub(qai_hub.JobStatus(qai_hub.JobStatus.State.FAILED, "bad op"))
    assert (failed.state, failed.finished, failed.success, failed.message) == (
        "FAILED",
        True,
        False,
        "bad op",
    )
    running = status_from_qai_hub(qai_hub.JobStatus(qai_hub.JobStatus.State.OPTIMIZING_MODEL))
    assert not running.finished and running.message == ""


def test_fake_plays_its_script_and_normalises_single_jobs(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"not really torchscript")
    fake = FakeHubClient(
        {"Snapdragon X Elite CRD": FakeJobScript(("CREATED", "FAILED"), "unsupported op")}
    )
    (single,) = fake.submit(
        model, ["Samsung Galaxy S25 (Family)"], name="m", input_specs={}, options=""
    )
    assert single.url.endswith(f"/jobs/{single.job_id}/")
    states = [fake.poll(single).state for _ in range(4)]
    assert states == ["CREATED", "OPTIMIZING_MODEL", "SUCCESS", "SUCCESS"]
    jobs = fake.submit(
        model,
        ["Samsung Galaxy S25 (Family)", "Snapdragon X Elite CRD"],
        name="m",
        input_specs={},
        options="",
    )
    assert [job.target for job in jobs] == ["Samsung Galaxy S25 (Family)", "Snapdragon X Elite CRD"]
    fake.poll(jobs[1])
    final = fake.poll(jobs[1])
    assert final.finished and not final.success and final.message == "unsupported op"
    assert fake.submissions[1]["single_compile"] is False


def test_fake_rate_limits_through_the_real_error_type(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    fake = FakeHubClient(rate_limited_submits=1)
    with pytest.raises(HubRateLimited):
        fake.submit(model, ["Samsung Galaxy S25 (Family)"], name="m", input_specs={}, options="")
    assert (
        len(
            fake.submit(
                model, ["Samsung Galaxy S25 (Family)"], name="m", input_specs={}, options=""
            )
        )
        == 1
    )


def test_preflight_without_ini_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(tmp_path / "missing.ini"))
    started = time.monotonic()
    with pytest.raises(DeepError) as caught:
        QaiHubClient().preflight(["Samsung Galaxy S25 (Family)"])
    assert time.monotonic() - started < 5
    text = str(caught.value)
    assert "qai-hub configure --api_token" in text and "--no-compile" in text
    assert "\n" not in text


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def _deny(self) -> None:
        body = b'{"detail": "Invalid token."}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _deny

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_401() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_preflight_with_a_bad_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loopback_401: str
) -> None:
    ini = tmp_path / "client.ini"
    ini.write_text(
        f"[api]\napi_token = not-a-real-token\napi_url = {loopback_401}\nweb_url = {loopback_401}\n"
    )
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    started = time.monotonic()
    with pytest.raises(DeepError) as caught:
        QaiHubClient(preflight_timeout=20).preflight(["Samsung Galaxy S25 (Family)"])
    assert time.monotonic() - started < 15
    text = str(caught.value)
    assert "qai-hub configure --api_token" in text and "--no-compile" in text


def test_preflight_gives_up_on_a_silent_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listening socket that never answers: the client would retry for most of a minute.
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        ini = tmp_path / "client.ini"
        ini.write_text(f"[api]\napi_token = t\napi_url = {url}\nweb_url = {url}\n")
        monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
        started = time.monotonic()
        with pytest.raises(DeepError) as caught:
            QaiHubClient(preflight_timeout=1.5).preflight(["Samsung Galaxy S25 (Family)"])
        assert time.monotonic() - started < 5
    assert "did not answer within 1.5 s" in str(caught.value)
