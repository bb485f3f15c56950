"""The deep-mode fork server: one per environment, it pays for ``import torch`` once and forks a
worker per model.

Run as ``python forkserver.py CONTROL_FD [--no-preload]`` under the environment's interpreter
(the parent side is ``processes.py``). Like the worker's modules it imports only the standard
library plus what it preloads, because that interpreter may have no qaihm-lint installed.

Isolation is kept: each model runs in a forked child of its own, in its own session, with its
own memory limit, and a crash, hang or leak costs that model only. Forking is only safe while
this process has a single thread, so the server preloads only modules that start none
(``onnxruntime`` starts one when imported: each child imports it) and reports whether it is
still single-threaded; if not, the parent falls back to one server per model.

Nothing a model starts may outlive it. Every worker is a child subreaper (Linux), so
processes that daemonise (double fork, setsid) stay its descendants, and it kills them all
before it exits. The server is a subreaper too: when a worker dies or is killed, its
descendants become the server's children, and the server kills every child that is not a
live worker. The protocol, one JSON object per line:

- parent -> server, on the control socket, with two file descriptors (a status socket and the
  write end of the worker's events pipe): ``{"op": "run", "request": PATH}``; ``{"op": "bye"}``
  to stop. End of file (the parent died) stops the server too, after it removed the folders
  of the workers it killed.
- parent -> server, on a worker's status socket: ``{"op": "kill"}`` (or end of file).
- server -> parent, on the status socket: ``{"event": "started", "pid": N}``, then ``{"event":
  "exit", "code": C, "killed": K, "survivors": [...]}`` with ``code`` as Popen.returncode (a
  negative signal number when killed) and ``killed`` the processes it started that were killed.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import faulthandler
import importlib
import importlib.util
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# What every worker imports; numpy first (torch imports it anyway).
PRELOAD = ("numpy", "torch", "onnx")
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SWEEP_SECONDS = 5.0  # how long to keep killing what a dead worker left behind
# Limits for a worker's whole process tree, checked every WATCH_SECONDS: its memory (the
# per-process address-space cap alone lets a model fork past it), its process count, and its
# log (a model may print without end; the log is truncated, never read whole).
WATCH_SECONDS = 0.5
MAX_PROCESSES = 256
# The "over" of an exit event for a tree past its memory limit (records.OVER_MEMORY: this
# script runs alone, without the package).
MEMORY = "memory"
LOG_LIMIT = 64 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PRIVATE_PACKAGE = "_qaihm_lint_deep"  # this folder, as the worker's modules see it


# --------------------------------------------------------------------- processes (Linux /proc)


def prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def thread_count() -> int:
    """Native threads of this process; 0 when unknown (then forking is not known to be safe)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[1]), fields[0]
    except (IndexError, ValueError):
        return None


def process_table() -> dict[int, int]:
    """{pid: parent pid} of every live (not zombie) process we can see."""
    table: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit():
            found = _stat(entry)
            if found is not None and found[1] != "Z":
                table[int(entry)] = found[0]
    return table


def descendants(root: int, table: dict[int, int] | None = None) -> list[int]:
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, parent in table.items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _resident(pids: list[int]) -> int:
    """Bytes of memory the processes ``pids`` hold, together: their proportional set size, so
    that pages a fork shares with its parent (torch, loaded once by the server) count once."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            try:
                with open(f"/proc/{pid}/statm", "rb") as handle:
                    total += int(handle.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                continue
    return total


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def kill_own_descendants() -> int:
    """Kill everything this process started (it is a subreaper, so daemons are still below it)
    and reap it; how many processes were killed."""
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        below = descendants(me)
        for pid in below:
            kill(pid)
        killed.update(below)
        _reap_any()
        if not below:
            break
        time.sleep(0.01)
    return len(killed)


def _reap_any() -> list[tuple[int, int]]:
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, status))
    return reaped


# --------------------------------------------------------------------- messages


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    # OSError: the parent is gone or stopped listening, so there is nobody to tell.
    with contextlib.suppress(OSError):
        sock.sendall((json.dumps(message) + "\n").encode())


def receive(sock: socket.socket) -> tuple[list[dict[str, Any]], list[int], bool]:
    """The whole messages readable now, the descriptors that came with them, and whether the
    peer closed the socket."""
    fds = array.array("i")
    data, ancillary, _flags, _address = sock.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    messages = []
    for line in data.splitlines():
        try:
            decoded = json.loads(line)
        except ValueError:
            continue
        if isinstance(decoded, dict):
            messages.append(decoded)
    return messages, list(fds), not data


# --------------------------------------------------------------------- the server


class Running:
    def __init__(self, pid: int, status: socket.socket, request: dict[str, Any]) -> None:
        self.pid = pid
        self.status = status
        self.request = request
        self.killed: set[int] = set()
        self.kill_requested = False
        self.over = ""  # the limit of the whole tree it went past, if any


class Server:
    def __init__(self, control: socket.socket, worker_module: Any) -> None:
        self.control = control
        self.worker_module = worker_module
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, Running] = {}
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.stopping = False

    def serve(self) -> int:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_write)
        # The parent decides when we stop; a terminal's Ctrl-C is not for us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.control, selectors.EVENT_READ, None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, None)
        abandoned = False
        while not self.stopping:
            for key, _events in self.selector.select(timeout=WATCH_SECONDS):
                if key.fileobj is self.control:
                    abandoned = self.on_control() or abandoned
                elif key.fileobj == self.wake_read:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_read, 4096)
                else:
                    self.on_status(key.data)
            self.watch()
            self.reap()
        self.shutdown(remove_folders=abandoned)
        return 0

    # ----------------------------------------------------------------- parent requests

    def on_control(self) -> bool:
        """Handle the control socket; True when the parent vanished without saying bye."""
        try:
            messages, fds, closed = receive(self.control)
        except OSError:
            messages, fds, closed = [], [], True
        if closed:
            for fd in fds:
                os.close(fd)
            self.stopping = True
            return True
        for message in messages:
            if message.get("op") == "bye":
                self.stopping = True
            elif message.get("op") == "run" and len(fds) >= 2:
                status_fd, events_fd = fds[0], fds[1]
                for extra in fds[2:]:
                    os.close(extra)
                fds = []
                self.start(str(message.get("request")), status_fd, events_fd)
        for fd in fds:
            os.close(fd)
        return False

    def on_status(self, pid: int) -> None:
        running = self.running.get(pid)
        if running is None:
            return
        try:
            messages, fds, closed = receive(running.status)
        except OSError:
            messages, fds, closed = [], [], True
        for fd in fds:
            os.close(fd)
        if closed or any(message.get("op") == "kill" for message in messages):
            self.kill(running)
        if closed:
            self.selector.unregister(running.status)

    def start(self, request_path: str, status_fd: int, events_fd: int) -> None:
        status = socket.socket(fileno=status_fd)
        try:
            request = json.loads(Path(request_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            send(status, {"event": "error", "message": f"cannot read {request_path}: {exc}"})
            status.close()
            os.close(events_fd)
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: this model fails, we stay
            send(status, {"event": "error", "message": f"cannot fork a worker: {exc}"})
            status.close()
            os.close(events_fd)
            return
        if pid == 0:
            self.become_worker(request, events_fd, status)  # never returns
        os.close(events_fd)
        running = Running(pid, status, request)
        self.running[pid] = running
        self.selector.register(status, selectors.EVENT_READ, pid)
        send(status, {"event": "started", "pid": pid})

    def kill(self, running: Running) -> None:
        if running.kill_requested:
            return
        running.kill_requested = True
        # A snapshot first, so the count is honest even for processes that left the group.
        tree = descendants(running.pid)
        running.killed.update(tree)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.pid, signal.SIGKILL)
        kill(running.pid)
        for pid in tree:
            kill(pid)

    def watch(self) -> None:
        """Kill a worker whose whole tree went past a limit; keep each log under LOG_LIMIT."""
        if not self.running:
            return
        table = process_table()
        for running in list(self.running.values()):
            if running.kill_requested:
                continue
            tree = [running.pid, *descendants(running.pid, table)]
            limit_mb = running.request.get("memory_limit_mb")
            if len(tree) > MAX_PROCESSES:
                running.over = f"more than {MAX_PROCESSES} processes"
            elif limit_mb and _resident(tree) > int(limit_mb) * 1024 * 1024:
                running.over = MEMORY
            if running.over:
                self.kill(running)
                continue
            log = str(running.request.get("log") or "")
            with contextlib.suppress(OSError):
                if log and os.stat(log).st_size > LOG_LIMIT:
                    os.truncate(log, 0)  # the worker appends: it goes on at the start
                    with open(log, "ab") as stream:
                        stream.write(b"[qaihm-lint: log truncated at %d bytes]\n" % LOG_LIMIT)

    # ----------------------------------------------------------------- children

    def reap(self) -> None:
        """Report the workers that ended, after killing what they left behind."""
        exited = [(pid, status) for pid, status in _reap_any() if pid in self.running]
        killed: set[int] = set()
        survivors: list[int] = []
        if self.orphans():
            killed, survivors = self.sweep(exited)
        for pid, status in exited:
            running = self.running.pop(pid)
            # Orphans cannot be traced back to their worker once it is gone: they are counted
            # for the first worker that ended (almost always the only one).
            running.killed.update(killed)
            killed = set()
            send(
                running.status,
                {
                    "event": "exit",
                    "code": os.waitstatus_to_exitcode(status),  # as Popen.returncode
                    "killed": len(running.killed),
                    "survivors": survivors,
                    "over": running.over,
                },
            )
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(running.status)
            running.status.close()

    def orphans(self) -> list[int]:
        """Our children that are not workers: what dead workers left behind."""
        me = os.getpid()
        return [
            pid
            for pid, parent in process_table().items()
            if parent == me and pid not in self.running
        ]

    def sweep(self, exited: list[tuple[int, int]]) -> tuple[set[int], list[int]]:
        """Kill the orphans until none are left (their own children come to us as they die);
        what was killed, and what would not die. Workers that end meanwhile join ``exited``."""
        killed: set[int] = set()
        deadline = time.monotonic() + SWEEP_SECONDS
        orphans = self.orphans()
        while orphans and time.monotonic() < deadline:
            for pid in orphans:
                kill(pid)
            killed.update(orphans)
            time.sleep(0.01)
            exited.extend(item for item in _reap_any() if item[0] in self.running)
            orphans = self.orphans()
        return killed, sorted(orphans)

    def shutdown(self, remove_folders: bool) -> None:
        folders = [str(r.request.get("cleanup") or "") for r in self.running.values()]
        for running in list(self.running.values()):
            self.kill(running)
        deadline = time.monotonic() + SWEEP_SECONDS
        while self.running and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        self.sweep([])
        if remove_folders:
            # The parent died and cannot clean up after the workers it started.
            for folder in folders:
                if folder:
                    shutil.rmtree(folder, ignore_errors=True)

    # ----------------------------------------------------------------- in the child

    def become_worker(self, request: dict[str, Any], events_fd: int, status: socket.socket) -> None:
        code = 70
        server = os.getppid()
        try:
            os.setsid()  # its own session and process group, out of reach of a terminal
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != server:
                os._exit(code)  # the server died before we could follow it
            prctl(PR_SET_CHILD_SUBREAPER, 1)
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            for fd in (self.wake_read, self.wake_write):
                os.close(fd)
            self.control.close()
            status.close()
            for running in self.running.values():
                running.status.close()
            code = run_worker(self.worker_module, request, events_fd)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            kill_own_descendants()
            os._exit(code)


def run_worker(worker_module: Any, request: dict[str, Any], events_fd: int) -> int:
    """In the forked child: take the request's stdio, folder and environment, then run it."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile: Any = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # computed again from this model's TMPDIR
    if request.get("confine"):
        # Before any model code: from here on, this process and all it starts write only
        # into its own folders (and, without bubblewrap, read nothing the parent hid).
        confine = importlib.import_module(f"{PRIVATE_PACKAGE}.confine")
        confine.apply(request["confine"])
    return int(worker_module.serve(request, events_fd))


def load_worker() -> Any:
    """The worker module, loaded with this folder as a package of a private name.

    A package, so that the worker's modules import each other (and ``records``) by relative
    imports under an interpreter that has no qaihm-lint installed; a private name, because a
    model may have a module called ``worker`` or ``records`` of its own.
    """
    spec = importlib.util.spec_from_file_location(
        PRIVATE_PACKAGE, HERE / "__init__.py", submodule_search_locations=[str(HERE)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PRIVATE_PACKAGE}.worker")


def preload() -> tuple[dict[str, str], str]:
    """Import what every worker needs; the versions, and why not when torch is missing."""
    versions = {"python": sys.version.split()[0]}
    for name in PRELOAD:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            if name == "torch":
                return versions, f"cannot import torch: {type(exc).__name__}: {exc}"
            continue
        versions[name] = str(getattr(module, "__version__", "?"))
    return versions, ""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # --no-preload: a server for one model, which imports torch itself after the fork (so the
    # fork is from a process without threads, whatever the platform).
    eager = "--no-preload" not in args
    args = [arg for arg in args if arg != "--no-preload"]
    if len(args) != 1:
        print("usage: forkserver.py CONTROL_FD [--no-preload]", file=sys.stderr)
        return 2
    control = socket.socket(fileno=int(args[0]))
    # Running as a script put this folder first on sys.path; models must not see it.
    sys.path[:] = [entry for entry in sys.path if entry and Path(entry).resolve() != HERE]
    faulthandler.enable()
    subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1)
    versions, failure = preload() if eager else ({"python": sys.version.split()[0]}, "")
    if failure:
        send(control, {"event": "fatal", "message": failure})
        return 3
    worker_module = load_worker()
    threads = thread_count()
    send(
        control,
        {
            "event": "ready",
            "pid": os.getpid(),
            "versions": versions,
            "fork_safe": threads == 1 and hasattr(os, "fork"),
            "threads": threads,
            "subreaper": subreaper,
        },
    )
    code = Server(control, worker_module).serve()
    # Skips the interpreter's teardown with torch loaded (a second or more): nothing is left
    # to flush or clean up but our own streams.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
