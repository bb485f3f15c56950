"""The fork servers on their own: the fallback to a server per model, start failures, and a
parent that dies without a word."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from qaihm_lint.deep.processes import ForkServer, ServerPool, WorkerStartError
from tests.deep.conftest import FIXTURE_REPO

pytestmark = [
    pytest.mark.deep,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork servers are Linux-only"),
]


@pytest.fixture(autouse=True)
def _needs_torch() -> None:
    pytest.importorskip("torch")


def request_for(workdir: Path, model_id: str, env: dict[str, str]) -> Path:
    """A worker request like the runner writes, for the fixture model ``model_id``."""
    (workdir / "tmp").mkdir(parents=True)
    request: dict[str, Any] = {
        "repo_root": str(FIXTURE_REPO),
        "model_id": model_id,
        "layout": "info",
        "stages": ["load"],
        "workdir": str(workdir / "out"),
        "artifacts": False,
        "memory_limit_mb": 4096,
        "threads": 1,
        "env": {**env, "TMPDIR": str(workdir / "tmp")},
        "cwd": str(workdir),
        "log": str(workdir / "worker.log"),
        "cleanup": str(workdir),
    }
    path = workdir / "request.json"
    path.write_text(json.dumps(request))
    return path


def events_of(read_fd: int) -> list[dict[str, Any]]:
    data = b""
    while chunk := os.read(read_fd, 65536):
        data += chunk
    return [json.loads(line) for line in data.splitlines()]


def worker_env() -> dict[str, str]:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}


def test_a_server_with_threads_is_not_forked_from(tmp_path: Path) -> None:
    # OpenBLAS starts its thread pool when numpy is imported; forking a process with threads
    # is unsafe, so each model gets a server of its own and still passes.
    env = {**worker_env(), "OPENBLAS_NUM_THREADS": "4"}
    pool = ServerPool(shared=True)
    read_fd, write_fd = os.pipe()
    try:
        handle = pool.launch(sys.executable, env, request_for(tmp_path, "good", env), write_fd)
        os.close(write_fd)
        assert handle.private_server is not None
        ended = handle.wait(120)
        events = events_of(read_fd)
        pool.release(handle)
    finally:
        os.close(read_fd)
        pool.close()
    assert ended.code == 0 and not ended.lost
    assert [e["status"] for e in events if e["event"] == "result"] == ["ok"] * 4
    assert events[-1] == {"event": "done"}
    assert pool.failures[sys.executable] == ""  # started, but not to be forked from


def test_an_interpreter_without_torch_cannot_start_a_server(tmp_path: Path) -> None:
    wrapper = tmp_path / "python-without-site"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(WorkerStartError) as caught:
        ForkServer(str(wrapper), worker_env()).start()
    text = str(caught.value)
    assert "cannot import torch" in text and str(wrapper) in text and "\n" not in text


def test_a_server_whose_parent_vanished_kills_its_workers_and_removes_their_folders(
    tmp_path: Path,
) -> None:
    # What qaihm-lint killed with SIGKILL would leave: the server notices the end of its
    # control socket, kills the hung worker and removes the folder the runner made for it.
    workdir = tmp_path / "qaihm-deep-hangs"
    env = worker_env()
    server = ForkServer(sys.executable, env)
    server.start()
    read_fd, write_fd = os.pipe()
    try:
        handle = server.launch(request_for(workdir, "hangs", env), write_fd)
        os.close(write_fd)
        worker = handle.pid
        assert server.control is not None and server.process is not None
        server.control.close()  # no "bye": the parent is gone
        server.control = None
        server.process.wait(timeout=60)
        ended = handle.wait(5)
    finally:
        os.close(read_fd)
        server.close()
    assert not Path(f"/proc/{worker}").exists() or _is_zombie(worker)
    assert not workdir.exists()
    assert ended.lost or ended.code < 0


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_server_still_importing_torch_is_aborted_by_kill_all(tmp_path: Path) -> None:
    # Ctrl-C in the first seconds of a run must not wait for the import to finish (the
    # import would succeed, and the worker would run).
    pool = ServerPool(shared=True)
    env = worker_env()
    request = request_for(tmp_path / "work", "good", env)
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def launch() -> None:
        try:
            pool.launch(sys.executable, env, request, write_fd)
        except WorkerStartError as exc:
            failure.append(exc)

    thread = threading.Thread(target=launch)
    thread.start()
    try:
        while not any(server.process is not None for server in list(pool.booting)):
            assert thread.is_alive()
            time.sleep(0.01)
        pool.kill_all()
        thread.join()
    finally:
        os.close(read_fd)
        os.close(write_fd)
        pool.close()
    assert failure and "did not start" in str(failure[0])
    with pytest.raises(WorkerStartError, match="stopped"):
        pool.launch(sys.executable, env, request, 0)
