"""The AI Hub boundary: everything deep mode asks of the ``qai_hub`` client, behind one interface.

``HubClient`` is deliberately narrow (preflight, submit, poll, result) so that the runner never
touches ``qai_hub`` directly. ``QaiHubClient`` adapts the real client; ``FakeHubClient`` replays
scripted job histories for tests using the real client's own ``Device`` and ``JobStatus`` types,
and both share the code that builds the submit call, normalises what it returns and translates
the client's errors, so the tests exercise that code too.

``qai_hub`` is imported lazily: static linting must work without the [deep] extra.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from qaihm_lint.deep.common import CONFIGURE_HINT, INSTALL_HINT, DeepError

InputSpecs = Mapping[str, tuple[tuple[int, ...], str]]

# How long preflight waits for AI Hub before calling it unreachable; the client's own retries
# would take most of a minute.
PREFLIGHT_TIMEOUT = 15.0


class HubError(Exception):
    """AI Hub refused or failed a request about one model (reported as that model's QAI808)."""


class HubRateLimited(HubError):
    """AI Hub asked us to slow down; the caller retries later."""


@dataclass(frozen=True)
class HubJob:
    job_id: str
    url: str
    target: str
    # The client's own job object, opaque to the runner.
    handle: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class HubStatus:
    state: str  # the JobStatus.State name: CREATED, OPTIMIZING_MODEL, SUCCESS, FAILED, ...
    finished: bool
    success: bool
    message: str = ""


class HubClient(Protocol):
    """What deep mode needs from AI Hub."""

    def preflight(self, targets: Sequence[str]) -> None:
        """Fail fast with DeepError when compiling cannot work: no or bad token, AI Hub
        unreachable, an unknown target."""

    def submit(
        self,
        model: Path,
        targets: Sequence[str],
        *,
        name: str,
        input_specs: InputSpecs,
        options: str,
    ) -> list[HubJob]:
        """One compile job per target, all submitted in one call; in ``targets`` order."""

    def poll(self, job: HubJob) -> HubStatus:
        """The job's current status, without waiting."""

    def result(self, job: HubJob) -> HubStatus:
        """The final status of a finished job, with the server's failure reason."""


def import_qai_hub() -> ModuleType:
    try:
        qai_hub: ModuleType = importlib.import_module("qai_hub")
    except ImportError as exc:
        raise DeepError(
            f"the compile stage needs the qai-hub client ({exc}): {INSTALL_HINT}, "
            "or pass --no-compile"
        ) from exc
    return qai_hub


def make_device(hub: ModuleType, target: str) -> Any:
    """``"Samsung Galaxy S25 (Family)"`` names a device; ``"chipset:..."`` (any ``key:value``
    attribute) selects by attribute, as the qai-hub CLI does."""
    if ":" in target and not target.endswith(")"):
        return hub.Device(attributes=[part.strip() for part in target.split(",") if part.strip()])
    return hub.Device(name=target)


def compile_job_kwargs(
    model: Path,
    devices: Sequence[Any],
    *,
    name: str,
    input_specs: InputSpecs,
    options: str,
) -> dict[str, Any]:
    """The keyword arguments of ``qai_hub.submit_compile_job`` (checked against its real
    signature by the tests)."""
    return {
        "model": str(model),
        "device": list(devices),
        "name": name,
        "input_specs": {key: (tuple(shape), dtype) for key, (shape, dtype) in input_specs.items()},
        "options": options,
        # One job per device, so each target gets its own verdict and URL.
        "single_compile": False,
        # The runner retries rate-limited submits itself, with back-off; the client's own retry
        # would hold a worker thread for up to 10 minutes, printing to stdout.
        "retry": False,
    }


_STDOUT_LOCK = threading.Lock()
_STDOUT_USERS = 0
_STDOUT_SAVED: list[Any] = []


@contextlib.contextmanager
def client_prints_to_stderr() -> Iterator[None]:
    """Send what the client prints (deprecation blocks, "Scheduled compile job", retry notices)
    to stderr: stdout belongs to the report (``--output-format json``).

    ``print`` writes to ``sys.stdout``, so it is swapped while any thread is inside a client
    call; counted, so that overlapping calls from several threads restore it exactly once.
    """
    global _STDOUT_USERS
    with _STDOUT_LOCK:
        if _STDOUT_USERS == 0:
            _STDOUT_SAVED.append(sys.stdout)
            sys.stdout = sys.stderr
        _STDOUT_USERS += 1
    try:
        yield
    finally:
        with _STDOUT_LOCK:
            _STDOUT_USERS -= 1
            if _STDOUT_USERS == 0:
                sys.stdout = _STDOUT_SAVED.pop()


def status_from_qai_hub(status: Any) -> HubStatus:
    return HubStatus(
        state=str(status.code),
        finished=bool(status.finished),
        success=bool(status.success),
        message=str(status.message or ""),
    )


class _QaiHubBoundary:
    """What the real adapter and the fake share: the call shapes and the error translation."""

    def _submit_compile_job(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _translate(self, exc: Exception) -> HubError:
        hub = import_qai_hub()
        rate_limited = getattr(getattr(hub, "client", None), "RateLimitedError", None)
        if rate_limited is not None and isinstance(exc, rate_limited):
            return HubRateLimited(f"rate limited by AI Hub: {_first_line(exc)}")
        return HubError(f"{type(exc).__name__}: {_first_line(exc)}")

    def submit(
        self,
        model: Path,
        targets: Sequence[str],
        *,
        name: str,
        input_specs: InputSpecs,
        options: str,
    ) -> list[HubJob]:
        hub = import_qai_hub()
        devices = [make_device(hub, target) for target in targets]
        kwargs = compile_job_kwargs(
            model, devices, name=name, input_specs=input_specs, options=options
        )
        try:
            with client_prints_to_stderr():
                returned = self._submit_compile_job(**kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc
        # The client returns a bare job when only one was made.
        jobs = list(returned) if isinstance(returned, (list, tuple)) else [returned]
        if len(jobs) != len(targets):
            raise HubError(f"AI Hub made {len(jobs)} compile jobs for {len(targets)} targets")
        return [
            HubJob(job_id=str(job.job_id), url=str(job.url), target=target, handle=job)
            for target, job in zip(targets, jobs, strict=True)
        ]

    def poll(self, job: HubJob) -> HubStatus:
        try:
            with client_prints_to_stderr():
                return status_from_qai_hub(job.handle.get_status())
        except Exception as exc:
            raise self._translate(exc) from exc

    def result(self, job: HubJob) -> HubStatus:
        return self.poll(job)


class QaiHubClient(_QaiHubBoundary):
    """The real AI Hub, through the installed ``qai_hub`` client.

    The token comes from where ``qai-hub configure`` put it (``~/.qai_hub/client.ini``, or the
    file named by ``QAIHUB_CLIENT_INI``).
    """

    def __init__(self, preflight_timeout: float = PREFLIGHT_TIMEOUT) -> None:
        self.preflight_timeout = preflight_timeout
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = import_qai_hub().Client()
        return self._client

    def preflight(self, targets: Sequence[str]) -> None:
        hub = import_qai_hub()
        try:
            with client_prints_to_stderr():
                config = self.client.config  # reads the ini now: no network, fails at once
        except Exception as exc:
            raise DeepError(
                f"no AI Hub API token ({_first_line(exc)}): run `{CONFIGURE_HINT}`, "
                "or pass --no-compile to skip the compile stage"
            ) from exc
        api_url = getattr(config, "api_url", "AI Hub")
        # Verbose (the ini's default) prints upload bars and "Scheduled compile job" lines; the
        # progress display says what is going on instead.
        with contextlib.suppress(Exception):
            self.client.set_verbose(False)

        def check() -> None:
            for target in targets:
                device = make_device(hub, target)
                found = self.client.get_devices(
                    name=device.name, os=device.os, attributes=device.attributes
                )
                if not found:
                    raise DeepError(
                        f"unknown AI Hub target {target!r}: no such device "
                        "(list them with `qai-hub list-devices`)"
                    )

        with client_prints_to_stderr():
            outcome = _run_with_deadline(check, self.preflight_timeout)
        if outcome is _TIMED_OUT:
            raise DeepError(
                f"AI Hub at {api_url} did not answer within {self.preflight_timeout:g} s: "
                "check the network, or pass --no-compile"
            )
        if isinstance(outcome, DeepError):
            raise outcome
        if isinstance(outcome, Exception):
            text = _first_line(outcome)
            if "authenticat" in text.lower() or "401" in text:
                raise DeepError(
                    f"AI Hub rejected the API token ({text}): run `{CONFIGURE_HINT}` with a "
                    "valid token, or pass --no-compile"
                ) from outcome
            raise DeepError(
                f"AI Hub at {api_url} is not usable ({text}): check the network, or pass "
                "--no-compile"
            ) from outcome

    def _submit_compile_job(self, **kwargs: Any) -> Any:
        return self.client.submit_compile_job(**kwargs)


_TIMED_OUT = object()


def _run_with_deadline(function: Callable[[], None], timeout: float) -> object:
    """Run ``function`` in a daemon thread; its exception, None, or _TIMED_OUT.

    The client cannot be interrupted mid-retry, so a thread that misses the deadline is
    abandoned (daemon: it never holds the process open).
    """
    box: list[object] = []

    def target() -> None:
        try:
            function()
            box.append(None)
        except Exception as exc:
            box.append(exc)

    thread = threading.Thread(target=target, name="qaihm-lint-hub-preflight", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else _TIMED_OUT


_BOX = "─│┌┐└┘-+=|* "


def _first_line(exc: BaseException) -> str:
    """The message as one line: qai_hub frames its messages in boxes over several lines."""
    parts = []
    for line in str(exc).splitlines():
        text = line.strip().strip("│|").strip()
        if text and set(text) - set(_BOX):
            parts.append(text)
    joined = " ".join(parts)
    if len(joined) > 300:
        joined = joined[:297] + "..."
    return joined or type(exc).__name__


# --------------------------------------------------------------------- the fake


@dataclass(frozen=True)
class FakeJobScript:
    """The history of one fake compile job: one state per poll, the last one repeating.

    State names are ``qai_hub.JobStatus.State`` members. A script that never reaches SUCCESS or
    FAILED plays a job that outlives the compile timeout.
    """

    states: tuple[str, ...] = ("CREATED", "OPTIMIZING_MODEL", "SUCCESS")
    message: str = ""


FAKE_WEB_URL = "https://workbench.aihub.qualcomm.com"


class _FakeJob:
    def __init__(self, hub: ModuleType, job_id: str, device: Any, script: FakeJobScript) -> None:
        self._hub = hub
        self.job_id = job_id
        self.url = f"{FAKE_WEB_URL}/jobs/{job_id}/"
        self.device = device
        self.script = script
        self.polls = 0
        self.fail_polls = 0  # rate-limit the next N polls

    def get_status(self) -> Any:
        if self.fail_polls:
            self.fail_polls -= 1
            raise self._hub.client.RateLimitedError("Too many requests; retry later")
        state_name = self.script.states[min(self.polls, len(self.script.states) - 1)]
        self.polls += 1
        state = self._hub.JobStatus.State[state_name]
        message = self.script.message if state_name == "FAILED" else None
        return self._hub.JobStatus(state, message)


# What qai_hub 0.56 prints on stdout (client.py), so that the fake prints it too.
_TORCHSCRIPT_DEPRECATION = (
    "\033[31m\n===WARNING===\n\nSubmitting a compile job with a Torchscript model is deprecated "
    "and will be removed in a future release. Please use torch.export.export instead of "
    "torch.jit.trace.\n\n===WARNING===\n\033[0m"
)
_RETRY_NOTICE = (
    "Too many requests; retry later Retrying periodically until your request succeeds. "
    "Interrupt this and pass retry=False if you don't want this automatic retry."
)


class FakeHubClient(_QaiHubBoundary):
    """A scripted AI Hub for tests; never touches the network.

    ``scripts`` maps a target (device name or attribute string) to its job's history; other
    targets follow ``default``. ``rate_limited_submits`` makes that many first submit calls fail
    with the client's RateLimitedError; ``rate_limited_polls`` does the same to each job's first
    polls. ``preflight_error`` makes preflight fail with that message (a missing token, say).

    Like the real client it prints to stdout: a deprecation block for TorchScript models,
    "Scheduled compile job" per job while ``verbose`` (the ini's default), and, where the real
    one retries a rate-limited submit by itself (``retry=True`` with ``single_compile`` over
    several devices), its retry notices; ``retried_by_client`` counts those retries.
    """

    def __init__(
        self,
        scripts: Mapping[str, FakeJobScript] | None = None,
        *,
        default: FakeJobScript | None = None,
        rate_limited_submits: int = 0,
        rate_limited_polls: int = 0,
        preflight_error: str | None = None,
        known_targets: Sequence[str] | None = None,
    ) -> None:
        self.hub = import_qai_hub()
        self.scripts = dict(scripts or {})
        self.default = default or FakeJobScript()
        self.rate_limited_submits = rate_limited_submits
        self.rate_limited_polls = rate_limited_polls
        self.preflight_error = preflight_error
        self.known_targets = None if known_targets is None else set(known_targets)
        self.submissions: list[dict[str, Any]] = []
        self.jobs: list[_FakeJob] = []
        self.preflights = 0
        self.verbose = True
        self.retried_by_client = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def preflight(self, targets: Sequence[str]) -> None:
        self.preflights += 1
        if self.preflight_error is not None:
            raise DeepError(self.preflight_error)
        for target in targets:
            make_device(self.hub, target)  # the real constructor validates the shape
            if self.known_targets is not None and target not in self.known_targets:
                raise DeepError(f"unknown AI Hub target {target!r}: no such device")

    def _submit_compile_job(self, **kwargs: Any) -> Any:
        model = kwargs["model"]
        if str(model).endswith((".pt", ".pth")):
            print(_TORCHSCRIPT_DEPRECATION)
        with self._lock:
            devices = kwargs["device"]
            client_retries = (
                kwargs.get("retry", True)
                and kwargs.get("single_compile", True)
                and isinstance(devices, list)
                and len(devices) > 1
            )
            while self.rate_limited_submits:
                self.rate_limited_submits -= 1
                if not client_retries:
                    raise self.hub.client.RateLimitedError("Too many requests; retry later")
                # The real client sleeps 20-60 s between these; the fake does not wait.
                if not self.retried_by_client:
                    print(_RETRY_NOTICE)
                print("Retrying after 20 seconds.")
                self.retried_by_client += 1
            if not Path(model).is_file():
                raise self.hub.UserError(f"{model} does not exist")
            self.submissions.append(kwargs)
            jobs = []
            for device in kwargs["device"]:
                target = device.name or ",".join(device.attributes)
                job = _FakeJob(
                    self.hub,
                    f"jfake{next(self._ids):05d}",
                    device,
                    self.scripts.get(target, self.default),
                )
                job.fail_polls = self.rate_limited_polls
                jobs.append(job)
                if self.verbose:
                    print(
                        f"Scheduled compile job ({job.job_id}) successfully. To see the status "
                        f"and results:\n    {job.url}\n"
                    )
            self.jobs.extend(jobs)
        # Like the real client: a bare job when only one was made.
        return jobs[0] if len(jobs) == 1 else jobs


if TYPE_CHECKING:
    # mypy proves here that both implementations satisfy the interface.
    def _conforms(real: QaiHubClient, fake: FakeHubClient) -> tuple[HubClient, HubClient]:
        return real, fake
