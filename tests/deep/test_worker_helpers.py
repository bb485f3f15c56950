"""The worker's judgement helpers, on real tensors."""

from __future__ import annotations

import socket
import urllib.error

import pytest

from qaihm_lint.deep.inside.worker_explain import network_url
from qaihm_lint.deep.inside.worker_tensors import compare, flatten, random_inputs, shape_and_dtype

pytestmark = pytest.mark.deep


def test_tolerance_counts_at_most_half_a_percent_of_elements() -> None:
    torch = pytest.importorskip("torch")
    base = torch.zeros(1000)
    # 5 of 1000 elements (0.5 %) off by more than the tolerance: still within it.
    five = base.clone()
    five[:5] = 1.0
    assert compare([base], [five]) is None
    six = base.clone()
    six[:6] = 1.0
    verdict = compare([base], [six], ["logits"])
    assert verdict is not None and "output 'logits' (1000,)" in verdict and "0.6%" in verdict
    assert "worst at [0]: eager 0, got 1" in verdict
    # Differences up to atol (at scale 1) do not count at all.
    assert compare([base], [base + 0.9e-4]) is None
    assert "shape" in (compare([base], [base[:10]]) or "")
    assert "outputs instead of" in (compare([base], [base, base]) or "")
    nan = torch.full((4,), float("nan"))
    assert compare([nan], [nan.clone()]) is None
    assert compare([nan], [torch.zeros(4)]) is not None


def test_tolerance_scales_with_the_output() -> None:
    """Issue 21 item 4: float32 rounding on large outputs is not a mismatch."""
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    # Boxes up to ~890 px, off by float32 rounding (3e-6 relative): yolov8_det's case.
    boxes = torch.rand((1, 8400, 4), generator=generator) * 890
    rounded = boxes * (1 + 3e-6 * torch.randn(boxes.shape, generator=generator))
    assert compare([boxes], [rounded], ["boxes"]) is None
    # Logits near 17 (a calibrated mobilenet_v3_small), off by 1e-4 everywhere.
    logits = torch.randn((1, 1000), generator=generator) * 6 + 11
    assert compare([logits], [logits + 1e-4], ["class_logits"]) is None
    # Probabilities keep upstream's absolute tolerance: 2e-4 on a probability is too much.
    probabilities = torch.softmax(torch.randn((1, 1000), generator=generator), dim=-1)
    assert compare([probabilities], [probabilities + 2e-4]) is not None
    # A real divergence on the boxes is named, with its scale and its worst element.
    wrong = boxes.clone()
    wrong[0, 17, 2] += 40.0
    wrong[0, :300, 0] += 5.0
    verdict = compare([boxes], [wrong], ["boxes", "scores"])
    assert verdict is not None
    assert "output 'boxes' (1, 8400, 4)" in verdict and "max |eager| 890" in verdict
    assert "worst at [0, 17, 2]" in verdict and "|diff| 40" in verdict
    # An unnamed output is still told apart by its position.
    assert "output 1 (1, 1000)" in (compare([boxes, logits], [boxes, logits * 2], ["b"]) or "")


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
