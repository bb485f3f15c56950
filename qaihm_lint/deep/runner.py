"""The parent side of ``--deep``: workers, timeouts, the compile stage, the cache, progress.

Each model folder gets a fresh worker process (``worker.py``) in its own session, so a hang,
a segfault or a runaway allocation costs that model only: the runner kills the worker's whole
process group at the stage deadline and reports the stage that was running. The compile stage
runs here, not in the worker, so all jobs go through one ``HubClient`` and are polled together
whatever ``--jobs`` is.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qaihm_lint import __version__
from qaihm_lint.deep import cache as cache_mod
from qaihm_lint.deep.common import (
    INSTALL_HINT,
    SLUGS,
    STAGE_CODE,
    STAGE_GROUPS,
    STAGE_NUMBER,
    STAGES,
    TIMEOUT,
    DeepCancelled,
    DeepError,
    normalise_groups,
)
from qaihm_lint.deep.envbuild import EnvFailure, RunEnvironments, default_env_dir
from qaihm_lint.deep.environments import EnvSkip, EnvSpec, base_interpreter, plan_environments
from qaihm_lint.deep.hub import HubClient, HubError, HubJob, HubRateLimited, import_qai_hub
from qaihm_lint.deep.processes import FORKSERVER, ServerPool, WorkerExit, WorkerStartError
from qaihm_lint.deep.progress import Progress, make_progress
from qaihm_lint.diagnostics import Diagnostic, Location, Severity
from qaihm_lint.workspace import Layout, ModelFolder

DEFAULT_TARGET = "Samsung Galaxy S25 (Family)"
DEFAULT_TIMEOUT = 600.0  # per stage: from_pretrained of a large model on CPU takes minutes
DEFAULT_COMPILE_TIMEOUT = 3600.0  # per job: AI Hub queues can be long
WORKER = Path(__file__).with_name("worker.py")
MIN_MEMORY_MB = 2048
SUBMIT_ATTEMPTS = 5
STOP_WAIT = 30.0  # for a killed worker's server to confirm that it and its children are gone
SIGNAL_CHECK = 0.2  # how often the main thread looks for a Ctrl-C or SIGTERM during a run

_PROBE = (
    "import json, sys\n"
    "import torch, onnx, onnxruntime\n"
    "print(json.dumps({'python': sys.version.split()[0], 'torch': torch.__version__,"
    " 'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__}))\n"
)
# Verdicts about the environment or the moment, not the model's code: never cached. "memory"
# depends on the memory cap, which follows --jobs and is deliberately not part of the key.
UNCACHEABLE_CAUSES = frozenset({"network", "missing-module", "memory", "environment"})
_FAULT_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


@dataclass(frozen=True)
class DeepOptions:
    """How ``--deep`` runs.

    ``stages`` holds stage groups: ``load`` (import, from_pretrained, input spec, eager forward:
    QAI801-QAI804; always run, everything needs it), ``trace`` (QAI805/QAI806), ``onnx``
    (QAI807) and ``compile`` (QAI808; brings ``trace`` along, whose model it submits).
    ``timeout`` is per stage in seconds; ``compile_timeout`` bounds each compile job.
    ``memory_limit_mb`` caps each worker's address space (default: 80 % of RAM shared among
    the parallel workers, at least 2 GiB). ``fork_server`` pays the interpreter start and
    ``import torch`` once per environment and forks a worker per model from there; False
    starts a fresh interpreter per model (slower, for comparison).
    """

    targets: tuple[str, ...] = (DEFAULT_TARGET,)
    stages: frozenset[str] = frozenset(STAGE_GROUPS)
    timeout: float = DEFAULT_TIMEOUT
    compile: bool = True
    python: str | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    use_cache: bool = True
    cache_dir: Path | None = None
    progress: bool | None = None
    memory_limit_mb: int | None = None
    compile_timeout: float = DEFAULT_COMPILE_TIMEOUT
    poll_interval: float = 10.0
    compile_options: str = ""
    fork_server: bool = True
    # Build the environments upstream's CI would (envbuild.py) instead of running every model
    # in ``python``; ignored when ``python`` is given. ``env_dir`` is where they are kept.
    environments: bool = False
    env_dir: Path | None = None
    # False in a --shard run: recorded model costs are kept as the shards found them.
    refresh_costs: bool = True


@dataclass
class ModelOutcome:
    """Every stage verdict of one model (passes included, for junit), and whether it came
    from the cache."""

    folder: ModelFolder
    records: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = True
    submitted: int = 0


@dataclass
class DeepResult:
    diagnostics: list[Diagnostic]
    outcomes: list[ModelOutcome]
    workers_run: int
    jobs_submitted: int


def run_deep(
    folders: Sequence[ModelFolder], options: DeepOptions, hub: HubClient | None = None
) -> list[Diagnostic]:
    """Run the deep stages over ``folders``; the findings, sorted. DeepError on setup problems."""
    return run_deep_detailed(folders, options, hub).diagnostics


def run_deep_detailed(
    folders: Sequence[ModelFolder], options: DeepOptions, hub: HubClient | None = None
) -> DeepResult:
    """Like run_deep, with every stage verdict (for junit) and what was run or submitted."""
    groups = normalise_groups(set(options.stages), options.compile)
    if options.timeout <= 0 or options.compile_timeout <= 0:
        raise DeepError("--timeout must be a positive number of seconds")
    if options.jobs < 1:
        raise DeepError("--jobs must be at least 1")
    python = options.python or sys.executable
    cache_dir = cache_dir_for(folders, options)
    versions = probe_interpreter(python, explicit=options.python is not None, cache_dir=cache_dir)
    compile_on = "compile" in groups
    if compile_on:
        if not options.targets:
            raise DeepError("--targets is empty: name at least one AI Hub device")
        if hub is None:
            from qaihm_lint.deep.hub import QaiHubClient

            hub = QaiHubClient()
        hub.preflight(options.targets)
        versions["qai_hub"] = str(getattr(import_qai_hub(), "__version__", "?"))
    progress = make_progress(
        options.progress,
        models=[folder.model_id for folder in folders],
        stages=[stage for stage in STAGES if _stage_group(stage) in groups],
    )
    session = _Session(
        options,
        groups,
        python,
        versions,
        hub if compile_on else None,
        progress,
        cache_dir,
    )
    if options.environments and options.python is None:
        plan = plan_environments(folders, base_interpreter())
        session.envs = RunEnvironments(plan, options.env_dir or default_env_dir(), progress.note)
    try:
        result = session.run(folders)
    finally:
        progress.close()
    return result


_PROBED: dict[tuple[str, str | None], dict[str, str]] = {}


def probe_interpreter(
    python: str, explicit: bool = False, cache_dir: Path | None = None
) -> dict[str, str]:
    """The worker interpreter's torch/onnx/onnxruntime versions, or DeepError naming the fix.

    Importing torch takes seconds, so the answer is remembered per interpreter, in the process
    and under ``cache_dir``, until the interpreter or its site-packages change (cache.py).
    """
    stamp = cache_mod.interpreter_stamp(python)
    memo = (python, stamp)
    if memo not in _PROBED:
        versions = cache_mod.load_probe(cache_dir, stamp)
        if versions is None:
            versions = _probe(python, explicit)
            cache_mod.store_probe(cache_dir, stamp, versions)
        _PROBED[memo] = versions
    return dict(_PROBED[memo])


def _probe(python: str, explicit: bool) -> dict[str, str]:
    where = f" in {python}" if explicit else ""
    try:
        completed = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
            check=False,
        )
    except FileNotFoundError as exc:
        raise DeepError(f"--python {python}: no such interpreter") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeepError(f"cannot run the deep-mode interpreter {python}: {exc}") from exc
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {completed.returncode}"
        raise DeepError(
            f"--deep needs torch, onnx and onnxruntime{where} ({reason}): {INSTALL_HINT}"
        )
    try:
        data = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise DeepError(f"cannot read the versions of torch, onnx and onnxruntime{where}") from exc
    return {str(key): str(value) for key, value in data.items()}


def _stage_group(stage: str) -> str:
    return next(group for group, stages in STAGE_GROUPS.items() if stage in stages)


def default_memory_limit_mb(jobs: int) -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8192
    return max(MIN_MEMORY_MB, int(total * 0.8 / max(1, jobs) / (1024 * 1024)))


def model_path(folder: ModelFolder) -> Path:
    model_py = folder.path / "model.py"
    return model_py if model_py.is_file() else folder.path


def diagnostics_for(outcome: ModelOutcome) -> list[Diagnostic]:
    found = []
    path = model_path(outcome.folder)
    for record in outcome.records:
        if record["status"] not in ("fail", "timeout", "crash"):
            continue
        stage = record["stage"]
        code = record.get("code") or STAGE_CODE[stage]
        where = [stage]
        if record.get("component"):
            where.append(f"component {record['component']}")
        if record.get("target"):
            where.append(f"on {record['target']}")
        message = f"deep stage {STAGE_NUMBER[stage]} ({', '.join(where)}): {record['message']}"
        found.append(
            Diagnostic(
                code=code,
                rule=SLUGS[code],
                message=message,
                severity=Severity.ERROR,
                path=path,
                start=Location(1, 1),
                end=Location(1, 1),
                model_id=outcome.folder.model_id,
                anchor=f"deep:{stage}:{record.get('component') or ''}:{record.get('target') or ''}",
                extra={
                    key: record[key]
                    for key in ("stage", "component", "target", "url")
                    if record.get(key)
                },
            )
        )
    return found


@dataclass
class _Pending:
    job: HubJob
    outcome: ModelOutcome
    component: str | None
    key: str
    submitted: float
    state: str = "SUBMITTED"


class _Cancelled(Exception):
    """The run was stopped while this model ran: no verdict, nothing cached."""


class _WorkerEvents:
    """What one worker reported on its events pipe, one JSON object per line."""

    def __init__(self, session: _Session, model_id: str, log_path: Path) -> None:
        self.session = session
        self.model_id = model_id
        self.log_path = log_path
        self.records: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, Any]] = []
        self.current: tuple[str, str | None] = ("import", None)
        self.done = False
        self.fatal = ""
        self._buffer = b""

    def feed(self, chunk: bytes) -> bool:
        """Take in ``chunk``; True when a stage started or ended (its deadline restarts)."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        progressed = False
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                progressed = self._take(event) or progressed
        return progressed

    def _take(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        progress = self.session.progress
        if kind == "start":
            self.current = (event["stage"], event.get("component"))
            progress.stage_started(self.model_id, self.current[0], self.current[1])
            return True
        if kind == "result":
            message = event.get("message", "")
            if message.startswith("EOFError"):
                # The question it asked is the model's last output.
                question = _last_line(self.log_path)
                if question:
                    message += f" It asked: {question!r}"
            record = _record(
                event["stage"],
                event.get("component"),
                event["status"],
                message,
                code=event.get("code"),
                seconds=event.get("seconds"),
                cause=event.get("cause"),
            )
            self.records.append(record)
            self.session.report(self.model_id, record)
            return True
        if kind == "artifact":
            self.artifacts.append(event)
        elif kind == "done":
            self.done = True
        elif kind == "fatal":
            self.fatal = str(event.get("message", ""))
        return False


class _Session:
    def __init__(
        self,
        options: DeepOptions,
        groups: frozenset[str],
        python: str,
        versions: Mapping[str, str],
        hub: HubClient | None,
        progress: Progress,
        cache_dir: Path | None,
    ) -> None:
        self.options = options
        self.groups = groups
        self.python = python
        self.versions = dict(versions)
        self.hub = hub
        self.progress = progress
        self.memory_limit_mb = options.memory_limit_mb or default_memory_limit_mb(options.jobs)
        self.threads = max(1, (os.cpu_count() or 1) // options.jobs)
        self.lock = threading.Lock()
        self.pending: list[_Pending] = []
        self.servers = ServerPool(shared=options.fork_server)
        self.cancelled = False
        self.stopped: list[WorkerExit] = []  # workers stopped by a cancel
        self.folders_removed = 0
        self.workers_run = 0
        self.jobs_submitted = 0
        self._package_hashes: dict[Path, str] = {}
        self.worker_hash = cache_mod.hash_files([WORKER, FORKSERVER], WORKER.parent)
        self.cache = cache_mod.DeepCache(cache_dir)
        self.cache_dir = cache_dir
        self.envs: RunEnvironments | None = None

    # ------------------------------------------------------------------ orchestration

    def run(self, folders: Sequence[ModelFolder]) -> DeepResult:
        outcomes = [ModelOutcome(folder) for folder in folders]
        last_poll = 0.0
        with _signals_deferred() as stop:
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.options.jobs, thread_name_prefix="qaihm-deep"
            )
            try:
                futures = [pool.submit(self.check_model, outcome) for outcome in outcomes]
                remaining = set(futures)
                # Compile jobs are polled here, while other models still run locally. Every
                # wait is short so that a Ctrl-C or SIGTERM is acted on within SIGNAL_CHECK.
                while remaining or self.pending:
                    stop.check()
                    if remaining:
                        _, remaining = concurrent.futures.wait(
                            remaining,
                            timeout=min(SIGNAL_CHECK, max(0.05, self.options.poll_interval)),
                            return_when=concurrent.futures.FIRST_COMPLETED,
                        )
                    elif self.options.poll_interval > 0:
                        time.sleep(
                            min(
                                SIGNAL_CHECK,
                                max(
                                    0.0,
                                    self.options.poll_interval - (time.monotonic() - last_poll),
                                ),
                            )
                        )
                    if self.pending and time.monotonic() - last_poll >= self.options.poll_interval:
                        last_poll = time.monotonic()
                        self.poll_once()
                stop.check()
                for future in futures:
                    future.result()  # an internal error here is a bug: let the CLI report it
            except BaseException as exc:
                self.cancel(pool)
                if isinstance(exc, KeyboardInterrupt):
                    raise DeepCancelled(
                        getattr(exc, "signal_name", "SIGINT"), self.cancel_summary()
                    ) from exc
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                self.servers.close()
        diagnostics = [found for outcome in outcomes for found in diagnostics_for(outcome)]
        diagnostics.sort(key=Diagnostic.sort_key)
        self.summarise(outcomes)
        return DeepResult(diagnostics, outcomes, self.workers_run, self.jobs_submitted)

    def cancel(self, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        """Ctrl-C, SIGTERM or a bug: stop every worker with all it started, let each model's
        thread remove its folder, and stop the servers. Nothing of it is cached."""
        self.cancelled = True
        with _signals_ignored():
            self.servers.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)
            self.servers.close()

    def cancel_summary(self) -> str:
        if not self.stopped:
            return "no deep worker was running; nothing cached for unfinished models"
        killed = sum(stop.killed for stop in self.stopped)
        lost = sum(1 for stop in self.stopped if stop.lost)
        text = f"stopped {len(self.stopped)} deep worker(s)"
        if killed:
            text += f" and killed the {killed} process(es) they had started"
        if lost:
            text += f" ({lost} did not confirm it)"
        survivors = sorted(pid for stop in self.stopped for pid in stop.survivors)
        if survivors:
            text += f"; still running: pid {', '.join(map(str, survivors))}"
        return (
            f"{text}; removed {self.folders_removed} temporary folder(s); nothing cached for "
            "the models that were running"
        )

    def summarise(self, outcomes: Sequence[ModelOutcome]) -> None:
        cached = sum(1 for outcome in outcomes if outcome.cached)
        failed = sum(
            1
            for outcome in outcomes
            if any(r["status"] in ("fail", "timeout", "crash") for r in outcome.records)
        )
        if outcomes and cached == len(outcomes):
            self.progress.note(
                f"all {len(outcomes)} model(s) unchanged since the last deep run: nothing run, "
                f"nothing submitted to AI Hub (results from the cache); {failed} with findings"
            )
            return
        self.progress.note(
            f"{len(outcomes)} model(s): {self.workers_run} run, {cached} from the cache, "
            f"{self.jobs_submitted} compile job(s) submitted; {failed} with findings"
        )

    # ------------------------------------------------------------------ one model

    def local_key(self, folder: ModelFolder) -> str:
        package = folder.package
        assert package is not None
        root = package.root
        if root not in self._package_hashes:
            self._package_hashes[root] = cache_mod.package_hash(root)
        models_dir = folder.path.parent
        return cache_mod.make_key(
            {
                "kind": "local",
                "qaihm_lint": __version__,
                "worker": self.worker_hash,
                "model": folder.model_id,
                "layout": folder.layout.value,
                "folder": cache_mod.folder_hash(folder.path),
                # Model folders it imports (whisper_base imports whisper_small) are its code.
                "imports": {
                    name: cache_mod.folder_hash(models_dir / name)
                    for name in cache_mod.imported_model_folders(folder.path)
                },
                "package": self._package_hashes[root],
                "versions": {k: v for k, v in self.versions.items() if k != "qai_hub"},
                "python": self.options.python,
                "environment": self.envs.key(folder.model_id) if self.envs else None,
                "groups": sorted(self.groups - {"compile"}),
                "timeout": self.options.timeout,
                # Not the memory cap: it follows --jobs, and the verdicts it decides
                # (UNCACHEABLE_CAUSES "memory") are never cached.
            }
        )

    def compile_key(self, local_key: str, target: str, component: str | None) -> str:
        return cache_mod.make_key(
            {
                "kind": "compile",
                "local": local_key,
                "target": target,
                "component": component,
                "qai_hub": self.versions.get("qai_hub"),
                "options": self.options.compile_options,
            }
        )

    def check_model(self, outcome: ModelOutcome) -> None:
        folder = outcome.folder
        model_id = folder.model_id
        self.progress.model_started(model_id)
        if folder.is_card_only:
            # A published card without code: nothing can run; the static rules speak for it.
            outcome.cached = False
            self.progress.model_finished(model_id, cached=False)
            return
        if folder.package is None:
            outcome.cached = False
            outcome.records.append(
                _record(
                    "import",
                    None,
                    "fail",
                    f"{folder.path} is not inside a qai_hub_models package, so "
                    f"qai_hub_models.models.{model_id} cannot be imported: run --deep on the "
                    "package it belongs to.",
                )
            )
            self.report(model_id, outcome.records[-1])
            self.progress.model_finished(model_id, cached=False)
            return
        choice = self.envs.choice(model_id) if self.envs else None
        if isinstance(choice, EnvSkip):
            # The interpreter cannot run this model at all; not a verdict on its code.
            outcome.cached = False
            outcome.records.append(_record("import", None, "skip", choice.message))
            self.report(model_id, outcome.records[-1])
            self.progress.model_finished(model_id, cached=False)
            return
        key = self.local_key(folder)
        local = self.cache.get(key) if self.options.use_cache else None
        missing: list[tuple[str, str | None]] = []
        cached_compile: list[dict[str, Any]] = []
        if local is not None and self.hub is not None:
            for component in _traced_components(local["records"]):
                for target in self.options.targets:
                    entry = self.cache.get(self.compile_key(key, target, component))
                    if entry is None:
                        missing.append((target, component))
                    else:
                        cached_compile.append(entry["record"])
        if local is not None and not missing:
            outcome.records = list(local["records"]) + cached_compile
            if self.hub is not None:
                traced = set(_traced_components(local["records"]))
                outcome.records.extend(_compile_skips(local["records"], traced))
            for record in outcome.records:
                self.report(model_id, record, cached=True)
            self.progress.model_finished(model_id, cached=True)
            return

        outcome.cached = False
        python = self.python
        if isinstance(choice, EnvSpec) and self.envs is not None:
            try:
                python = str(self.envs.python(choice))
            except EnvFailure as exc:
                outcome.records.append(
                    _record(
                        "import",
                        None,
                        "fail",
                        f"the environment {choice.short} this model runs in could not be "
                        f"built, so it was not run: {exc}",
                        cause="environment",
                    )
                )
                self.report(model_id, outcome.records[-1])
                self.progress.model_finished(model_id, cached=False)
                return
        want_artifacts = self.hub is not None
        workdir = Path(tempfile.mkdtemp(prefix=f"qaihm-deep-{model_id}-"))
        try:
            started = time.monotonic()
            try:
                records, artifacts, cacheable = self.run_worker(
                    folder, workdir, want_artifacts, python
                )
            except _Cancelled:
                return  # no verdict: the run was stopped while this model ran
            cache_mod.record_cost(
                self.cache_dir, model_id, time.monotonic() - started, self.options.refresh_costs
            )
            outcome.records = records
            if cacheable and not any(r.get("cause") in UNCACHEABLE_CAUSES for r in records):
                self.cache.put(key, {"records": records})
            if self.hub is not None:
                compiled = {artifact.get("component") for artifact in artifacts}
                outcome.records.extend(_compile_skips(records, compiled))
                for artifact in artifacts:
                    component = artifact.get("component")
                    targets = [
                        target
                        for target in self.options.targets
                        if local is None or (target, component) in missing
                    ]
                    if local is not None:
                        # Targets compiled before keep their cached verdicts.
                        outcome.records.extend(
                            entry for entry in cached_compile if entry.get("component") == component
                        )
                    self.submit(outcome, key, component, artifact, targets)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if self.cancelled:
                with self.lock:
                    self.folders_removed += 1
        if self.hub is None or not any(p.outcome is outcome for p in self.pending):
            self.progress.model_finished(model_id, cached=False)

    def report(self, model_id: str, record: Mapping[str, Any], cached: bool = False) -> None:
        component = record.get("component")
        if record.get("target"):
            component = f"{component}@{record['target']}" if component else record["target"]
        # Passing stages may carry a remark too (an input the ONNX exporter dropped).
        detail = "" if record["status"] == "skip" else str(record.get("message") or "")
        self.progress.stage_finished(
            model_id,
            record["stage"],
            component,
            record["status"],
            record.get("seconds"),
            detail=detail,
            cached=cached,
        )

    # ------------------------------------------------------------------ the worker

    def run_worker(
        self, folder: ModelFolder, workdir: Path, want_artifacts: bool, python: str | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """Run the worker for ``folder``: its stage records, its artifacts, and whether the
        verdict may be cached."""
        package = folder.package
        assert package is not None
        model_id = folder.model_id
        request: dict[str, Any] = {
            "repo_root": str(package.repo_root),
            "model_id": model_id,
            "layout": "manifest" if folder.layout is Layout.MANIFEST else "info",
            "stages": sorted(self.groups),
            "workdir": str(workdir / "out"),
            "artifacts": want_artifacts,
            "memory_limit_mb": self.memory_limit_mb,
            "threads": self.threads,
        }
        request_path = workdir / "request.json"
        log_path = workdir / "worker.log"
        env = dict(os.environ)
        env.update(
            {
                "CUDA_VISIBLE_DEVICES": "",
                # What upstream's CI sets: SourceAsRoot clones without asking on stdin.
                "QAIHM_CI": "1",
                # Linting must not write __pycache__ into the tree it checks.
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(self.threads))
        # What the model writes to tempfile goes into its folder, which is always removed.
        (workdir / "tmp").mkdir()
        env["TMPDIR"] = str(workdir / "tmp")
        request.update(
            {"env": env, "cwd": str(workdir), "log": str(log_path), "cleanup": str(workdir)}
        )
        request_path.write_text(json.dumps(request), encoding="utf-8")
        if self.cancelled:
            raise _Cancelled
        read_fd, write_fd = os.pipe()
        with self.lock:
            self.workers_run += 1
        try:
            handle = self.servers.launch(python or self.python, env, request_path, write_fd)
        except WorkerStartError as exc:
            os.close(read_fd)
            if self.cancelled:
                raise _Cancelled from exc
            record = _record("import", None, "fail", f"cannot start the worker: {exc}")
            self.report(model_id, record)
            return [record], [], False
        finally:
            os.close(write_fd)
        events = _WorkerEvents(self, model_id, log_path)
        ended: WorkerExit | None = None
        timed_out = False
        selector = selectors.DefaultSelector()
        selector.register(read_fd, selectors.EVENT_READ, "events")
        selector.register(handle, selectors.EVENT_READ, "server")
        deadline = time.monotonic() + self.options.timeout
        try:
            # Until the server says the worker ended: not until the pipe closes, which a
            # process the model forked may keep open for ever.
            while ended is None and not self.cancelled:
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
                        deadline = time.monotonic() + self.options.timeout
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
        if self.cancelled:
            with self.lock:
                self.stopped.append(ended)
            raise _Cancelled
        records = events.records
        stage, component = events.current
        if timed_out:
            record = _record(
                stage,
                component,
                "timeout",
                f"did not finish within {self.options.timeout:g} s, so {_what_was_killed(ended)}. "
                "Look for a loop that never ends, a wait on a lock or a download that hangs; if "
                "the model is only slow on CPU, raise --timeout.",
                code=TIMEOUT,
            )
            records.append(record)
            self.report(model_id, record)
            return records, [], True
        if events.fatal:
            record = _record("import", None, "fail", f"{events.fatal}: {INSTALL_HINT}")
            records.append(record)
            self.report(model_id, record)
            return records, [], False
        if not events.done:
            finished = {(r["stage"], r.get("component")) for r in records}
            if events.current in finished:
                # Died between stages: charge the stage that would have come next.
                stage = _next_stage(stage)
            record = _record(
                stage,
                component,
                "crash",
                _crash_message(ended.code, log_path, package.repo_root),
                # A kill from outside is most often the OOM killer: it depends on the cap.
                cause="memory" if ended.code == -signal.SIGKILL else None,
            )
            records.append(record)
            self.report(model_id, record)
            return records, [], True
        return records, events.artifacts, True

    # ------------------------------------------------------------------ the compile stage

    def submit(
        self,
        outcome: ModelOutcome,
        local_key: str,
        component: str | None,
        artifact: Mapping[str, Any],
        targets: Sequence[str],
    ) -> None:
        assert self.hub is not None
        if not targets:
            return
        model_id = outcome.folder.model_id
        name = f"{model_id}_{component}" if component else model_id
        specs = {
            key: (tuple(value[0]), str(value[1])) for key, value in artifact["input_specs"].items()
        }
        self.progress.stage_started(model_id, "compile", component)
        delay = max(self.options.poll_interval, 0.01)
        failure = ""
        jobs: list[HubJob] = []
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                jobs = self.hub.submit(
                    Path(artifact["path"]),
                    targets,
                    name=name,
                    input_specs=specs,
                    options=self.options.compile_options,
                )
                failure = ""
                break
            except HubRateLimited as exc:
                failure = f"{exc}; gave up after {attempt + 1} attempts"
                time.sleep(min(delay * 2**attempt, 60.0))
            except HubError as exc:
                failure = f"AI Hub refused the compile job: {exc}"
                break
        if failure:
            for target in targets:
                record = _record("compile", component, "fail", failure, target=target)
                with self.lock:
                    outcome.records.append(record)
                self.report(model_id, record)
            return
        with self.lock:
            self.jobs_submitted += len(jobs)
            outcome.submitted += len(jobs)
            now = time.monotonic()
            for job in jobs:
                key = self.compile_key(local_key, job.target, component)
                self.pending.append(_Pending(job, outcome, component, key, now))

    def poll_once(self) -> None:
        assert self.hub is not None
        with self.lock:
            pending = list(self.pending)
        for item in pending:
            job = item.job
            record: dict[str, Any] | None = None
            try:
                status = self.hub.poll(job)
                item.state = status.state
                if status.finished:
                    final = self.hub.result(job)
                    if final.success:
                        record = _record(
                            "compile", item.component, "ok", "", target=job.target, url=job.url
                        )
                    else:
                        reason = final.message or f"the job ended {final.state}"
                        record = _record(
                            "compile",
                            item.component,
                            "fail",
                            f"compile job failed: {reason} ({job.url})",
                            target=job.target,
                            url=job.url,
                        )
            except HubRateLimited:
                pass  # ask again at the next poll
            except HubError as exc:
                record = _record(
                    "compile",
                    item.component,
                    "fail",
                    f"could not get the job's status: {exc} ({job.url})",
                    target=job.target,
                    url=job.url,
                )
            if record is None and time.monotonic() - item.submitted > self.options.compile_timeout:
                record = _record(
                    "compile",
                    item.component,
                    "timeout",
                    f"compile job still {item.state} after {self.options.compile_timeout:g} s "
                    f"({job.url}); it may still finish there.",
                    code=TIMEOUT,
                    target=job.target,
                    url=job.url,
                )
            if record is None:
                continue
            model_id = item.outcome.folder.model_id
            with self.lock:
                self.pending.remove(item)
                item.outcome.records.append(record)
                last = not any(p.outcome is item.outcome for p in self.pending)
            if record["status"] in ("ok", "fail") and "could not get" not in record["message"]:
                self.cache.put(item.key, {"record": record})
            self.report(model_id, record)
            if last:
                self.progress.model_finished(model_id, cached=False)


def _record(
    stage: str,
    component: str | None,
    status: str,
    message: str,
    *,
    code: str | None = None,
    seconds: float | None = None,
    target: str | None = None,
    url: str | None = None,
    cause: str | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "stage": stage,
        "component": component,
        "status": status,
        "message": message,
        "code": code,
        "seconds": seconds,
    }
    if target is not None:
        record["target"] = target
    if url is not None:
        record["url"] = url
    if cause is not None:
        record["cause"] = cause  # why it is not cached (UNCACHEABLE_CAUSES)
    return record


def _compile_skips(
    records: Sequence[Mapping[str, Any]], compiled: set[str | None]
) -> list[dict[str, Any]]:
    """Compile-stage verdicts for the components that had nothing to submit (for junit)."""
    skips = []
    for record in records:
        if record["stage"] != "forward" or record.get("component") in compiled:
            continue
        why = (
            "precompiled: nothing to compile"
            if record["status"] == "skip"
            else "not compiled: an earlier stage failed"
        )
        skips.append(_record("compile", record.get("component"), "skip", why))
    return skips


def _traced_components(records: Sequence[Mapping[str, Any]]) -> list[str | None]:
    return [r.get("component") for r in records if r["stage"] == "trace" and r["status"] == "ok"]


def _next_stage(stage: str) -> str:
    order = ("import", "from_pretrained", "input_spec", "forward", "trace", "onnx")
    index = order.index(stage) if stage in order else len(order) - 1
    return order[min(index + 1, len(order) - 1)]


def _last_line(log_path: Path) -> str:
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            tail = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
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


class _Stopped(KeyboardInterrupt):
    """A Ctrl-C or SIGTERM that arrived during a run, raised where the main thread holds no
    lock (``_DeferredSignals.check``)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class _DeferredSignals:
    """Which stop signal arrived during a run, if any.

    Python runs a signal handler in the main thread between any two bytecodes; one that
    raises can land inside the standard library's lock handling (``concurrent.futures.wait``
    releasing a future's condition, say), leave that lock held, and the model thread that
    finishes the future then blocks on it for ever, and so does the cancel that waits for that
    thread. The handler therefore only notes the signal (it takes no lock: it may run while the
    main thread holds any), and the run raises it at a point of its own choosing.
    """

    def __init__(self) -> None:
        self.signum = 0

    def note(self, signum: int, frame: object) -> None:
        if not self.signum:
            self.signum = signum

    def check(self) -> None:
        if self.signum:
            raise _Stopped("SIGTERM" if self.signum == signal.SIGTERM else "SIGINT")


@contextlib.contextmanager
def _signals_deferred() -> Iterator[_DeferredSignals]:
    """Note Ctrl-C and SIGTERM instead of raising them wherever the main thread happens to be;
    only the main thread may touch signal handlers (elsewhere nothing is deferred)."""
    deferred = _DeferredSignals()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum, handler in saved.items():
        # Ignored stays ignored (a run started with nohup, say); None is a handler set
        # outside Python, which cannot be put back.
        if handler is not None and handler is not signal.SIG_IGN:
            signal.signal(signum, deferred.note)

    def restore() -> None:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)

    try:
        yield deferred
    except BaseException:
        restore()
        raise
    restore()
    if deferred.signum:
        # It came after the run's last look (while the servers closed): its own handler
        # gets it now, with nothing left running.
        signal.raise_signal(deferred.signum)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while a cancel cleans up, so a second press cannot leave
    workers or folders behind. Only the main thread may touch signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in saved:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _crash_message(returncode: int, log_path: Path, repo_root: Path) -> str:
    try:
        log = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        log = ""
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


def cache_dir_for(folders: Sequence[ModelFolder], options: DeepOptions) -> Path | None:
    """Where results are cached: ``options.cache_dir``, else
    ``<repo_root>/.qaihm_lint_cache/deep`` of the first package."""
    if not options.use_cache:
        return None
    if options.cache_dir is not None:
        return options.cache_dir
    for folder in folders:
        if folder.package is not None:
            return folder.package.repo_root / ".qaihm_lint_cache" / "deep"
    return None
