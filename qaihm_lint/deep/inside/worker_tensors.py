"""The worker's tensor judgements: input specs, random inputs, and "close enough to eager".

Worker side: standard library only at import time; torch is imported inside the functions,
because the worker module must import without it (the fork server preloads torch, and a
missing torch is reported as the worker's fatal event, not as an ImportError here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def compare(expected: Sequence[Any], got: Sequence[Any]) -> str | None:
    """None when ``got`` matches ``expected`` within the trace-test tolerance, else why not."""
    import torch  # worker side: torch only at run time (module docstring)

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
