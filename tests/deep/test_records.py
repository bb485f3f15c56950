"""Deep records: one JSON form for the events pipe and the cache, and one rule per verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qaihm_lint.deep.inside.records import (
    CRASH,
    DIVERGENCE,
    FAIL,
    OK,
    STAGES,
    TIMEOUT,
    Event,
    StageRecord,
    StageStarted,
    TracedModel,
    WorkerDone,
    WorkerFatal,
    cache_entry,
    cached_records,
    decode_line,
    encode_line,
)
from qaihm_lint.deep.outcomes import RULES, rule_for
from qaihm_lint.rules.deep import DeepRule

DEEP = Path(__file__).resolve().parents[2] / "qaihm_lint" / "deep"


@pytest.mark.parametrize(
    "event",
    [
        StageStarted("forward", "encoder"),
        StageRecord("trace", FAIL, "differs", "decoder", 1.5, outcome=DIVERGENCE),
        StageRecord("compile", OK, "", None, target="Samsung Galaxy S25 (Family)", url="u"),
        StageRecord("import", FAIL, "no module", cause="missing-module"),
        TracedModel("/tmp/m.pt", {"image": ((1, 3, 224, 224), "float32")}, "encoder"),
        WorkerDone(),
        WorkerFatal("cannot import torch"),
    ],
)
def test_every_event_crosses_the_pipe_unchanged(event: Event) -> None:
    line = encode_line(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line.rstrip(b"\n")) == event


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"event": "hello", "pid": 1}',  # an event nobody reads
        b'{"event": "result", "stage": "import"}',  # no status
        b'{"event": "result", "stage": 3, "status": "ok"}',
        b'{"event": "result", "stage": "import", "status": "ok", "seconds": "slow"}',
        b'{"event": "artifact", "path": "m.pt", "input_specs": [1]}',
    ],
)
def test_a_line_that_is_not_a_record_is_skipped_not_an_error(line: bytes) -> None:
    assert decode_line(line) is None


def test_cache_entries_round_trip_and_old_ones_are_misses() -> None:
    records = [StageRecord("import", OK, seconds=0.1), StageRecord("forward", CRASH, "boom")]
    assert cached_records(cache_entry(records)) == records
    # The dicts of cache format 1 (a "code" and no "event" tag): a miss, never an error.
    old = {"records": [{"stage": "import", "status": "ok", "message": "", "code": None}]}
    assert cached_records(old) is None
    assert cached_records(None) is None
    assert cached_records({"records": "nonsense"}) is None


def test_a_record_reads_like_the_dict_it_replaced() -> None:
    record = StageRecord("onnx", OK, "dropped 'mask'", "encoder")
    assert (record["stage"], record["status"], record["component"]) == ("onnx", OK, "encoder")
    with pytest.raises(KeyError):
        record["code"]


def test_each_verdict_has_exactly_one_rule_and_each_rule_a_verdict() -> None:
    assert set(RULES.values()) == set(DeepRule.__subclasses__())
    codes = {
        (stage, status, outcome): rule_for(StageRecord(stage, status, outcome=outcome)).code
        for stage, status, outcome in [
            ("import", FAIL, None),
            ("forward", CRASH, None),
            ("trace", FAIL, None),
            ("trace", FAIL, DIVERGENCE),
            ("onnx", FAIL, None),
            ("compile", FAIL, None),
            ("from_pretrained", TIMEOUT, None),
            ("compile", TIMEOUT, None),
        ]
    }
    assert codes == {
        ("import", FAIL, None): "QAI801",
        ("forward", CRASH, None): "QAI804",
        ("trace", FAIL, None): "QAI805",
        ("trace", FAIL, DIVERGENCE): "QAI806",
        ("onnx", FAIL, None): "QAI807",
        ("compile", FAIL, None): "QAI808",
        ("from_pretrained", TIMEOUT, None): "QAI809",
        ("compile", TIMEOUT, None): "QAI809",
    }
    for stage in STAGES:
        assert rule_for(StageRecord(stage, FAIL)).stage == stage


def test_deep_code_names_no_rule_code() -> None:
    # Codes belong to the rule classes; deep/ may mention one in prose only (a docstring, a
    # message), never as a value it compares or emits.
    for path in sorted(DEEP.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"""["']QAI8\d\d["']""", line):
                pytest.fail(f"{path.name}:{number} writes a rule code: {line.strip()}")
