"""The parent side of ``--deep``: one run over many models, each from the cache or a worker.

Each model folder gets a worker process of its own (``supervise.py``), so a hang, a segfault
or a runaway allocation costs that model only. Models run on a thread pool (``--jobs``); the
main thread meanwhile polls the compile jobs (``compile_stage.py``) and watches for Ctrl-C and
SIGTERM (``signals.py``). An unchanged model is answered from the cache (``cache.py``) without
running or submitting anything.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaihm_lint import __version__
from qaihm_lint.deep.artifacts import ArtifactRefused, take_artifact
from qaihm_lint.deep.base_env import base_interpreter
from qaihm_lint.deep.cache import (
    DeepCache,
    folder_hash,
    hash_files,
    imported_model_folders,
    make_key,
    package_hash,
    record_cost,
)
from qaihm_lint.deep.common import STAGE_GROUPS, DeepCancelled, DeepError, normalise_groups
from qaihm_lint.deep.compile_stage import CompileQueue, compile_skips, traced_components
from qaihm_lint.deep.envbuild import (
    EnvFailure,
    EnvSetupError,
    RunEnvironments,
    default_env_dir,
)
from qaihm_lint.deep.environments import EnvSkip, EnvSpec, plan_environments
from qaihm_lint.deep.hub import HubClient, QaiHubClient, import_qai_hub
from qaihm_lint.deep.inside.records import (
    FAIL,
    SKIP,
    STAGES,
    TIMEOUT,
    StageRecord,
    TracedModel,
    cache_entry,
    cached_records,
)
from qaihm_lint.deep.options import DeepOptions, cache_dir_for, default_memory_limit_mb
from qaihm_lint.deep.outcomes import DeepResult, ModelOutcome, diagnostics_for
from qaihm_lint.deep.probe import probe_interpreter
from qaihm_lint.deep.processes import WORKER_SIDE, ServerPool
from qaihm_lint.deep.progress import Progress, make_progress
from qaihm_lint.deep.sandbox import SandboxRun, detect
from qaihm_lint.deep.signals import signals_deferred, signals_ignored
from qaihm_lint.deep.supervise import Cancelled, RunControl, WorkerSupervisor
from qaihm_lint.diagnostics import Diagnostic
from qaihm_lint.workspace import ModelFolder

SIGNAL_CHECK = 0.2  # how often the main thread looks for a Ctrl-C or SIGTERM during a run
# Verdicts about the environment or the moment, not the model's code: never cached. "memory"
# depends on the memory cap, which follows --jobs and is deliberately not part of the key.
# "missing-asset": a weights or config file neither cached nor fetched (it may be there next
# time, and the verdict must not outlive it).
UNCACHEABLE_CAUSES = frozenset(
    {"network", "missing-module", "memory", "environment", "missing-asset"}
)


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
    if not all(math.isfinite(t) and t > 0 for t in (options.timeout, options.compile_timeout)):
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
            hub = QaiHubClient()
        hub.preflight(options.targets)
        versions["qai_hub"] = str(getattr(import_qai_hub(), "__version__", "?"))
    progress = make_progress(
        options.progress,
        models=[folder.model_id for folder in folders],
        stages=[stage for stage in STAGES if _stage_group(stage) in groups],
    )
    roots = sorted({folder.package.repo_root for folder in folders if folder.package})
    session = _Session(
        options, groups, python, versions, hub if compile_on else None, progress, cache_dir, roots
    )
    if options.environments and options.python is None:
        plan = plan_environments(folders, base_interpreter())
        unmatched = plan.unmatched()
        if unmatched is not None:
            progress.close()
            raise DeepError(f"--deep cannot build the models' environments: {unmatched}")
        session.envs = RunEnvironments(
            plan, options.env_dir or default_env_dir(), progress.note, progress
        )
    try:
        result = session.run(folders)
    finally:
        progress.close()
    return result


def _stage_group(stage: str) -> str:
    return next(group for group, stages in STAGE_GROUPS.items() if stage in stages)


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
        repo_roots: Sequence[Path] = (),
    ) -> None:
        self.options = options
        self.groups = groups
        self.python = python
        self.versions = dict(versions)
        self.progress = progress
        self.control = RunControl()
        threads = max(1, (os.cpu_count() or 1) // options.jobs)
        self.protection = detect(options.sandbox, options.network)
        # Hidden from workers: the checked trees (they get a copy), the caches, the envs' home.
        self.sandbox = SandboxRun(
            self.protection, threads, hidden=[p for p in (cache_dir, *repo_roots) if p]
        )
        self.servers = ServerPool(shared=options.fork_server, wrap=self.sandbox.wrap)
        self.supervisor = WorkerSupervisor(
            self.control,
            self.servers,
            groups=groups,
            timeout=options.timeout,
            memory_limit_mb=options.memory_limit_mb or default_memory_limit_mb(options.jobs),
            threads=threads,
            progress=progress,
            report=self.report,
            sandbox=self.sandbox,
        )
        self._package_hashes: dict[Path, str] = {}
        self.worker_hash = hash_files(WORKER_SIDE, WORKER_SIDE[0].parent)
        self.cache = DeepCache(cache_dir)
        self.cache_dir = cache_dir
        self.envs: RunEnvironments | None = None
        self.compile: CompileQueue | None = None
        if hub is not None:
            self.compile = CompileQueue(
                hub, options, versions.get("qai_hub"), self.cache, progress, self.report
            )

    # ------------------------------------------------------------------ orchestration

    def run(self, folders: Sequence[ModelFolder]) -> DeepResult:
        outcomes = [ModelOutcome(folder) for folder in folders]
        last_poll = 0.0
        with signals_deferred() as stop:
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.options.jobs, thread_name_prefix="qaihm-deep"
            )
            try:
                futures = [pool.submit(self.check_model, outcome) for outcome in outcomes]
                remaining = set(futures)
                # Compile jobs are polled here, while other models still run locally. Every
                # wait is short so that a Ctrl-C or SIGTERM is acted on within SIGNAL_CHECK.
                while remaining or self.compiling():
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
                    if (
                        self.compile is not None
                        and self.compiling()
                        and time.monotonic() - last_poll >= self.options.poll_interval
                    ):
                        last_poll = time.monotonic()
                        self.compile.poll_once()
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
                self.sandbox.close()
        diagnostics = [found for outcome in outcomes for found in diagnostics_for(outcome)]
        diagnostics.sort(key=Diagnostic.sort_key)
        self.summarise(outcomes)
        return DeepResult(diagnostics, outcomes, self.control.workers_run, self.jobs_submitted)

    def compiling(self) -> bool:
        return self.compile is not None and self.compile.waiting()

    @property
    def jobs_submitted(self) -> int:
        return self.compile.jobs_submitted if self.compile is not None else 0

    def cancel(self, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        """Ctrl-C, SIGTERM or a bug: stop every worker with all it started, let each model's
        thread remove its folder, and stop the servers. Nothing of it is cached."""
        self.control.cancelled = True
        with signals_ignored():
            self.servers.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)
            self.servers.close()

    def cancel_summary(self) -> str:
        stopped = self.control.stopped
        if not stopped:
            return "no deep worker was running; nothing cached for unfinished models"
        killed = sum(stop.killed for stop in stopped)
        lost = sum(1 for stop in stopped if stop.lost)
        text = f"stopped {len(stopped)} deep worker(s)"
        if killed:
            text += f" and killed the {killed} process(es) they had started"
        if lost:
            text += f" ({lost} did not confirm it)"
        survivors = sorted(pid for stop in stopped for pid in stop.survivors)
        if survivors:
            text += f"; still running: pid {', '.join(map(str, survivors))}"
        return (
            f"{text}; removed {self.control.folders_removed} temporary folder(s); nothing "
            "cached for the models that were running"
        )

    def summarise(self, outcomes: Sequence[ModelOutcome]) -> None:
        if self.control.workers_run:
            self.progress.note(self.protection.describe())
        cached = sum(1 for outcome in outcomes if outcome.cached)
        failed = sum(1 for outcome in outcomes if any(r.failed for r in outcome.records))
        if outcomes and cached == len(outcomes):
            self.progress.note(
                f"all {len(outcomes)} model(s) unchanged since the last deep run: nothing run, "
                f"nothing submitted to AI Hub (results from the cache); {failed} with findings"
            )
            return
        self.progress.note(
            f"{len(outcomes)} model(s): {self.control.workers_run} run, {cached} from the "
            f"cache, {self.jobs_submitted} compile job(s) submitted; {failed} with findings"
        )

    def report(self, model_id: str, record: StageRecord, cached: bool = False) -> None:
        component = record.component
        if record.target:
            component = f"{component}@{record.target}" if component else record.target
        # Passing stages may carry a remark too (an input the ONNX exporter dropped).
        detail = "" if record.status == SKIP else record.message
        self.progress.stage_finished(
            model_id,
            record.stage,
            component,
            record.status,
            record.seconds,
            detail=detail,
            cached=cached,
        )

    # ------------------------------------------------------------------ one model

    def local_key(self, folder: ModelFolder) -> str:
        package = folder.package
        assert package is not None
        root = package.root
        if root not in self._package_hashes:
            self._package_hashes[root] = package_hash(root)
        models_dir = folder.path.parent
        return make_key(
            {
                "kind": "local",
                "qaihm_lint": __version__,
                "worker": self.worker_hash,
                "model": folder.model_id,
                "layout": folder.layout.value,
                "folder": folder_hash(folder.path),
                # Model folders it imports (whisper_base imports whisper_small) are its code.
                "imports": {
                    name: folder_hash(models_dir / name)
                    for name in imported_model_folders(folder.path)
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

    def check_model(self, outcome: ModelOutcome) -> None:
        """One model, on a thread of the pool: answered without running it, from the cache,
        or by its worker (and then its compile jobs)."""
        folder = outcome.folder
        self.progress.model_started(folder.model_id)
        if folder.is_card_only:
            # A published card without code: nothing can run; the static rules speak for it.
            outcome.cached = False
            self.progress.model_finished(folder.model_id, cached=False)
            return
        reason = self.cannot_run(folder)
        if reason is not None:
            self.not_run(outcome, reason)
            return
        key = self.local_key(folder)
        cached = self.look_up(key)
        if cached.complete:
            self.answer_from_cache(outcome, cached)
            return
        python = self.interpreter(folder)
        if isinstance(python, StageRecord):
            self.not_run(outcome, python)
            return
        self.run_fresh(outcome, key, python, cached)

    def cannot_run(self, folder: ModelFolder) -> StageRecord | None:
        """Why ``folder``'s model cannot run at all, before anything is looked up."""
        if folder.package is None:
            return StageRecord(
                "import",
                FAIL,
                f"{folder.path} is not inside a qai_hub_models package, so "
                f"qai_hub_models.models.{folder.model_id} cannot be imported: run --deep "
                "on the package it belongs to.",
            )
        choice = self.envs.choice(folder.model_id) if self.envs else None
        if isinstance(choice, EnvSkip):
            # The interpreter cannot run this model at all; not a verdict on its code.
            return StageRecord("import", SKIP, choice.message)
        return None

    def not_run(self, outcome: ModelOutcome, record: StageRecord) -> None:
        model_id = outcome.folder.model_id
        outcome.cached = False
        outcome.records.append(record)
        self.report(model_id, record)
        self.progress.model_finished(model_id, cached=False)

    def look_up(self, key: str) -> _CacheLookup:
        """What the cache holds for the model of ``key``: its local verdict, and the compile
        verdicts of each traced component on each target."""
        local = cached_records(self.cache.get(key)) if self.options.use_cache else None
        found = _CacheLookup(local)
        if local is None or self.compile is None:
            return found
        for component in traced_components(local):
            for target in self.options.targets:
                entry = cached_records(self.cache.get(self.compile.key(key, target, component)))
                if entry is None:
                    found.missing.append((target, component))
                else:
                    found.compiled.extend(entry)
        return found

    def answer_from_cache(self, outcome: ModelOutcome, cached: _CacheLookup) -> None:
        assert cached.local is not None
        outcome.records = cached.local + cached.compiled
        if self.compile is not None:
            traced = set(traced_components(cached.local))
            outcome.records.extend(compile_skips(cached.local, traced))
        for record in outcome.records:
            self.report(outcome.folder.model_id, record, cached=True)
        self.progress.model_finished(outcome.folder.model_id, cached=True)

    def interpreter(self, folder: ModelFolder) -> str | StageRecord:
        """The interpreter ``folder``'s model runs under (its environment is built on first
        use), or the record of why there is none."""
        choice = self.envs.choice(folder.model_id) if self.envs else None
        if not isinstance(choice, EnvSpec) or self.envs is None:
            return self.python
        try:
            return str(self.envs.python(choice))
        except EnvSetupError as exc:
            raise DeepError(f"--deep cannot build the models' environments: {exc}") from exc
        except EnvFailure as exc:
            return StageRecord(
                "import",
                FAIL,
                f"the environment {choice.short} this model runs in could not be built, so it "
                f"was not run: {exc}",
                cause="environment",
            )

    def artifact(
        self, outcome: ModelOutcome, traced: TracedModel, workdir: Path
    ) -> TracedModel | None:
        """``traced`` pointing at the parent's own copy of the model file, or None (and the
        compile verdicts say why) when the worker named something it may not submit."""
        try:
            copy = take_artifact(traced.path, workdir / "out", self.sandbox.private)
        except ArtifactRefused as exc:
            for target in self.options.targets:
                record = StageRecord(
                    "compile",
                    FAIL,
                    f"not submitted: the worker named an artifact the parent refuses: {exc}",
                    traced.component,
                    target=target,
                )
                outcome.records.append(record)
                self.report(outcome.folder.model_id, record)
            return None
        return dataclasses.replace(traced, path=str(copy))

    def run_fresh(self, outcome: ModelOutcome, key: str, python: str, cached: _CacheLookup) -> None:
        """Run ``outcome``'s worker, cache its verdict when it may be, and submit what it
        traced for the targets the cache has no verdict for."""
        folder = outcome.folder
        outcome.cached = False
        workdir = self.sandbox.workdir(folder.model_id)
        try:
            started = time.monotonic()
            try:
                verdict = self.supervisor.run(folder, workdir, self.compile is not None, python)
            except Cancelled:
                return  # no verdict: the run was stopped while this model ran
            record_cost(
                self.cache_dir,
                folder.model_id,
                time.monotonic() - started,
                self.options.refresh_costs,
            )
            outcome.records = list(verdict.records)
            if verdict.cacheable and not any(
                # A timeout says as much about a busy runner as about the model.
                record.cause in UNCACHEABLE_CAUSES or record.status == TIMEOUT
                for record in verdict.records
            ):
                self.cache.put(key, cache_entry(verdict.records))
            if self.compile is not None:
                compiled = {traced.component for traced in verdict.traced}
                outcome.records.extend(compile_skips(verdict.records, compiled))
                for named in verdict.traced:
                    traced = self.artifact(outcome, named, workdir)
                    if traced is None:
                        continue
                    if cached.local is None:
                        targets = list(self.options.targets)
                    else:
                        targets = [
                            target
                            for target in self.options.targets
                            if (target, traced.component) in cached.missing
                        ]
                        # Targets compiled before keep their cached verdicts.
                        outcome.records.extend(
                            r for r in cached.compiled if r.component == traced.component
                        )
                    self.compile.submit(outcome, key, traced, targets)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if self.control.cancelled:
                with self.control.lock:
                    self.control.folders_removed += 1
        if self.compile is None or not self.compile.waiting_for(outcome):
            self.progress.model_finished(folder.model_id, cached=False)


@dataclass
class _CacheLookup:
    local: list[StageRecord] | None
    compiled: list[StageRecord] = field(default_factory=list)
    missing: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.local is not None and not self.missing
