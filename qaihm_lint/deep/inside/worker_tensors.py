"""The worker's tensor judgements: input specs, random inputs, and "close enough to eager".

Worker side: standard library only at import time; torch is imported inside the functions,
because the worker module must import without it (the fork server preloads torch, and a
missing torch is reported as the worker's fatal event, not as an ImportError here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# "Close to eager", per output, in the form torch.testing and upstream's assert_most_close
# use (|got - eager| <= atol + rtol * |eager|, at most 0.5 % of the elements beyond it), with
# the absolute part at the output's scale: upstream compares probabilities (at most 1) with
# atol 1e-4, and the same model's raw outputs (logits near 17, boxes up to 900 px) differ by
# float32 rounding far above 1e-4 without anything being wrong. So atol is ATOL times the
# output's largest finite |eager| (at least 1), and RTOL covers each element's own size.
ATOL = 1e-4
RTOL = 1e-3
MAX_MISMATCH_FRACTION = 0.005
TRACE_SEED = 42  # what make_torch_inputs uses by default, so the trace sees upstream's inputs
FRESH_SEED = 2024  # a second, independent input set

# Types AI Hub accepts in input specs.
HUB_DTYPES = frozenset(
    {"float32", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool"}
)

InputSpec = Mapping[str, tuple[tuple[int, ...], str]]


def shape_and_dtype(entry: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    """The (shape, dtype) of one input spec entry: a pair, or an object with both."""
    shape = getattr(entry, "shape", None)
    dtype = getattr(entry, "dtype", None)
    if shape is None and isinstance(entry, (tuple, list)) and len(entry) == 2:
        shape, dtype = entry
    if not isinstance(shape, (tuple, list)):
        return None, None
    return tuple(shape), dtype if isinstance(dtype, str) else None


def random_inputs(spec: InputSpec, seed: int) -> list[Any]:
    """Random tensors for ``spec``, reproducible from ``seed``."""
    import torch  # worker side: torch only at run time (module docstring)

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


def flatten(value: Any) -> list[Any]:
    """The tensors in ``value`` (nested tuples, lists and mappings), in order."""
    import torch  # worker side: torch only at run time (module docstring)

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [tensor for item in value.values() for tensor in flatten(item)]
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in flatten(item)]
    return []


def shapes(tensors: Sequence[Any]) -> str:
    return ", ".join(str(tuple(tensor.shape)) for tensor in tensors)


def compare(expected: Sequence[Any], got: Sequence[Any], names: Sequence[str] = ()) -> str | None:
    """None when ``got`` matches ``expected`` within the tolerance above, else why not: the
    output (by name when ``names`` has one), its scale, and its worst element."""
    import torch  # worker side: torch only at run time (module docstring)

    if len(expected) != len(got):
        return f"{len(got)} outputs instead of {len(expected)}"
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        label = f"output {names[index]!r}" if index < len(names) else f"output {index}"
        if tuple(want.shape) != tuple(have.shape):
            return f"{label} has shape {tuple(have.shape)} instead of {tuple(want.shape)}"
        if want.numel() == 0:
            continue
        a = want.detach().to(torch.float64).reshape(want.shape)
        b = have.detach().to(torch.float64).reshape(want.shape)
        finite = a[torch.isfinite(a)].abs()
        scale = float(finite.max()) if finite.numel() else 0.0
        allowed = ATOL * max(1.0, scale) + RTOL * a.abs()
        diff = (a - b).abs()
        both_nan = torch.isnan(a) & torch.isnan(b)
        same_inf = torch.isinf(a) & (a == b)
        close = (diff <= allowed) | both_nan | same_inf
        fraction = float((~close).to(torch.float64).mean())
        if fraction <= MAX_MISMATCH_FRACTION:
            continue
        # The worst element: the largest |diff| for its allowance (a NaN or inf where eager
        # has a number counts as worst).
        ratio = torch.where(close, torch.zeros_like(diff), diff / allowed)
        ratio = torch.nan_to_num(ratio, nan=float("inf"), posinf=float("inf"))
        flat = int(torch.argmax(ratio.reshape(-1)))
        where = list(torch.unravel_index(torch.tensor(flat), want.shape)) if want.dim() else []
        position = "[" + ", ".join(str(int(i)) for i in where) + "]"
        eager_value = float(a.reshape(-1)[flat])
        got_value = float(b.reshape(-1)[flat])
        return (
            f"{label} {tuple(want.shape)} (scale: max |eager| {scale:.3g}): {fraction:.1%} of "
            f"its elements differ by more than {ATOL:g} x scale + {RTOL:g} x |eager| (at most "
            f"{MAX_MISMATCH_FRACTION:.1%} may); worst at {position}: eager {eager_value:.6g}, "
            f"got {got_value:.6g} (|diff| {abs(eager_value - got_value):.3g}, allowed "
            f"{float(allowed.reshape(-1)[flat]):.3g})"
        )
    return None
