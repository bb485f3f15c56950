"""Checking many folders at once: worker processes, each given a few chunks of folders."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from qaihm_lint.config import Settings
from qaihm_lint.engine.folder import FolderResult, check_folder_result
from qaihm_lint.plan import Plan
from qaihm_lint.workspace import ModelFolder

# Below this many folders the start-up of workers costs more than it saves.
MIN_FOLDERS_FOR_WORKERS = 8

_WORKER_PLAN: Plan | None = None


def effective_jobs(settings: Settings) -> int:
    return settings.jobs if settings.jobs > 0 else (os.cpu_count() or 1)


def check_folders(folders: Sequence[ModelFolder], plan: Plan) -> dict[Path, FolderResult]:
    """Every folder's result, by path: in this process, or spread over worker processes."""
    jobs = effective_jobs(plan.settings)
    if jobs <= 1 or len(folders) < MIN_FOLDERS_FOR_WORKERS:
        return {folder.path: check_folder_result(folder, plan) for folder in folders}
    chunks = _chunks(folders, jobs)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    results: dict[Path, FolderResult] = {}
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)),
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(plan, os.getpid() if os.name == "posix" else None),
    ) as pool:
        for chunk, chunk_results in zip(chunks, pool.map(_check_chunk, chunks), strict=False):
            for folder, result in zip(chunk, chunk_results, strict=False):
                results[folder.path] = result
    return results


def _chunks(items: Sequence[ModelFolder], jobs: int) -> list[list[ModelFolder]]:
    # A few chunks per worker balances uneven folders without paying per-folder IPC.
    count = max(1, min(len(items), jobs * 4))
    return [list(items[i::count]) for i in range(count)]


def _init_worker(plan: Plan, parent: int | None = None) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot shut its pool down, and the workers would wait for
    work forever (siblings keep the task pipe open): leave when the parent is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _check_chunk(folders: list[ModelFolder]) -> list[FolderResult]:
    assert _WORKER_PLAN is not None
    return [check_folder_result(folder, _WORKER_PLAN) for folder in folders]
