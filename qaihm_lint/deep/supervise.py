"""Running one model's worker: its request, its events, its deadline, and the verdict.

The worker runs in a process of its own (started by a fork server, ``processes.py``). Its
events pipe says which stage runs; every stage gets ``timeout`` seconds from its start, and at
the deadline the worker is killed with everything it started and the running stage is
charged. A worker that dies without saying "done" crashed, in the stage it was in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import selectors
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qaihm_lint.deep.cache import imported_model_folders
from qaihm_lint.deep.common import INSTALL_HINT
from qaihm_lint.deep.inside.records import (
    CRASH,
    FAIL,
    OVER_MEMORY,
    STAGES,
    TIMEOUT,
    StageRecord,
    StageStarted,
    TracedModel,
    WorkerDone,
    WorkerFatal,
    decode_line,
    out_of_memory,
)
from qaihm_lint.deep.processes import ServerPool, WorkerExit, WorkerHandle, WorkerStartError
from qaihm_lint.deep.progress import Progress
from qaihm_lint.deep.sandbox import SandboxRun
from qaihm_lint.workspace import Layout, ModelFolder

LOG_TAIL = 256 * 1024  # of a crashed worker's log, read back for its last frame and line
MAX_EVENT = 4 * 1024 * 1024  # the longest events line a worker may write (a traced model's
# record is a few KiB); a longer one is the worker flooding the pipe
STOP_WAIT = 30.0  # for a killed worker's server to confirm that it and its children are gone
_FAULT_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')

Report = Callable[[str, StageRecord], None]


class Cancelled(Exception):
    """The run was stopped while this model ran: no verdict, nothing cached."""


@dataclass
class RunControl:
    """What the threads of one deep run share about stopping it, and what it cost."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    cancelled: bool = False
    stopped: list[WorkerExit] = field(default_factory=list)  # workers stopped by a cancel
    workers_run: int = 0
    folders_removed: int = 0


@dataclass(frozen=True)
class WorkerVerdict:
    """What one worker run says: its stage records, the models it traced for the compile
    stage, and whether the verdict may be cached."""

    records: list[StageRecord]
    traced: list[TracedModel]
    cacheable: bool


class WorkerEvents:
    """What one worker reported on its events pipe, one JSON object per line."""

    def __init__(self, model_id: str, log_path: Path, progress: Progress, report: Report) -> None:
        self.model_id = model_id
        self.log_path = log_path
        self.progress = progress
        self.report = report
        self.records: list[StageRecord] = []
        self.traced: list[TracedModel] = []
        self.current = StageStarted("import")
        self.done = False
        self.fatal = ""
        self.flooded = False
        self._parts: list[bytes] = []
        self._held = 0

    def feed(self, chunk: bytes) -> bool:
        """Take in ``chunk``; True when a stage started or ended (its deadline restarts).
        Linear in what the worker writes: only the new chunk is searched for line ends, and
        a line longer than MAX_EVENT is dropped as it comes (a flood, not an event)."""
        progressed = False
        *lines, rest = chunk.split(b"\n")
        if lines:
            lines[0] = b"".join(self._parts) + lines[0]
            self._parts, self._held = [], 0
        for line in lines:
            if len(line) <= MAX_EVENT:
                progressed = self._take(decode_line(line)) or progressed
            else:
                self.flooded = True
        if self._held + len(rest) > MAX_EVENT:
            self.flooded = True
            self._parts, self._held = [], 0
        elif rest:
            self._parts.append(rest)
            self._held += len(rest)
        return progressed

    def _take(self, event: object) -> bool:
        if isinstance(event, StageStarted):
            self.current = event
            self.progress.stage_started(self.model_id, event.stage, event.component)
            return True
        if isinstance(event, StageRecord):
            if event.message.startswith("EOFError"):
                # The question it asked is the model's last output.
                question = _last_line(self.log_path)
                if question:
                    event = dataclasses.replace(
                        event, message=f"{event.message} It asked: {question!r}"
                    )
            self.records.append(event)
            self.report(self.model_id, event)
            return True
        if isinstance(event, TracedModel):
            self.traced.append(event)
        elif isinstance(event, WorkerDone):
            self.done = True
        elif isinstance(event, WorkerFatal):
            self.fatal = event.message
        return False

    def ended_in(self) -> StageStarted:
        """The stage a worker that died was in: the one that would have come next when it
        died between stages."""
        finished = {(r.stage, r.component) for r in self.records}
        if (self.current.stage, self.current.component) not in finished:
            return self.current
        order = STAGES[: STAGES.index("onnx") + 1]  # what a worker runs
        index = order.index(self.current.stage) if self.current.stage in order else len(order)
        return StageStarted(order[min(index + 1, len(order) - 1)], self.current.component)


class WorkerSupervisor:
    """Runs workers for the models of one deep run, with the run's limits."""

    def __init__(
        self,
        control: RunControl,
        servers: ServerPool,
        *,
        groups: frozenset[str],
        timeout: float,
        memory_limit_mb: int,
        threads: int,
        progress: Progress,
        report: Report,
        sandbox: SandboxRun,
    ) -> None:
        self.sandbox = sandbox
        self.control = control
        self.servers = servers
        self.groups = groups
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.threads = threads
        self.progress = progress
        self.report = report

    def run(
        self, folder: ModelFolder, workdir: Path, want_artifacts: bool, python: str
    ) -> WorkerVerdict:
        """Run the worker for ``folder`` in ``workdir``. Cancelled when the run was stopped."""
        assert folder.package is not None
        copy = self.sandbox.tree(folder.package.repo_root, folder.package.root)
        code = copy.code_of(folder.model_id, imported_model_folders(folder.path))
        # Another worker may have changed this model's code in the copy (without Landlock, or
        # in a shared templates folder): it runs the checked tree's code, restored first.
        copy.check(code)
        request_path, env = self.write_request(folder, workdir, want_artifacts, python)
        started = self.launch(python, env, request_path)
        if isinstance(started, StageRecord):
            self.report(folder.model_id, started)
            return WorkerVerdict([started], [], cacheable=False)
        handle, read_fd = started
        events = WorkerEvents(folder.model_id, workdir / "worker.log", self.progress, self.report)
        ended, timed_out = self.watch(handle, read_fd, events)
        if self.control.cancelled:
            with self.control.lock:
                self.control.stopped.append(ended)
            raise Cancelled
        assert folder.package is not None
        verdict = self.verdict(folder, events, ended, timed_out, copy.root)
        # Code it imports changed under it while it ran (what upstream writes at run time,
        # external_repos/, is not code of the tree): its verdict is about other code than the
        # checked tree's, so it is not kept.
        if copy.check(code):
            verdict = dataclasses.replace(verdict, cacheable=False)
        return verdict

    def launch(
        self, python: str, env: dict[str, str], request_path: Path
    ) -> tuple[WorkerHandle, int] | StageRecord:
        """The started worker and the read end of its events pipe, or the record of why it
        could not start."""
        if self.control.cancelled:
            raise Cancelled
        with self.control.lock:
            self.control.workers_run += 1
        read_fd, write_fd = os.pipe()
        try:
            return self.servers.launch(python, env, request_path, write_fd), read_fd
        except WorkerStartError as exc:
            os.close(read_fd)
            if self.control.cancelled:
                raise Cancelled from exc
            return StageRecord("import", FAIL, f"cannot start the worker: {exc}")
        finally:
            os.close(write_fd)

    def write_request(
        self, folder: ModelFolder, workdir: Path, want_artifacts: bool, python: str
    ) -> tuple[Path, dict[str, str]]:
        """The request file the worker reads, and the environment it runs in: the sandbox's
        clean one, with a home and a temporary folder of its own inside ``workdir`` (always
        removed), and the run's copy of the tree instead of the checked one."""
        assert folder.package is not None
        env = self.sandbox.environment(workdir / "home", workdir / "tmp")
        copy = self.sandbox.tree(folder.package.repo_root, folder.package.root)
        model_copy = copy.package / "models" / folder.model_id
        # Its own folder and its model's folder of the copy (upstream clones external repos
        # there), and the templates' folders, which their models' imports write into.
        templates = copy.package / "models" / "templates"
        writable = [workdir, model_copy]
        if templates.is_dir():
            writable += [path for path in templates.iterdir() if path.is_dir()]
        request: dict[str, Any] = {
            "repo_root": str(copy.root),
            "model_id": folder.model_id,
            "layout": "manifest" if folder.layout is Layout.MANIFEST else "info",
            "stages": sorted(self.groups),
            "workdir": str(workdir / "out"),
            "artifacts": want_artifacts,
            "memory_limit_mb": self.memory_limit_mb,
            "threads": self.threads,
            "env": env,
            "cwd": str(workdir),
            "log": str(workdir / "worker.log"),
            "cleanup": str(workdir),
            "confine": self.sandbox.confine(python, writable),
        }
        request_path = workdir / "request.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        return request_path, self.sandbox.server_environment()

    def watch(
        self, handle: WorkerHandle, read_fd: int, events: WorkerEvents
    ) -> tuple[WorkerExit, bool]:
        """Read the worker's events until its server says it ended (not until the pipe closes,
        which a process the model forked may keep open for ever), killing it at a stage's
        deadline; how it ended, and whether it timed out."""
        ended: WorkerExit | None = None
        timed_out = False
        selector = selectors.DefaultSelector()
        selector.register(read_fd, selectors.EVENT_READ, "events")
        selector.register(handle, selectors.EVENT_READ, "server")
        deadline = time.monotonic() + self.timeout
        try:
            while ended is None and not self.control.cancelled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # After "done" the worker is only cleaning up: no verdict to change.
                    timed_out = not events.done
                    break
                for key, _ in selector.select(timeout=min(remaining, 1.0)):
                    if key.data == "server":
                        ended = handle.read()
                        continue
                    chunk = os.read(read_fd, 65536)
                    if not chunk:
                        selector.unregister(read_fd)
                    elif events.feed(chunk):
                        deadline = time.monotonic() + self.timeout
        finally:
            selector.close()
            if ended is None:
                handle.kill()
                ended = handle.wait(STOP_WAIT)
            # The worker's last events may still be in the pipe.
            os.set_blocking(read_fd, False)
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(read_fd, 65536):
                    events.feed(chunk)
            os.close(read_fd)
            self.servers.release(handle)
        return ended, timed_out

    def verdict(
        self,
        folder: ModelFolder,
        events: WorkerEvents,
        ended: WorkerExit,
        timed_out: bool,
        repo_root: Path,
    ) -> WorkerVerdict:
        """The records of a worker that ended: what it reported, plus the stage a timeout, a
        crash or a fatal error cost."""
        records = events.records
        cacheable = True
        if timed_out:
            last = StageRecord(
                events.current.stage,
                TIMEOUT,
                f"did not finish within {self.timeout:g} s, so {_what_was_killed(ended)}. "
                "Look for a loop that never ends, a wait on a lock or a download that hangs; if "
                "the model is only slow on CPU, raise --timeout.",
                events.current.component,
            )
        elif events.fatal:
            # A worker that never got going says nothing about the model: not cached.
            last = StageRecord("import", FAIL, f"{events.fatal}: {INSTALL_HINT}")
            cacheable = False
        elif events.flooded:
            stage = events.ended_in()
            last = StageRecord(
                stage.stage,
                CRASH,
                f"the worker wrote a line of more than {MAX_EVENT // (1024 * 1024)} MiB to its "
                "events pipe, so what it reported cannot be trusted. Model code must not write "
                "to file descriptors it did not open.",
                stage.component,
            )
            cacheable = False
        elif ended.over:
            stage = events.ended_in()
            last = StageRecord(
                stage.stage,
                CRASH,
                out_of_memory(self.memory_limit_mb)
                if ended.over == OVER_MEMORY
                else f"the worker was killed: with the processes it started it used {ended.over}. "
                "Load the model in one process, within the memory a CI runner has.",
                stage.component,
                cause="memory",
            )
        elif not events.done:
            stage = events.ended_in()
            last = StageRecord(
                stage.stage,
                CRASH,
                _crash_message(ended.code, events.log_path, repo_root),
                stage.component,
                # A kill from outside is most often the OOM killer: it depends on the cap.
                cause="memory" if ended.code == -signal.SIGKILL else None,
            )
        else:
            return WorkerVerdict(records, events.traced, cacheable=True)
        records.append(last)
        self.report(folder.model_id, last)
        return WorkerVerdict(records, [], cacheable)


def _log_tail(log_path: Path, size: int) -> str:
    """The last ``size`` bytes of a worker's log: a model writes as much as it likes there,
    and the parent never reads more than this of it."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - size))
            return log.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _last_line(log_path: Path) -> str:
    tail = _log_tail(log_path, 4096)
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _what_was_killed(ended: WorkerExit) -> str:
    """What stopping a worker took, as its server reported it."""
    if ended.lost:
        return "the worker was told to stop, but its server never confirmed it"
    if ended.killed:
        text = f"the worker and the {ended.killed} process(es) it started were killed"
    else:
        text = "the worker was killed"
    if ended.survivors:
        pids = ", ".join(map(str, ended.survivors))
        text += f" (still running, unkillable: pid {pids})"
    return text


def _crash_message(returncode: int, log_path: Path, repo_root: Path) -> str:
    log = _log_tail(log_path, LOG_TAIL)
    where = ""
    for match in _FAULT_FRAME.finditer(log):
        try:
            relative = Path(match["file"]).resolve().relative_to(repo_root)
        except (ValueError, OSError):
            continue
        # faulthandler lists the most recent call first: the first frame in the tree is it.
        where = f" at {relative.as_posix()}:{match['line']} in {match['func']}"
        break
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        descriptions = {
            "SIGSEGV": "a segmentation fault in native code",
            "SIGABRT": "an abort in native code, often a failed allocation",
            "SIGKILL": "killed from outside, often by the kernel's out-of-memory killer",
            "SIGBUS": "a bus error in native code",
            "SIGFPE": "a floating-point exception in native code",
        }
        cause = descriptions.get(name, "killed by a signal")
        return (
            f"the worker crashed with {name} ({cause}){where}. The crash took down the "
            "interpreter, so it would also kill export and tests: fix or avoid that native call."
        )
    tail = [line for line in log.strip().splitlines() if line.strip()][-1:]
    last = f"; last output: {tail[0][:200]}" if tail else ""
    return (
        f"the worker exited with status {returncode} before finishing this stage{where}{last}. "
        "Model code must not call sys.exit() or os._exit()."
    )
