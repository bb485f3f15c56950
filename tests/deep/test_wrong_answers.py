"""Hostile models that used to get a wrong verdict: each one reproduces a wrong answer of
issue 12 and pins the right one.

The fixture models leave their pids in ``QAIHM_LINT_TEST_MARKERS`` so the tests can check that
nothing they started outlives the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qaihm_lint.deep import DeepOptions, DeepResult, FakeHubClient, run_deep_detailed
from tests.deep.conftest import FIXTURE_REPO, MEMORY_LIMIT_MB, STAGE_TIMEOUT, folders_of

pytestmark = [pytest.mark.deep, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _needs_torch() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")


@pytest.fixture
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("QAIHM_LINT_TEST_MARKERS", str(folder))
    # The models write their pids there: shared with the sandbox, and no PID namespace (the
    # pids must be the test's), so Landlock alone where the machine has it.
    monkeypatch.setenv("QAIHM_LINT_PASS_ENV", "QAIHM_LINT_TEST_MARKERS")
    monkeypatch.setenv("QAIHM_LINT_SANDBOX", "landlock")
    return folder


def options(cache_dir: Path | None, **overrides: object) -> DeepOptions:
    settings: dict[str, object] = {
        "compile": False,
        "timeout": STAGE_TIMEOUT,
        "jobs": 2,
        "cache_dir": cache_dir,
        "use_cache": cache_dir is not None,
        "progress": False,
        "memory_limit_mb": MEMORY_LIMIT_MB,
    }
    settings.update(overrides)
    return DeepOptions(**settings)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def processes_with(marker: str) -> list[int]:
    """Processes whose environment mentions ``marker``: everything a run started inherits it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path("/proc", entry, "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ and alive(int(entry)):
            found.append(int(entry))
    return found


def wait_for(path: Path, seconds: float = 90.0) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.1)
    return path.read_text()


def only_message(result: DeepResult, model_id: str) -> str:
    (diagnostic,) = [d for d in result.diagnostics if d.model_id == model_id]
    return diagnostic.message


# ------------------------------------------------------------------ children and the event pipe


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_model_that_forks_children_passes_and_leaves_nothing_running(markers: Path) -> None:
    # Before: the children held the events pipe, so the runner waited out the stage timeout
    # and reported QAI809 after every stage had passed.
    result = run_deep_detailed(folders_of(FIXTURE_REPO, "forks_child"), options(None))
    assert result.diagnostics == []
    records = result.outcomes[0].records
    assert [(r["stage"], r["status"]) for r in records] == [
        ("import", "ok"),
        ("from_pretrained", "ok"),
        ("input_spec", "ok"),
        ("forward", "ok"),
        ("trace", "ok"),
        ("onnx", "ok"),
    ]
    for name in ("fork", "process"):
        pid = int((markers / f"forks_child.{name}.pid").read_text())
        assert not alive(pid), f"the model's {name} child outlived the worker"


# ------------------------------------------------------------------ ONNX inputs


def test_an_input_forward_ignores_is_fed_by_name_and_reported(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Before: the exporter dropped `mask` and the feed was zipped by position, so `image` got
    # the mask's values: a false QAI807.
    result = run_deep_detailed(
        folders_of(FIXTURE_REPO, "ignores_input"), options(None, stages=frozenset({"onnx"}))
    )
    assert result.diagnostics == []
    (onnx,) = [r for r in result.outcomes[0].records if r["stage"] == "onnx"]
    assert onnx["status"] == "ok"
    assert "'mask'" in onnx["message"] and "dropped" in onnx["message"]
    assert "forward()" in onnx["message"]
    # The remark shows in the progress lines too (and in junit as the case's system-out).
    (line,) = [line for line in capfd.readouterr().err.splitlines() if "input onnx" in line]
    assert line.startswith("deep: ignores_input onnx ok") and "'mask'" in line


# ------------------------------------------------------------------ killing what the model started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a subreaper is Linux-only")
def test_a_timeout_kills_the_daemonised_grandchild_too(markers: Path) -> None:
    # Before: the grandchild left the worker's process group with setsid and survived the
    # group kill, while the message said the children had been killed.
    result = run_deep_detailed(
        folders_of(FIXTURE_REPO, "daemonises"), options(None, timeout=8.0, jobs=1)
    )
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "QAI809"
    daemon = int((markers / "daemonises.daemon.pid").read_text())
    worker = int((markers / "daemonises.worker.pid").read_text())
    assert not alive(daemon) and not alive(worker)
    assert "did not finish within 8 s" in diagnostic.message
    assert "1 process(es) it started" in diagnostic.message
    assert processes_with(str(markers)) == []


def _cli(tmp_path: Path, markers: Path, *args: str, temp: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(temp),
        "QAIHM_LINT_TEST_MARKERS": str(markers),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "qaihm_lint", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a subreaper is Linux-only")
@pytest.mark.parametrize(
    ("signum", "exit_code", "said"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_kills_everything_and_caches_nothing(
    fixture_copy: Path,
    tmp_path: Path,
    markers: Path,
    signum: signal.Signals,
    exit_code: int,
    said: str,
) -> None:
    # Before: SIGTERM killed qaihm-lint alone: the hung worker, its daemon and their temp
    # folders stayed behind; Ctrl-C cached a "SIGKILL (out-of-memory killer)" crash verdict.
    temp = tmp_path / "temp"
    temp.mkdir()
    folder = fixture_copy / "qai_hub_models/models/daemonises"
    process = _cli(
        tmp_path,
        markers,
        "--deep",
        "--no-compile",
        "--timeout",
        "300",
        "--output-format",
        "json",
        str(folder),
        temp=temp,
    )
    try:
        wait_for(markers / "daemonises.daemon.pid")
        wait_for(markers / "daemonises.worker.pid")
        assert list(temp.glob("qaihm-deep-*")), "the worker's temp folder should exist by now"
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == exit_code, err
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"qaihm-lint: {said}"), err
    assert "Traceback" not in err
    assert processes_with(str(markers)) == [], "something the run started is still running"
    # onnxruntime keeps a session id in $TMPDIR/.ses (written by the interpreter probe): not ours.
    left = [path.name for path in temp.iterdir() if path.name != ".ses"]
    assert left == [], "temp folders were left behind"
    cache = Path(os.environ["QAIHM_LINT_DEEP_CACHE"])
    # The interpreter probe (probes/) describes the environment, not the model: it may stay.
    verdicts = [p for p in cache.rglob("*.json") if "probes" not in p.relative_to(cache).parts]
    assert not cache.exists() or not verdicts, "an interrupted verdict was cached"


# A signal handled while the standard library holds a future's lock: Python runs handlers
# between any two bytecodes, so the Ctrl-C can land inside concurrent.futures.wait.
_SIGNAL_INSIDE_WAIT = """
import concurrent.futures, signal, sys
from pathlib import Path
from qaihm_lint.deep import DeepOptions, run_deep_detailed
from tests.deep.conftest import FIXTURE_REPO, MEMORY_LIMIT_MB, folders_of

markers = Path(sys.argv[1])
real_wait = concurrent.futures.wait

def wait(fs, timeout=None, return_when=concurrent.futures.ALL_COMPLETED):
    answer = real_wait(fs, timeout, return_when)
    if (markers / "daemonises.worker.pid").exists():
        (future,) = fs
        future._condition.acquire()  # as wait() does; a raising handler skips the release
        signal.raise_signal(signal.SIGINT)
        future._condition.release()
    return answer

concurrent.futures.wait = wait
options = DeepOptions(
    compile=False, timeout=300, jobs=1, use_cache=False, progress=False,
    memory_limit_mb=MEMORY_LIMIT_MB,
)
try:
    run_deep_detailed(folders_of(FIXTURE_REPO, "daemonises"), options)
except KeyboardInterrupt as exc:
    print(type(exc).__name__, getattr(exc, "signal_name", ""), getattr(exc, "summary", ""))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a subreaper is Linux-only")
def test_a_signal_inside_the_standard_librarys_locks_still_stops_the_run(
    tmp_path: Path, markers: Path
) -> None:
    # Before: the Ctrl-C raised while concurrent.futures.wait held the model's future lock;
    # the cancel then waited for the model's thread, which waited for that lock: for ever.
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _SIGNAL_INSIDE_WAIT, str(markers)],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)},
            cwd=tmp_path,
            check=False,
        )
    finally:
        for pid in processes_with(str(markers)):
            os.kill(pid, signal.SIGKILL)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("DeepCancelled SIGINT stopped 1 deep worker(s)"), (
        completed.stdout + completed.stderr
    )
    assert "nothing cached" in completed.stdout


# ------------------------------------------------------------------ AI Hub's client and stdout


def test_the_client_neither_retries_by_itself_nor_prints_to_stdout(
    fixture_copy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qai_hub")
    # Like the real client: it prints a deprecation block for TorchScript and "Scheduled
    # compile job" lines to stdout, and would retry a rate-limited submit for 10 minutes.
    hub = FakeHubClient(rate_limited_submits=1)
    result = run_deep_detailed(
        folders_of(fixture_copy, "good"),
        options(
            tmp_path / "cache",
            compile=True,
            targets=("Samsung Galaxy S25 (Family)", "Snapdragon X Elite CRD"),
            stages=frozenset({"load", "compile"}),
            poll_interval=0.0,
            compile_timeout=30.0,
        ),
        hub,
    )
    assert result.diagnostics == []
    captured = capfd.readouterr()
    assert captured.out == "", "the client wrote to stdout, which belongs to the report"
    assert "Submitting a compile job with a Torchscript model is deprecated" in captured.err
    assert hub.submissions and all(kwargs["retry"] is False for kwargs in hub.submissions)
    assert hub.retried_by_client == 0
    json.dumps(hub.submissions[0]["input_specs"])  # what we sent is plain data


# ------------------------------------------------------------------ messages


@pytest.fixture(scope="module")
def messages_run() -> DeepResult:
    pytest.importorskip("torch")
    return run_deep_detailed(
        folders_of(
            FIXTURE_REPO,
            "nested_output",
            "syntax_error",
            "nondeterministic",
            "random_forward",
            "uses_shared",
        ),
        options(None, stages=frozenset({"load", "trace"})),
    )


def test_a_trace_failure_puts_the_cause_first_without_tensor_dumps(
    messages_run: DeepResult,
) -> None:
    text = only_message(messages_run, "nested_output")
    assert "\n" not in text and len(text) < 700
    cause = text.index("must have consistent element type")
    assert cause < 120, text
    assert "0." not in text.replace("0.0001", "")  # no tensor values
    assert "flat tuple" in text


def test_a_syntax_error_names_path_line_and_column(messages_run: DeepResult) -> None:
    text = only_message(messages_run, "syntax_error")
    assert "qai_hub_models/models/syntax_error/model.py:13:" in text
    assert "deep stage 1 (import)" in text
    # The finding itself points there too, not at model.py:1:1.
    (finding,) = [d for d in messages_run.diagnostics if d.model_id == "syntax_error"]
    assert finding.path.name == "model.py" and finding.start.row == 13
    assert finding.start.column > 1


def test_non_determinism_is_named_as_such(messages_run: DeepResult) -> None:
    text = only_message(messages_run, "nondeterministic")
    assert "non-deterministic" in text and "training mode" in text and "dropout" in text
    assert ".eval()" in text
    text = only_message(messages_run, "random_forward")
    assert "non-deterministic" in text and "random" in text
    assert "fresh input set" not in text


def test_a_dependency_of_shared_code_names_the_shared_module(messages_run: DeepResult) -> None:
    text = only_message(messages_run, "uses_shared")
    assert "qaihm_lint_fixture_absent_shared_dependency" in text
    assert "qai_hub_models/models/_shared/fancy/layers.py" in text
    assert "qai_hub_models/models/uses_shared/requirements.txt" in text
    assert "needed by qai_hub_models itself" not in text
