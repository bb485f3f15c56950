"""The worker's judgement helpers, on real tensors."""

from __future__ import annotations

import socket
import urllib.error

import pytest

from qaihm_lint.deep.inside.worker_explain import network_url
from qaihm_lint.deep.inside.worker_tensors import compare, flatten, random_inputs, shape_and_dtype

pytestmark = pytest.mark.deep


def test_tolerance_is_upstream_trace_test() -> None:
    torch = pytest.importorskip("torch")
    base = torch.zeros(1000)
    # 5 of 1000 elements (0.5 %) off by more than atol: still within tolerance.
    five = base.clone()
    five[:5] = 1.0
    assert compare([base], [five]) is None
    six = base.clone()
    six[:6] = 1.0
    verdict = compare([base], [six])
    assert verdict is not None and "max abs diff 1" in verdict and "0.6%" in verdict
    # Differences up to atol do not count at all.
    assert compare([base], [base + 0.9e-4]) is None
    assert "shape" in (compare([base], [base[:10]]) or "")
    assert "outputs instead of" in (compare([base], [base, base]) or "")
    nan = torch.full((4,), float("nan"))
    assert compare([nan], [nan.clone()]) is None


def test_flatten_counts_nested_outputs() -> None:
    torch = pytest.importorskip("torch")
    t = torch.zeros(1)
    assert len(flatten((t, [t, {"a": t, "b": (t,)}], None, 3))) == 4


def test_fallback_inputs_cover_hub_dtypes() -> None:
    torch = pytest.importorskip("torch")
    spec = {
        "a": ((2, 3), "float16"),
        "b": ((4,), "int64"),
        "c": ((1,), "bool"),
        "d": ((2,), "uint8"),
    }
    tensors = random_inputs(spec, seed=1)
    assert [t.dtype for t in tensors] == [torch.float16, torch.int64, torch.bool, torch.uint8]
    again = random_inputs(spec, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(tensors, again, strict=True))


def test_network_errors_are_recognised_with_their_url() -> None:
    try:
        try:
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        except OSError as inner:
            raise urllib.error.URLError(inner) from inner
    except urllib.error.URLError as exc:
        assert network_url(exc) == ""
    try:
        try:
            raise ConnectionError("Failed to establish a new connection")
        except ConnectionError as inner:
            raise RuntimeError(
                "Could not fetch https://qaihub-public-assets.s3.us-west-2.amazonaws.com/m/v1/w.pth."
            ) from inner
    except RuntimeError as exc:
        assert network_url(exc) == (
            "https://qaihub-public-assets.s3.us-west-2.amazonaws.com/m/v1/w.pth"
        )
    assert network_url(ValueError("bad shape")) is None


def test_spec_entries_accept_tuples_and_tensor_spec_like_objects() -> None:
    class TensorSpecLike:
        shape = (1, 3)
        dtype = "float32"

    assert shape_and_dtype(((1, 3), "float32")) == ((1, 3), "float32")
    assert shape_and_dtype(TensorSpecLike()) == ((1, 3), "float32")
    assert shape_and_dtype("nonsense") == (None, None)
