"""The compile stage: traced models submitted to AI Hub, and their jobs polled to the end.

It runs in the parent, not in the workers, so every job goes through one ``HubClient`` and all
of them are polled together, whatever ``--jobs`` is. Each finished job's verdict is cached
under its own key (the model's local key, the target, the component), so a new target
compiles only that target.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaihm_lint.deep.cache import DeepCache, make_key
from qaihm_lint.deep.hub import HubClient, HubError, HubJob, HubRateLimited
from qaihm_lint.deep.inside.records import (
    FAIL,
    OK,
    SKIP,
    TIMEOUT,
    StageRecord,
    TracedModel,
    cache_entry,
)
from qaihm_lint.deep.options import DeepOptions
from qaihm_lint.deep.outcomes import ModelOutcome
from qaihm_lint.deep.progress import Progress

SUBMIT_ATTEMPTS = 5

Report = Callable[[str, StageRecord], None]


@dataclass
class _Pending:
    job: HubJob
    outcome: ModelOutcome
    component: str | None
    key: str
    submitted: float
    state: str = "SUBMITTED"


class CompileQueue:
    """The compile jobs of one deep run: submitted by the model threads, polled by the main
    thread while other models still run locally."""

    def __init__(
        self,
        hub: HubClient,
        options: DeepOptions,
        qai_hub_version: str | None,
        cache: DeepCache,
        progress: Progress,
        report: Report,
    ) -> None:
        self.hub = hub
        self.options = options
        self.qai_hub_version = qai_hub_version
        self.cache = cache
        self.progress = progress
        self.report = report
        self.lock = threading.Lock()
        self.pending: list[_Pending] = []
        self.jobs_submitted = 0

    def key(self, local_key: str, target: str, component: str | None) -> str:
        return make_key(
            {
                "kind": "compile",
                "local": local_key,
                "target": target,
                "component": component,
                "qai_hub": self.qai_hub_version,
                "options": self.options.compile_options,
            }
        )

    def waiting(self) -> bool:
        """Whether any job is still running."""
        with self.lock:
            return bool(self.pending)

    def waiting_for(self, outcome: ModelOutcome) -> bool:
        """Whether a job of ``outcome``'s model is still running."""
        with self.lock:
            return any(item.outcome is outcome for item in self.pending)

    def submit(
        self,
        outcome: ModelOutcome,
        local_key: str,
        traced: TracedModel,
        targets: Sequence[str],
    ) -> None:
        """Submit ``traced`` for ``targets``; a refusal is that model's compile verdict."""
        if not targets:
            return
        model_id = outcome.folder.model_id
        component = traced.component
        name = f"{model_id}_{component}" if component else model_id
        self.progress.stage_started(model_id, "compile", component)
        delay = max(self.options.poll_interval, 0.01)
        failure = ""
        jobs: list[HubJob] = []
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                jobs = self.hub.submit(
                    Path(traced.path),
                    targets,
                    name=name,
                    input_specs=dict(traced.input_specs),
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
                record = StageRecord("compile", FAIL, failure, component, target=target)
                with self.lock:
                    outcome.records.append(record)
                self.report(model_id, record)
            return
        with self.lock:
            self.jobs_submitted += len(jobs)
            outcome.submitted += len(jobs)
            now = time.monotonic()
            for job in jobs:
                key = self.key(local_key, job.target, component)
                self.pending.append(_Pending(job, outcome, component, key, now))

    def poll_once(self) -> None:
        """Ask about every pending job once; record (and cache) the ones that ended."""
        with self.lock:
            pending = list(self.pending)
        for item in pending:
            record = self._poll(item)
            if record is None:
                continue
            model_id = item.outcome.folder.model_id
            with self.lock:
                self.pending.remove(item)
                item.outcome.records.append(record)
                last = not any(p.outcome is item.outcome for p in self.pending)
            if record.status in (OK, FAIL) and "could not get" not in record.message:
                self.cache.put(item.key, cache_entry([record]))
            self.report(model_id, record)
            if last:
                self.progress.model_finished(model_id, cached=False)

    def _poll(self, item: _Pending) -> StageRecord | None:
        """The job's verdict once it has one; None while it runs."""
        job = item.job
        try:
            status = self.hub.poll(job)
            item.state = status.state
            if status.finished:
                final = self.hub.result(job)
                if final.success:
                    return StageRecord(
                        "compile", OK, "", item.component, target=job.target, url=job.url
                    )
                reason = final.message or f"the job ended {final.state}"
                return StageRecord(
                    "compile",
                    FAIL,
                    f"compile job failed: {reason} ({job.url})",
                    item.component,
                    target=job.target,
                    url=job.url,
                )
        except HubRateLimited:
            pass  # ask again at the next poll
        except HubError as exc:
            return StageRecord(
                "compile",
                FAIL,
                f"could not get the job's status: {exc} ({job.url})",
                item.component,
                target=job.target,
                url=job.url,
            )
        if time.monotonic() - item.submitted > self.options.compile_timeout:
            return StageRecord(
                "compile",
                TIMEOUT,
                f"compile job still {item.state} after {self.options.compile_timeout:g} s "
                f"({job.url}); it may still finish there.",
                item.component,
                target=job.target,
                url=job.url,
            )
        return None


def compile_skips(records: Sequence[StageRecord], compiled: set[str | None]) -> list[StageRecord]:
    """Compile-stage verdicts for the components that had nothing to submit (for junit)."""
    skips = []
    for record in records:
        if record.stage != "forward" or record.component in compiled:
            continue
        why = (
            "precompiled: nothing to compile"
            if record.status == SKIP
            else "not compiled: an earlier stage failed"
        )
        skips.append(StageRecord("compile", SKIP, why, record.component))
    return skips


def traced_components(records: Sequence[StageRecord]) -> list[str | None]:
    return [r.component for r in records if r.stage == "trace" and r.status == OK]
