"""The deep-mode worker: runs the runtime stages of one model in a process of its own.

Run as ``python path/to/worker.py REQUEST.json EVENTS_FD`` (or ``python -m
qaihm_lint.deep.worker ...``). It imports only the standard library, torch, onnx, onnxruntime and
the checked ``qai_hub_models`` package, because it may run under another interpreter (``--python``)
that has no qaihm-lint installed; the parent (``runner.py``) owns everything else.

Every stage writes a ``start`` event and then a result event, one JSON object per line, to the
events pipe. The parent enforces the per-stage timeout from those events, so a stage that hangs or
crashes the interpreter is still attributed to the right stage. The model's own output goes to
stdout/stderr, which the parent keeps in a log file: the events pipe carries nothing else.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import json
import os
import re
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# The upstream trace test (utils/testing.assert_most_close): at most 0.5 % of the elements may
# fail |a - b| <= atol + rtol * |b|.
ATOL = 1e-4
RTOL = 0.0
MAX_MISMATCH_FRACTION = 0.005
TRACE_SEED = 42  # what make_torch_inputs uses by default, so the trace sees upstream's inputs
FRESH_SEED = 2024  # a second, independent input set

# Types AI Hub accepts in input specs.
HUB_DTYPES = frozenset(
    {"float32", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool"}
)

_URL = re.compile(r"https?://[^\s'\"<>)\]]+")
_NETWORK_NAMES = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "URLError",
    "HTTPError",
    "gaierror",
    "MaxRetryError",
    "NewConnectionError",
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
    "socket.timeout",
)
_NETWORK_WORDS = (
    "name resolution",
    "network is unreachable",
    "connection refused",
    "failed to establish a new connection",
    "max retries exceeded",
    "nodename nor servname",
    "temporary failure",
    "could not resolve host",
    "urlopen error",
)


class StageFailed(Exception):
    """A stage's verdict: the model failed it; ``str(self)`` says what and what to do."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details
        # Set when the stage failed for a reason with its own code (trace divergence).
        self.code: str | None = details.pop("code", None)


class Emitter:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, **event: Any) -> None:
        data = (json.dumps(event, default=str) + "\n").encode()
        # One write per event; the parent reads whole lines.
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class Worker:
    def __init__(self, request: Mapping[str, Any], emitter: Emitter) -> None:
        self.request = request
        self.emit = emitter
        self.repo_root = Path(request["repo_root"])
        self.model_id: str = request["model_id"]
        self.manifest = request["layout"] == "manifest"
        self.groups = frozenset(request["stages"])
        self.workdir = Path(request["workdir"])
        self.want_artifacts: bool = request.get("artifacts", False)
        self.memory_limit_mb: int | None = request.get("memory_limit_mb")

    # ----------------------------------------------------------------- stage plumbing

    @contextlib.contextmanager
    def stage(self, name: str, component: str | None = None) -> Iterator[list[str]]:
        """Run one stage: report start, then ok or its failure.

        Yields a list for remarks that the verdict carries even when the stage passes (an input
        the exporter dropped, say). Raises StageFailed again after reporting it, so the caller
        skips the stages that depend on this one.
        """
        self.emit.send(event="start", stage=name, component=component)
        started = time.monotonic()
        remarks: list[str] = []
        try:
            # Warnings are the model's business (and torch's deprecations): kept out of the log.
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                yield remarks
        except StageFailed as verdict:
            self.emit.send(
                event="result",
                stage=name,
                component=component,
                status="fail",
                code=verdict.code,
                message=str(verdict),
                details=verdict.details,
                seconds=round(time.monotonic() - started, 3),
            )
            raise
        except Exception as exc:
            failure = StageFailed(self.describe(name, exc))
            self.emit.send(
                event="result",
                stage=name,
                component=component,
                status="fail",
                code=None,
                message=str(failure),
                details={},
                seconds=round(time.monotonic() - started, 3),
                cause=_cause(exc),
            )
            raise failure from exc
        self.emit.send(
            event="result",
            stage=name,
            component=component,
            status="ok",
            message=" ".join(remarks),
            seconds=round(time.monotonic() - started, 3),
        )

    def skip(self, name: str, component: str | None, why: str) -> None:
        self.emit.send(event="result", stage=name, component=component, status="skip", message=why)

    def describe(self, stage: str, exc: BaseException) -> str:
        """One paragraph: what the model raised, where, and what to do about it."""
        where = self.location(exc)
        raised = _one_line(exc)
        if isinstance(exc, SyntaxError) and exc.filename:
            # The error is in the file being compiled, which no traceback frame shows.
            where = f"{self.relative(exc.filename) or exc.filename}:{exc.lineno}:{exc.offset}"
            raised = f"{type(exc).__name__}: {exc.msg}"
        text = f"{raised}{f' (at {where})' if where else ''}"
        if "Tracer cannot infer type" in str(exc):
            return (
                f"{text}. torch.jit.trace takes tensors and tuples of tensors only: make "
                "forward() return a flat tuple of tensors, one per get_output_names() entry."
            )
        if _is_cuda_error(exc):
            return (
                f"{text}. The model needs a GPU, but deep workers run with CUDA hidden "
                '(CUDA_VISIBLE_DEVICES=""): models must run on CPU. Pick the device with '
                '`"cuda" if torch.cuda.is_available() else "cpu"` instead of .cuda()/"cuda".'
            )
        if _is_memory_error(exc):
            limit = f" of {self.memory_limit_mb} MiB" if self.memory_limit_mb else ""
            return (
                f"{text}. The worker ran out of memory (address-space limit{limit}): the model "
                "allocates more than a CPU export can afford, or without bound."
            )
        network = _network_url(exc)
        if network is not None:
            url = f" {network}" if network else ""
            return (
                f"{text}. This is a network error: fetching{url} failed. Deep mode downloads "
                "nothing itself; run it where the model's assets are reachable or already cached."
            )
        if isinstance(exc, EOFError):
            return (
                f"{text}. The model waited for an answer on stdin, which deep workers do not "
                "have: it asked a question (typically whether to download or clone something). "
                "Loading must work non-interactively."
            )
        if _is_missing_library(exc):
            return (
                f"{text}. A system library is missing from this machine, not from the model: "
                "install it with the system's package manager (upstream's CI installs "
                "libportaudio2, ffmpeg, libegl-dev, cmake and mecab)."
            )
        if isinstance(exc, FileNotFoundError):
            missing = exc.filename or ""
            return f"{text}. A model asset is missing{f': {missing}' if missing else ''}."
        if isinstance(exc, ModuleNotFoundError) and stage == "import":
            return f"{text}. {self.missing_module_hint(exc, where)}"
        return text

    def missing_module_hint(self, exc: ModuleNotFoundError, where: str) -> str:
        folder = f"qai_hub_models/models/{self.model_id}/"
        requirements = self.repo_root / folder / "requirements.txt"
        model_hint = f"pip install -r {requirements}" if requirements.is_file() else ""
        if where.startswith("qai_hub_models/models/") and not where.startswith(folder):
            # Shared model code (models/_shared/, another model's folder) has no requirements
            # of its own: each model folder that uses it lists what it imports.
            importer = where.rsplit(":", 1)[0]
            then = f", then {model_hint}" if model_hint else ""
            return (
                f"{exc.name!r} is imported by {importer}, shared code that this model uses: "
                f"list it in {folder}requirements.txt{then}."
            )
        if where and not where.startswith(folder):
            # Raised by the package's own code: the model's requirements will not help alone.
            also = f", then {model_hint}" if model_hint else ""
            return (
                f"{exc.name!r} is needed by qai_hub_models itself, not only this model: install "
                f"the package's own dependencies into this interpreter ({self.package_hint()}, "
                f"or --python an environment that has them){also}."
            )
        hint = model_hint or f"install the package that provides {exc.name!r}"
        return f"A dependency of the model is missing from this environment: {hint}."

    def package_hint(self) -> str:
        # Only a source checkout installs with -e; an unpacked wheel has just its requirements.
        if any((self.repo_root / name).is_file() for name in ("pyproject.toml", "setup.py")):
            return f"pip install -e {self.repo_root}"
        requirements = self.repo_root / "qai_hub_models" / "requirements.txt"
        if requirements.is_file():
            return f"pip install -r {requirements}"
        return "pip install the qai-hub-models release this tree comes from"

    def relative(self, filename: str) -> str:
        """``filename`` relative to the checked tree's root, or '' when outside it."""
        try:
            return Path(filename).resolve().relative_to(self.repo_root).as_posix()
        except (ValueError, OSError):
            return ""

    def location(self, exc: BaseException) -> str:
        """The innermost traceback frame inside the checked tree, relative to its root."""
        found = ""
        for frame in traceback.extract_tb(exc.__traceback__):
            relative = self.relative(frame.filename)
            if relative:
                found = f"{relative}:{frame.lineno}"
        return found

    # ----------------------------------------------------------------- the stages

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

    def import_model(self) -> Any:
        module_name = f"qai_hub_models.models.{self.model_id}"
        module = importlib.import_module(module_name)
        package = sys.modules["qai_hub_models"]
        package_file = Path(getattr(package, "__file__", "") or "").resolve()
        if self.repo_root not in package_file.parents:
            raise StageFailed(
                f"qai_hub_models was imported from {package_file.parent}, not from the tree "
                f"being checked ({self.repo_root}); remove the other copy from the import path."
            )
        model_cls = getattr(module, "Model", None)
        if model_cls is None:
            raise StageFailed(
                f"{module_name} imports but does not export `Model`: add "
                "`from .model import <YourModel> as Model` to its __init__.py."
            )
        return model_cls

    def load(self, model_cls: Any) -> Any:
        name = getattr(model_cls, "__name__", "Model")
        for method in ("from_pretrained", "from_precompiled"):
            factory = getattr(model_cls, method, None)
            if factory is None:
                continue
            try:
                return factory()
            except TypeError as exc:
                if _is_missing_argument(exc):
                    raise StageFailed(
                        f"{name}.{method}() cannot be called without arguments ({exc}): give "
                        "every parameter a default so export, tests and demos can load the "
                        "model as is."
                    ) from exc
                raise
        raise StageFailed(f"{name} has neither from_pretrained() nor from_precompiled().")

    def components(self, instance: Any) -> Iterator[tuple[str | None, Any]]:
        import torch

        if isinstance(instance, torch.nn.Module):
            yield None, instance
            return
        components = getattr(instance, "components", None)
        if isinstance(components, Mapping):
            for key, value in components.items():
                yield str(key), value
        elif hasattr(instance, "get_input_spec"):
            # A precompiled model on its own: only the input spec applies.
            yield None, instance

    def run_component(self, name: str | None, component: Any) -> None:
        import torch

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
        artifact: dict[str, Any] | None = None
        if "trace" in self.groups:
            try:
                with self.stage("trace", name):
                    artifact = self.trace(component, name, spec, inputs, eager)
            except StageFailed:
                artifact = None
        if "onnx" in self.groups:
            with contextlib.suppress(StageFailed), self.stage("onnx", name) as remarks:
                remarks.extend(self.onnx(component, name, spec, inputs, eager, output_names))
        if artifact is not None:
            artifact["component"] = name
            self.emit.send(event="artifact", **artifact)

    def input_spec(self, component: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        getter = getattr(component, "get_input_spec", None)
        if getter is None:
            raise StageFailed(f"{type(component).__name__} has no get_input_spec().")
        try:
            raw = getter()
        except TypeError as exc:
            if _is_missing_argument(exc):
                raise StageFailed(
                    f"get_input_spec() cannot be called without arguments ({exc}): give its "
                    "parameters defaults that describe the exported shapes."
                ) from exc
            raise
        if not isinstance(raw, Mapping) or not raw:
            raise StageFailed(
                f"get_input_spec() returned {type(raw).__name__} {_short(raw)}; expected a "
                "non-empty dict {input_name: (shape, dtype)}."
            )
        spec: dict[str, tuple[tuple[int, ...], str]] = {}
        for key, entry in raw.items():
            shape, dtype = _shape_and_dtype(entry)
            where = f"get_input_spec()[{key!r}]"
            if not isinstance(key, str) or not key:
                raise StageFailed(f"input name {key!r} is not a non-empty string.")
            if shape is None or dtype is None:
                raise StageFailed(f"{where} is {_short(entry)}; expected (shape, dtype).")
            if not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape):
                raise StageFailed(f"{where} shape {shape!r} is not a tuple of ints.")
            if any(dim < 1 for dim in shape):
                raise StageFailed(f"{where} shape {shape!r} has a dimension below 1.")
            if dtype not in HUB_DTYPES:
                raise StageFailed(
                    f"{where} dtype {dtype!r} is not one AI Hub accepts "
                    f"({', '.join(sorted(HUB_DTYPES))})."
                )
            spec[key] = (tuple(shape), dtype)
        return spec

    def make_inputs(self, spec: Mapping[str, tuple[tuple[int, ...], str]], seed: int) -> list[Any]:
        """Random inputs for ``spec``: the package's own make_torch_inputs when it imports."""
        maker = None
        try:
            module = importlib.import_module("qai_hub_models.utils.input_spec")
            maker = getattr(module, "make_torch_inputs", None)
        except Exception:
            maker = None
        if maker is not None:
            try:
                tensors = list(maker(dict(spec), seed=seed))
            except (KeyError, TypeError):
                # Older or narrower helpers (e.g. no float16 in its dtype table): ours covers
                # every type AI Hub accepts.
                tensors = _make_inputs(spec, seed)
        else:
            tensors = _make_inputs(spec, seed)
        if len(tensors) != len(spec):
            raise StageFailed(
                f"make_torch_inputs() made {len(tensors)} tensors for {len(spec)} inputs."
            )
        return tensors

    def forward(self, component: Any, inputs: Sequence[Any]) -> tuple[list[Any], list[str]]:
        import torch

        with torch.no_grad():
            output = component(*inputs)
        flat = _flatten(output)
        if not flat:
            raise StageFailed(
                f"the forward pass returned {type(output).__name__}, which holds no tensor."
            )
        getter = getattr(component, "get_output_names", None)
        if getter is None:
            raise StageFailed(f"{type(component).__name__} has no get_output_names().")
        names = list(getter())
        if len(flat) != len(names):
            raise StageFailed(
                f"the eager forward pass returns {len(flat)} tensor(s) "
                f"({_shapes(flat)}) but get_output_names() names {len(names)} "
                f"({', '.join(map(str, names)) or 'none'}): make them agree, one name per "
                "flattened output, in order.",
                outputs=len(flat),
                names=len(names),
            )
        return flat, [str(name) for name in names]

    def trace(
        self,
        component: Any,
        component_name: str | None,
        spec: Mapping[str, tuple[tuple[int, ...], str]],
        inputs: Sequence[Any],
        eager: Sequence[Any],
    ) -> dict[str, Any] | None:
        import torch

        method = "torch.export" if self.manifest else "torch.jit.trace"
        try:
            with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if self.manifest:
                    exported = torch.export.export(component, tuple(inputs))
                    traced = exported.module()
                else:
                    exported = torch.jit.trace(component, tuple(inputs), check_trace=False)
                    traced = exported
        except Exception as exc:
            raise StageFailed(f"{method} failed: {self.describe('trace', exc)}") from exc
        # The tracer's own warnings name the line that made the trace input-specific.
        tracer_notes = []
        for item in caught:
            if item.category.__name__ == "TracerWarning":
                text = "TracerWarning: " + str(item.message).splitlines()[0]
                where = self.relative(item.filename)
                tracer_notes.append(f"{text} (at {where}:{item.lineno})" if where else text)
        fresh = self.make_inputs(spec, FRESH_SEED)
        with torch.no_grad():
            fresh_eager = _flatten(component(*fresh))
        for label, args, expected in (
            ("the trace inputs", inputs, eager),
            (f"a fresh input set (seed {FRESH_SEED})", fresh, fresh_eager),
        ):
            with torch.no_grad():
                got = _flatten(traced(*args))
            verdict = _compare(expected, got)
            if verdict is not None and args is inputs:
                random = self.nondeterminism(component, inputs, eager)
                if random:
                    # Not the trace's fault: no graph can match a model that varies by itself.
                    raise StageFailed(random, code="QAI806")
            if verdict is not None:
                hint = ""
                if "fresh" in label:
                    hint = (
                        " The traced graph baked in data-dependent control flow (Python `if`/"
                        "loops on tensor values): rewrite it with tensor ops (torch.where) so "
                        "the graph is the same for every input."
                    )
                if tracer_notes:
                    hint += f" The tracer warned: {tracer_notes[0]}"
                raise StageFailed(
                    f"{method} output differs from eager on {label}: {verdict}.{hint}",
                    code="QAI806",
                )
        if not self.want_artifacts:
            return None
        self.workdir.mkdir(parents=True, exist_ok=True)
        stem = self.workdir / (component_name or "model")
        if self.manifest:
            path = stem.with_suffix(".pt2")
            torch.export.save(exported, str(path))
        else:
            path = stem.with_suffix(".pt")
            torch.jit.save(exported, str(path))
        return {"path": str(path), "input_specs": {k: [list(v[0]), v[1]] for k, v in spec.items()}}

    def nondeterminism(self, component: Any, inputs: Sequence[Any], eager: Sequence[Any]) -> str:
        """Why the model is non-deterministic, when a second eager pass on the same inputs
        differs from the first; '' when it is deterministic."""
        import torch

        with torch.no_grad():
            again = _flatten(component(*inputs))
        difference = _compare(eager, again)
        if difference is None:
            return ""
        training = [
            f"{name}: {type(module).__name__}"
            for name, module in component.named_modules()
            if name and module.training
        ]
        if training:
            listed = ", ".join(training[:5]) + (", ..." if len(training) > 5 else "")
            cause = (
                f"{len(training)} submodule(s) are in training mode ({listed}), so dropout and "
                "the like stay random: call .eval() on the model in from_pretrained() (layers "
                "created after the base class called .eval() are still in training mode)"
            )
        else:
            cause = (
                "nothing is in training mode, so forward() draws random numbers itself "
                "(torch.randn, torch.rand, torch.bernoulli, ...): take the noise as an input or "
                "draw it once in __init__"
            )
        return (
            "the model is non-deterministic: two eager forward passes on the same inputs "
            f"differ ({difference}); {cause}."
        )

    def onnx(
        self,
        component: Any,
        name: str | None,
        spec: Mapping[str, tuple[tuple[int, ...], str]],
        inputs: Sequence[Any],
        eager: Sequence[Any],
        output_names: Sequence[str],
    ) -> list[str]:
        """Export, check and run the ONNX model against eager; remarks for a passing stage."""
        import numpy
        import onnx
        import onnxruntime
        import torch

        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{name or 'model'}.onnx"
        try:
            with torch.no_grad():
                torch.onnx.export(
                    component,
                    tuple(inputs),
                    str(path),
                    dynamo=False,
                    input_names=list(spec),
                    output_names=list(output_names),
                )
        except Exception as exc:
            raise StageFailed(
                f"torch.onnx.export(dynamo=False) failed: {self.describe('onnx', exc)}"
            ) from exc
        try:
            # By path, so models over 2 GB (external data) are checked too.
            onnx.checker.check_model(str(path))
        except Exception as exc:
            raise StageFailed(
                f"onnx.checker rejected the exported model: {_one_line(exc)}"
            ) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            graph_inputs = [arg.name for arg in session.get_inputs()]
        except Exception as exc:
            raise StageFailed(
                f"onnxruntime could not load the exported model: {_one_line(exc)}"
            ) from exc
        # By name, never by position: the exporter drops inputs that forward() ignores.
        by_name = dict(zip(spec, inputs, strict=True))
        unknown = [name for name in graph_inputs if name not in by_name]
        if unknown:
            raise StageFailed(
                f"the exported graph has input(s) {', '.join(map(repr, unknown))} that "
                f"get_input_spec() does not name ({', '.join(map(repr, spec))})."
            )
        dropped = [name for name in spec if name not in graph_inputs]
        try:
            results = session.run(None, {name: by_name[name].numpy() for name in graph_inputs})
        except Exception as exc:
            raise StageFailed(
                f"onnxruntime could not run the exported model: {_one_line(exc)}"
            ) from exc
        got = [torch.from_numpy(numpy.asarray(result)) for result in results]
        verdict = _compare(eager, got)
        if verdict is not None:
            random = self.nondeterminism(component, inputs, eager)
            raise StageFailed(
                f"onnxruntime output differs from eager: {verdict}."
                + (f" {random[0].upper()}{random[1:]}" if random else "")
            )
        if not dropped:
            return []
        return [
            f"input(s) {', '.join(map(repr, dropped))} of get_input_spec() are not used by "
            "forward(): the ONNX exporter dropped them, so the exported model has "
            f"{len(graph_inputs)} input(s) instead of {len(spec)}. Remove them from the spec, "
            "or use them."
        ]


# --------------------------------------------------------------------- helpers


def _one_line(exc: BaseException) -> str:
    """The exception as one line: its cause first, tensor values left out."""
    text, collapsed = _without_tensor_values(str(exc).strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if collapsed and len(lines) > 1:
        # torch prints the offending value first and the reason after it, on a line of its
        # own (often starting with ":"): the reason leads, the value follows in brackets.
        reason = " ".join(lines[1:]).lstrip(": ")
        first = f"{reason} ({lines[0]})"
    else:
        first = lines[0] if lines else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _without_tensor_values(text: str) -> tuple[str, bool]:
    """``text`` with every ``tensor(...)`` repr shortened to ``tensor(...)``; whether any was."""
    out: list[str] = []
    position = 0
    collapsed = False
    while True:
        start = text.find("tensor(", position)
        if start < 0:
            out.append(text[position:])
            break
        depth = 0
        end = start + len("tensor")
        while end < len(text):
            if text[end] in "([{":
                depth += 1
            elif text[end] in ")]}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        out.append(text[position:start] + "tensor(...)")
        collapsed = True
        position = end + 1
    return "".join(out), collapsed


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _cause(exc: BaseException) -> str | None:
    """Whether a failure says more about the environment or the moment than about the model's
    code (the parent never caches those): a missing module, the network, the memory cap."""
    if _is_memory_error(exc):
        return "memory"
    if _network_url(exc) is not None:
        return "network"
    if any(isinstance(item, ModuleNotFoundError) for item in _chain(exc)):
        return "missing-module"
    if _is_missing_library(exc):
        return "environment"
    return None


def _is_missing_library(exc: BaseException) -> bool:
    """A native library the machine lacks (sounddevice without PortAudio, cv2 without libGL)."""
    for item in _chain(exc):
        text = str(item)
        if isinstance(item, OSError | ImportError) and (
            "library not found" in text
            or "cannot open shared object file" in text
            or "Library not loaded" in text
        ):
            return True
    return False


def _is_missing_argument(exc: TypeError) -> bool:
    text = str(exc)
    return "required positional argument" in text or "required keyword-only argument" in text


def _is_cuda_error(exc: BaseException) -> bool:
    for item in _chain(exc):
        text = str(item)
        if "CUDA" in text or "NVIDIA driver" in text or "compiled with CUDA" in text:
            return True
    return False


def _is_memory_error(exc: BaseException) -> bool:
    for item in _chain(exc):
        if isinstance(item, MemoryError):
            return True
        text = str(item)
        if "can't allocate memory" in text or "DefaultCPUAllocator" in text or "bad_alloc" in text:
            return True
    return False


def _network_url(exc: BaseException) -> str | None:
    """The URL a network failure was fetching ('' when unknown); None: not a network error."""
    is_network = False
    url = ""
    for item in _chain(exc):
        name = type(item).__name__
        text = str(item)
        if (
            name in _NETWORK_NAMES
            or isinstance(item, (ConnectionError, TimeoutError))
            or any(word in text.lower() for word in _NETWORK_WORDS)
        ):
            is_network = True
        candidate = getattr(item, "url", None) or getattr(
            getattr(item, "request", None), "url", None
        )
        if not url and isinstance(candidate, str) and candidate.startswith("http"):
            url = candidate
        if not url:
            match = _URL.search(text)
            if match:
                url = match.group(0).rstrip(".,;:")
    return url if is_network else None


def _shape_and_dtype(entry: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    shape = getattr(entry, "shape", None)
    dtype = getattr(entry, "dtype", None)
    if shape is None and isinstance(entry, (tuple, list)) and len(entry) == 2:
        shape, dtype = entry
    if not isinstance(shape, (tuple, list)):
        return None, None
    return tuple(shape), dtype if isinstance(dtype, str) else None


def _make_inputs(spec: Mapping[str, tuple[tuple[int, ...], str]], seed: int) -> list[Any]:
    import torch

    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    tensors = []
    for shape, dtype in spec.values():
        torch_dtype = getattr(torch, dtype)
        if dtype == "bool":
            tensors.append(torch.randint(0, 2, shape, generator=generator).to(torch.bool))
        elif dtype.startswith(("int", "uint")):
            # Like upstream: small non-negative ints are valid indices and ids for most models.
            tensors.append(torch.randint(2, shape, generator=generator).to(torch_dtype))
        else:
            tensors.append(torch.rand(shape, generator=generator).to(torch_dtype))
    return tensors


def _flatten(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [tensor for item in value.values() for tensor in _flatten(item)]
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in _flatten(item)]
    return []


def _shapes(tensors: Sequence[Any]) -> str:
    return ", ".join(str(tuple(tensor.shape)) for tensor in tensors)


def _compare(expected: Sequence[Any], got: Sequence[Any]) -> str | None:
    """None when ``got`` matches ``expected`` within the trace-test tolerance, else why not."""
    import torch

    if len(expected) != len(got):
        return f"{len(got)} outputs instead of {len(expected)}"
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if tuple(want.shape) != tuple(have.shape):
            return f"output {index} has shape {tuple(have.shape)} instead of {tuple(want.shape)}"
        if want.numel() == 0:
            continue
        a = want.detach().to(torch.float64)
        b = have.detach().to(torch.float64)
        not_close = ~torch.isclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True)
        fraction = float(not_close.to(torch.float64).mean())
        if fraction > MAX_MISMATCH_FRACTION:
            finite = torch.isfinite(a) & torch.isfinite(b)
            diff = (a - b).abs()[finite]
            max_diff = float(diff.max()) if diff.numel() else float("nan")
            return (
                f"output {index}: max abs diff {max_diff:.3g}, {fraction:.1%} of elements "
                f"beyond atol {ATOL:g} (at most {MAX_MISMATCH_FRACTION:.1%} allowed)"
            )
    return None


def _prepare_environment(repo_root: Path, memory_limit_mb: int | None) -> None:
    if memory_limit_mb:
        try:
            import resource

            limit = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass  # not enforceable here (e.g. macOS): the timeout still bounds the model
    # Running as a script put this file's folder first on sys.path; the checked tree must win
    # over any installed qai_hub_models.
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
    request = {**request, "repo_root": str(repo_root)}
    _prepare_environment(repo_root, request.get("memory_limit_mb"))
    emitter.send(event="hello", pid=os.getpid(), python=sys.version.split()[0])
    worker = Worker(request, emitter)
    worker.repo_root = repo_root
    try:
        import torch

        threads = request.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
    except Exception as exc:
        emitter.send(event="fatal", message=f"cannot import torch: {_one_line(exc)}")
        return 3
    worker.run()
    emitter.send(event="done")
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
