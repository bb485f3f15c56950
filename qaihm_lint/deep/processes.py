"""Starting deep workers: one fork server per environment (``forkserver.py``), one forked
worker per model.

A fresh interpreter per model paid ``import torch`` (seconds, hundreds of MB) before the model's
own work. A server imports it once per interpreter and forks a worker for each model, keeping
the isolation of a process per model. When forking is not known to be safe (the server has
threads after its imports, or the platform is not Linux) or ``shared=False``, each model gets
a server of its own that preloads nothing, so the worker imports torch itself after the fork:
the old cost, and a fork from a process without threads on every platform.

The pool also owns the kill switch: ``kill_all`` stops every live worker with everything it
started, which is what Ctrl-C and SIGTERM need.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent / "inside"
FORKSERVER = HERE / "forkserver.py"
# What runs under the model's interpreter (the fork server loads this folder as a package
# there): a change to any of these files may change a verdict, so the cache key holds them.
WORKER_SIDE = (
    FORKSERVER,
    *(
        HERE / name
        for name in (
            "__init__.py",
            "records.py",
            "worker.py",
            "worker_explain.py",
            "worker_stages.py",
            "worker_tensors.py",
            "confine.py",
        )
    ),
)
START_TIMEOUT = 300.0  # importing torch on a loaded machine takes a while
ANSWER_TIMEOUT = 60.0  # a fork and one line back
STOP_TIMEOUT = 15.0  # the server's own sweep takes at most a few seconds


class WorkerStartError(Exception):
    """The worker could not be started; ``str(self)`` says why, in one line."""


@dataclass(frozen=True)
class WorkerExit:
    """How a worker ended. ``code`` is like ``Popen.returncode`` (a negative signal number
    when killed); ``killed`` counts the processes it started that had to be killed; ``lost``
    means its server stopped answering, so nothing is known beyond that."""

    code: int
    killed: int = 0
    survivors: tuple[int, ...] = ()
    lost: bool = False
    over: str = ""  # the limit of its whole process tree it was killed for


class WorkerHandle:
    """One running worker, as its server reports it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pid = 0
        self.exit: WorkerExit | None = None
        self.private_server: ForkServer | None = None
        self._buffer = b""

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> WorkerExit | None:
        """Take in what the server said (call when readable); the exit once it is known."""
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return self.exit
        except OSError:
            chunk = b""
        if not chunk:
            if self.exit is None:
                self.exit = WorkerExit(code=-signal.SIGKILL, lost=True)
            return self.exit
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                self._take(json.loads(line))
        return self.exit

    def _take(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        event = message.get("event")
        if event == "started":
            self.pid = int(message.get("pid", 0))
        elif event == "exit":
            self.exit = WorkerExit(
                code=int(message.get("code", -signal.SIGKILL)),
                killed=int(message.get("killed", 0)),
                survivors=tuple(int(pid) for pid in message.get("survivors", ())),
                over=str(message.get("over") or ""),
            )
        elif event == "error":
            raise WorkerStartError(str(message.get("message", "the worker did not start")))

    def wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.pid and self.exit is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerStartError("the deep worker server did not fork a worker in time")
            if select.select([self.sock], [], [], remaining)[0]:
                self.read()
        if not self.pid:
            raise WorkerStartError("the deep worker server stopped before forking a worker")

    def kill(self) -> None:
        """Ask the server to kill the worker and everything it started (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.sendall(b'{"op": "kill"}\n')

    def wait(self, timeout: float) -> WorkerExit:
        deadline = time.monotonic() + timeout
        while self.exit is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return WorkerExit(code=-signal.SIGKILL, lost=True)
            if select.select([self.sock], [], [], remaining)[0]:
                self.read()
        return self.exit

    def close(self) -> None:
        self.sock.close()
        if self.private_server is not None:
            self.private_server.close()


# How a server's command line is wrapped (in bubblewrap, sandbox.py): (python, argv) -> argv.
Wrapper = Callable[[str, list[str]], list[str]]


class ForkServer:
    """A fork server under one interpreter. ``env`` is the server's whole environment (the
    sandbox's clean one: each worker replaces it with its own from its request); ``wrap``
    puts the command in the sandbox."""

    def __init__(
        self,
        python: str,
        env: Mapping[str, str],
        preload: bool = True,
        wrap: Wrapper | None = None,
    ) -> None:
        self.python = python
        self.preload = preload
        self.wrap = wrap
        self.env = dict(env)
        # numpy's OpenBLAS starts its thread pool when imported, and a process with threads
        # must not fork; models that need more BLAS threads are rare (torch has its own).
        self.env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.log: IO[bytes] | None = None
        self.versions: dict[str, str] = {}
        self.fork_safe = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        # Unlinked at once: whatever the server prints is read back on failure, never left over.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        try:
            argv = [self.python, str(FORKSERVER), str(theirs.fileno())]
            argv += [] if self.preload else ["--no-preload"]
            self.process = subprocess.Popen(
                self.wrap(self.python, argv) if self.wrap else argv,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=self.log,
                # Its own session: a terminal's Ctrl-C reaches qaihm-lint, which stops it.
                start_new_session=True,
                cwd=os.path.abspath(os.sep),
                env=self.env,
            )
        except OSError as exc:
            ours.close()
            raise WorkerStartError(f"cannot start {self.python}: {exc}") from exc
        finally:
            theirs.close()
        self.control = ours
        hello = _read_message(ours, START_TIMEOUT)
        if hello is None or hello.get("event") != "ready":
            reason = str((hello or {}).get("message", "")) or self._log_tail()
            self.close()
            raise WorkerStartError(
                f"the deep worker server under {self.python} did not start"
                + (f": {reason}" if reason else "")
            )
        self.versions = {str(k): str(v) for k, v in dict(hello.get("versions", {})).items()}
        self.fork_safe = bool(hello.get("fork_safe")) and sys.platform.startswith("linux")

    def launch(self, request_path: Path, events_fd: int) -> WorkerHandle:
        ours, theirs = socket.socketpair()
        handle = WorkerHandle(ours)
        message = json.dumps({"op": "run", "request": str(request_path)}).encode() + b"\n"
        descriptors = array.array("i", [theirs.fileno(), events_fd])
        try:
            # One request in flight: the server reads each with its descriptors attached.
            with self.lock:
                if self.control is None or not self.alive:
                    raise WorkerStartError(f"the deep worker server under {self.python} died")
                try:
                    self.control.sendmsg(
                        [message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, descriptors)]
                    )
                except OSError as exc:
                    raise WorkerStartError(f"the deep worker server stopped: {exc}") from exc
                theirs.close()
                handle.wait_started(ANSWER_TIMEOUT)
        except BaseException:
            theirs.close()
            ours.close()
            raise
        return handle

    def abort(self) -> None:
        """Kill a server that is still starting (its group holds nothing else yet)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop the server: it kills any worker still running, and what they started."""
        if self.control is not None:
            with contextlib.suppress(OSError):
                self.control.sendall(b'{"op": "bye"}\n')
            self.control.close()
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def _log_tail(self) -> str:
        if self.log is None:
            return ""
        with contextlib.suppress(OSError):
            self.log.seek(0)
            lines = self.log.read().decode("utf-8", errors="replace").strip().splitlines()
            return lines[-1][:300] if lines else ""
        return ""


def _read_message(sock: socket.socket, timeout: float) -> dict[str, Any] | None:
    """The first line ``sock`` sends, as JSON; None on timeout or end of file."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    try:
        message = json.loads(buffer.split(b"\n", 1)[0])
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


class ServerPool:
    """The fork servers of one deep run, one per interpreter, started on first use.

    ``shared=False`` gives each model a server of its own (a fresh interpreter per model, as
    before fork servers existed; the benchmark compares the two).
    """

    def __init__(self, shared: bool = True, wrap: Wrapper | None = None) -> None:
        self.shared = shared and sys.platform.startswith("linux") and hasattr(os, "fork")
        self.wrap = wrap
        self.lock = threading.Lock()
        self.servers: dict[str, ForkServer] = {}
        # Why an interpreter's server could not start; "" when it started but cannot fork safely.
        self.failures: dict[str, str] = {}
        self.starting: dict[str, threading.Lock] = {}
        self.booting: set[ForkServer] = set()  # started, not ready yet
        self.live: set[WorkerHandle] = set()
        self.stopped = False

    def launch(
        self, python: str, env: Mapping[str, str], request_path: Path, events_fd: int
    ) -> WorkerHandle:
        if self.stopped:
            raise WorkerStartError("the run was stopped")
        server = self._shared_server(python, env) if self.shared else None
        if server is None:
            private = ForkServer(python, env, preload=False, wrap=self.wrap)
            self._start(private)
            try:
                handle = private.launch(request_path, events_fd)
            except BaseException:
                private.close()
                raise
            handle.private_server = private
        else:
            handle = server.launch(request_path, events_fd)
        with self.lock:
            self.live.add(handle)
        return handle

    def release(self, handle: WorkerHandle) -> None:
        with self.lock:
            self.live.discard(handle)
        handle.close()

    def kill_all(self) -> None:
        """Kill every live worker with all it started, and every server still starting; start
        nothing after this."""
        with self.lock:
            self.stopped = True
            live = list(self.live)
            booting = list(self.booting)
        for handle in live:
            handle.kill()
        for server in booting:
            server.abort()

    def _start(self, server: ForkServer) -> None:
        with self.lock:
            if self.stopped:
                raise WorkerStartError("the run was stopped")
            self.booting.add(server)
        try:
            server.start()
        finally:
            with self.lock:
                self.booting.discard(server)

    def close(self) -> None:
        with self.lock:
            servers = list(self.servers.values())
            self.servers.clear()
        for server in servers:
            server.close()

    def _shared_server(self, python: str, env: Mapping[str, str]) -> ForkServer | None:
        """The running server for ``python``; None when its models need servers of their own
        (forking is not safe there). Started once even when several models ask at once."""
        with self.lock:
            gate = self.starting.setdefault(python, threading.Lock())
        with gate:
            with self.lock:
                server = self.servers.get(python)
                failure = self.failures.get(python)
            if failure is not None:
                if failure:
                    raise WorkerStartError(failure)
                return None  # known not to be fork-safe
            if server is not None and server.alive:
                return server
            if server is not None:
                server.close()  # it died (the kernel's OOM killer, say): start another
            server = ForkServer(python, env, wrap=self.wrap)
            try:
                self._start(server)
            except WorkerStartError as exc:
                with self.lock:
                    self.failures[python] = str(exc)
                raise
            if not server.fork_safe:
                server.close()
                with self.lock:
                    self.failures[python] = ""
                return None
            with self.lock:
                self.servers[python] = server
            return server
