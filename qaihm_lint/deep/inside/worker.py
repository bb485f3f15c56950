"""The deep-mode worker: runs the runtime stages of one model in a process of its own.

The fork server (``forkserver.py``) forks a child per model and calls ``serve`` in it;
``python -m qaihm_lint.deep.inside.worker REQUEST.json EVENTS_FD`` does the same in a fresh
interpreter. The worker side (this module, ``worker_stages``, ``worker_explain``,
``worker_tensors`` and the shared ``records``) imports only the standard library, torch, onnx,
onnxruntime and the checked ``qai_hub_models`` package, and its own modules by relative
imports, because it may run under another interpreter (``--python``) that has no qaihm-lint
installed: the fork server loads this folder there as a package of a private name. The parent
(``runner.py``) owns everything else.

Every stage writes a ``start`` event and then its record, one JSON object per line, to the
events pipe. The parent enforces the per-stage timeout from those events, so a stage that hangs or
crashes the interpreter is still attributed to the right stage. The model's own output goes to
stdout/stderr, which the parent keeps in a log file: the events pipe carries nothing else.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .records import (
    FAIL,
    OK,
    SKIP,
    Event,
    StageRecord,
    StageStarted,
    TracedModel,
    WorkerDone,
    WorkerFatal,
    encode_line,
)
from .worker_explain import cause_of, one_line
from .worker_stages import ModelStages, StageFailed
from .worker_tensors import TRACE_SEED


class Emitter:
    """Writes events to the events pipe, one whole line per write (the parent reads lines)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, event: Event) -> None:
        view = memoryview(encode_line(event))
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class Worker(ModelStages):
    def __init__(self, request: Mapping[str, Any], emitter: Emitter) -> None:
        self.emit = emitter
        self.repo_root = Path(request["repo_root"])
        self.model_id = request["model_id"]
        self.manifest = request["layout"] == "manifest"
        self.groups = frozenset(request["stages"])
        self.workdir = Path(request["workdir"])
        self.want_artifacts = bool(request.get("artifacts", False))
        self.memory_limit_mb = request.get("memory_limit_mb")

    @contextlib.contextmanager
    def stage(self, name: str, component: str | None = None) -> Iterator[list[str]]:
        """Run one stage: report start, then ok or its failure.

        Yields a list for remarks that the verdict carries even when the stage passes (an input
        the exporter dropped, say). Raises StageFailed again after reporting it, so the caller
        skips the stages that depend on this one.
        """
        self.emit.send(StageStarted(name, component))
        started = time.monotonic()
        remarks: list[str] = []

        def verdict(status: str, message: str, **more: Any) -> StageRecord:
            seconds = round(time.monotonic() - started, 3)
            return StageRecord(name, status, message, component, seconds, **more)

        try:
            # Warnings are the model's business (and torch's deprecations): kept out of the log.
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                yield remarks
        except StageFailed as failed:
            where = self.frame_of(failed.__cause__)
            self.emit.send(verdict(FAIL, str(failed), outcome=failed.outcome, where=where))
            raise
        except Exception as exc:
            failure = StageFailed(self.describe(name, exc))
            where = self.frame_of(exc)
            self.emit.send(verdict(FAIL, str(failure), cause=cause_of(exc), where=where))
            raise failure from exc
        self.emit.send(verdict(OK, " ".join(remarks)))

    def skip(self, name: str, component: str | None, why: str) -> None:
        self.emit.send(StageRecord(name, SKIP, why, component))

    def run(self) -> None:
        try:
            with self.stage("import"):
                model_cls = self.import_model()
            with self.stage("from_pretrained"):
                instance = self.load(model_cls)
        except StageFailed:
            return
        components = list(self.components(instance))
        if not components:
            with contextlib.suppress(StageFailed), self.stage("input_spec"):
                raise StageFailed(
                    f"{type(instance).__name__} is neither a torch.nn.Module nor a collection "
                    "with components: nothing to run."
                )
        for name, component in components:
            self.run_component(name, component)

    def run_component(self, name: str | None, component: Any) -> None:
        import torch  # worker side: present once serve() has imported it

        if not isinstance(component, torch.nn.Module):
            # Precompiled: there is no PyTorch graph to run, trace or export.
            with contextlib.suppress(StageFailed), self.stage("input_spec", name):
                self.input_spec(component)
            for stage in ("forward", "trace", "onnx"):
                self.skip(stage, name, "precompiled: no PyTorch source")
            return
        try:
            with self.stage("input_spec", name):
                spec = self.input_spec(component)
                inputs = self.make_inputs(spec, TRACE_SEED)
            with self.stage("forward", name):
                eager, output_names = self.forward(component, inputs)
        except StageFailed:
            return
        traced: TracedModel | None = None
        if "trace" in self.groups:
            with contextlib.suppress(StageFailed), self.stage("trace", name):
                traced = self.trace(component, name, spec, inputs, eager, output_names)
        if "onnx" in self.groups:
            with contextlib.suppress(StageFailed), self.stage("onnx", name) as remarks:
                remarks.extend(self.onnx(component, name, spec, inputs, eager, output_names))
        if traced is not None:
            self.emit.send(traced)


def _limit_memory(memory_limit_mb: int | None) -> None:
    """Cap the address space at what the process maps now (torch imported) plus the limit.

    A CUDA build of torch maps over 3 GB of address space on import without using it; a cap
    counted from zero would leave such a worker unable to start a thread.
    """
    if not memory_limit_mb:
        return
    try:
        import resource  # POSIX only: absent on Windows

        limit = _mapped_bytes() + memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # not enforceable here (e.g. macOS): the timeout still bounds the model


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _prepare_environment(repo_root: Path) -> None:
    # This folder may be on sys.path (``python -m`` from it, an old launcher); the checked tree
    # must win over any installed qai_hub_models, and no module of ours may shadow the model's.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [entry for entry in sys.path if entry and Path(entry).resolve() != Path(here)]
    sys.path.insert(0, str(repo_root))
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def serve(request: Mapping[str, Any], events_fd: int) -> int:
    """Run ``request`` in this process, reporting on ``events_fd``; the exit status.

    Called by ``main`` (a fresh interpreter) and by the fork server (a forked child that has
    torch imported already).
    """
    # Processes the model starts with exec (subprocess, spawn) must not hold the events pipe:
    # the parent reads it until the worker ends.
    os.set_inheritable(events_fd, False)
    emitter = Emitter(events_fd)
    # A segfault in native code then leaves a Python stack in the log, which the parent quotes.
    faulthandler.enable(all_threads=False)
    repo_root = Path(request["repo_root"]).resolve()
    _prepare_environment(repo_root)
    worker = Worker({**request, "repo_root": str(repo_root)}, emitter)
    try:
        import torch  # the first import of the model's torch: failing here is the fatal event

        threads = request.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
    except Exception as exc:
        emitter.send(WorkerFatal(f"cannot import torch: {one_line(exc)}"))
        return 3
    _limit_memory(request.get("memory_limit_mb"))
    worker.run()
    emitter.send(WorkerDone())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: worker.py REQUEST.json EVENTS_FD", file=sys.stderr)
        return 2
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    return serve(request, int(args[1]))


if __name__ == "__main__":
    sys.exit(main())
