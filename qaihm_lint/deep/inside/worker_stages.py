"""The stages a worker runs on one model, from ``import`` to the ONNX comparison.

Worker side: standard library only at import time; torch, onnx and onnxruntime are imported
inside the stages, once the worker knows it has them (the fork server preloads torch; a
missing torch is the worker's fatal event, not an ImportError of this module).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .records import DIVERGENCE, TracedModel
from .worker_explain import Explainer, is_missing_argument, one_line, short_repr
from .worker_tensors import (
    FRESH_SEED,
    HUB_DTYPES,
    InputSpec,
    compare,
    flatten,
    random_inputs,
    shape_and_dtype,
    shapes,
)


class StageFailed(Exception):
    """A stage's verdict: the model failed it; ``str(self)`` says what and what to do.

    ``outcome`` narrows the failure when it has a rule of its own (records.DIVERGENCE).
    """

    def __init__(self, message: str, outcome: str | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class ModelStages(Explainer):
    """The body of each stage; ``worker.Worker`` runs them in order and reports each."""

    manifest: bool
    workdir: Path
    want_artifacts: bool

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
                if is_missing_argument(exc):
                    raise StageFailed(
                        f"{name}.{method}() cannot be called without arguments ({exc}): give "
                        "every parameter a default so export, tests and demos can load the "
                        "model as is."
                    ) from exc
                raise
        raise StageFailed(f"{name} has neither from_pretrained() nor from_precompiled().")

    def components(self, instance: Any) -> Iterator[tuple[str | None, Any]]:
        import torch  # worker side: torch only at run time (module docstring)

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

    def input_spec(self, component: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        getter = getattr(component, "get_input_spec", None)
        if getter is None:
            raise StageFailed(f"{type(component).__name__} has no get_input_spec().")
        try:
            raw = getter()
        except TypeError as exc:
            if is_missing_argument(exc):
                raise StageFailed(
                    f"get_input_spec() cannot be called without arguments ({exc}): give its "
                    "parameters defaults that describe the exported shapes."
                ) from exc
            raise
        if not isinstance(raw, Mapping) or not raw:
            raise StageFailed(
                f"get_input_spec() returned {type(raw).__name__} {short_repr(raw)}; expected a "
                "non-empty dict {input_name: (shape, dtype)}."
            )
        spec: dict[str, tuple[tuple[int, ...], str]] = {}
        for key, entry in raw.items():
            shape, dtype = shape_and_dtype(entry)
            where = f"get_input_spec()[{key!r}]"
            if not isinstance(key, str) or not key:
                raise StageFailed(f"input name {key!r} is not a non-empty string.")
            if shape is None or dtype is None:
                raise StageFailed(f"{where} is {short_repr(entry)}; expected (shape, dtype).")
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

    def make_inputs(self, spec: InputSpec, seed: int) -> list[Any]:
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
                tensors = random_inputs(spec, seed)
        else:
            tensors = random_inputs(spec, seed)
        if len(tensors) != len(spec):
            raise StageFailed(
                f"make_torch_inputs() made {len(tensors)} tensors for {len(spec)} inputs."
            )
        return tensors

    def forward(self, component: Any, inputs: Sequence[Any]) -> tuple[list[Any], list[str]]:
        import torch  # worker side: torch only at run time (module docstring)

        with torch.no_grad():
            output = component(*inputs)
        flat = flatten(output)
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
                f"({shapes(flat)}) but get_output_names() names {len(names)} "
                f"({', '.join(map(str, names)) or 'none'}): make them agree, one name per "
                "flattened output, in order."
            )
        for name, tensor in zip(names, flat, strict=True):
            # An output with no finite value passes every comparison (NaN is "close" to NaN):
            # it is a broken model, not a traced one.
            if (
                isinstance(tensor, torch.Tensor)
                and tensor.is_floating_point()
                and tensor.numel()
                and not bool(torch.isfinite(tensor).any())
            ):
                raise StageFailed(
                    f"output {name!r} ({shapes([tensor])}) holds no finite value (all NaN or "
                    "inf) on random inputs: look for a division by zero, a log of zero or "
                    "weights that were never initialised."
                )
        return flat, [str(name) for name in names]

    def trace(
        self,
        component: Any,
        component_name: str | None,
        spec: InputSpec,
        inputs: Sequence[Any],
        eager: Sequence[Any],
        output_names: Sequence[str] = (),
    ) -> TracedModel | None:
        import torch  # worker side: torch only at run time (module docstring)

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
            fresh_eager = flatten(component(*fresh))
        for label, args, expected in (
            ("the trace inputs", inputs, eager),
            (f"a fresh input set (seed {FRESH_SEED})", fresh, fresh_eager),
        ):
            with torch.no_grad():
                got = flatten(traced(*args))
            verdict = compare(expected, got, output_names)
            if verdict is not None and args is inputs:
                random = self.nondeterminism(component, inputs, eager)
                if random:
                    # Not the trace's fault: no graph can match a model that varies by itself.
                    raise StageFailed(random, outcome=DIVERGENCE)
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
                    outcome=DIVERGENCE,
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
        return TracedModel(str(path), dict(spec), component_name)

    def nondeterminism(self, component: Any, inputs: Sequence[Any], eager: Sequence[Any]) -> str:
        """Why the model is non-deterministic, when a second eager pass on the same inputs
        differs from the first; '' when it is deterministic."""
        import torch  # worker side: torch only at run time (module docstring)

        with torch.no_grad():
            again = flatten(component(*inputs))
        difference = compare(eager, again)
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
        spec: InputSpec,
        inputs: Sequence[Any],
        eager: Sequence[Any],
        output_names: Sequence[str],
    ) -> list[str]:
        """Export, check and run the ONNX model against eager; remarks for a passing stage."""
        # Worker side: these only at run time (module docstring).
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
            raise StageFailed(f"onnx.checker rejected the exported model: {one_line(exc)}") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            graph_inputs = [arg.name for arg in session.get_inputs()]
        except Exception as exc:
            raise StageFailed(
                f"onnxruntime could not load the exported model: {one_line(exc)}"
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
                f"onnxruntime could not run the exported model: {one_line(exc)}"
            ) from exc
        got = [torch.from_numpy(numpy.asarray(result)) for result in results]
        verdict = compare(eager, got, output_names)
        if verdict is not None:
            random = self.nondeterminism(component, inputs, eager)
            raise StageFailed(
                "the export succeeded and onnxruntime ran it, but its result differs from "
                f"eager: {verdict}." + (f" {random[0].upper()}{random[1:]}" if random else "")
            )
        if not dropped:
            return []
        return [
            f"input(s) {', '.join(map(repr, dropped))} of get_input_spec() are not used by "
            "forward(): the ONNX exporter dropped them, so the exported model has "
            f"{len(graph_inputs)} input(s) instead of {len(spec)}. Remove them from the spec, "
            "or use them."
        ]
