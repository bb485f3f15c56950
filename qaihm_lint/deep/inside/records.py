"""What a deep run says about a model, as typed records, and their one JSON form.

Both sides import this module: the worker (which may run under an interpreter that has no
qaihm-lint installed, so it imports it by a relative import and this module imports only the
standard library) and the parent. A record crosses a boundary in two places, the worker's
events pipe and the deep cache; both go through ``to_json``/``from_json`` here.

The vocabulary is stages, statuses and outcomes, never rule codes: which rule a verdict is
reported under is the parent's business (``outcomes.py``, from the rule classes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

# The fine-grained stages, in the order a model goes through them (DESIGN §7, numbered from 1).
STAGES = ("import", "from_pretrained", "input_spec", "forward", "trace", "onnx", "compile")
STAGE_NUMBER = {name: index for index, name in enumerate(STAGES, start=1)}
ANY_STAGE = "any"  # a verdict any stage can end in (a timeout)

# How a stage ended.
OK = "ok"
FAIL = "fail"
SKIP = "skip"
TIMEOUT = "timeout"  # the stage ran past its limit and was killed
CRASH = "crash"  # the worker died during the stage
FAILED = frozenset({FAIL, TIMEOUT, CRASH})

# A failure narrower than "the stage failed", reported under a rule of its own.
DIVERGENCE = "divergence"  # the stage ran, but its model computes something else than eager
TIMED_OUT = "timed-out"  # the outcome of every TIMEOUT record
OUTCOMES = frozenset({DIVERGENCE, TIMED_OUT})


# The fork server's word for a worker whose process tree went past its memory limit.
OVER_MEMORY = "memory"


def out_of_memory(limit_mb: int | None) -> str:
    """The one sentence for a model stopped for memory, whichever limit stopped it: the
    worker's own address space (a MemoryError inside) or the fork server's count over its
    whole process tree (a kill from outside). Which comes first can differ between two runs of
    one model; what it is told must not."""
    limit = f" of {limit_mb} MiB beyond the interpreter with torch loaded" if limit_mb else ""
    return (
        f"The worker ran out of memory (the limit{limit}, for the model and any processes it "
        "starts together): the model allocates more than a CPU export can afford, or without "
        "bound. Load it in one process, within the memory a CI runner has."
    )


@dataclass(frozen=True)
class StageStarted:
    """The worker began ``stage`` (for ``component`` of a collection model)."""

    kind: ClassVar[str] = "start"
    stage: str
    component: str | None = None


@dataclass(frozen=True)
class StageRecord:
    """One stage's verdict on one model (component, target).

    ``outcome`` narrows a failure (DIVERGENCE); ``cause`` says that it depends on the
    environment or the moment more than on the model's code (the parent never caches those);
    ``target`` and ``url`` belong to the compile stage.
    """

    kind: ClassVar[str] = "result"
    stage: str
    status: str
    message: str = ""
    component: str | None = None
    seconds: float | None = None
    outcome: str | None = None
    cause: str | None = None
    target: str | None = None
    url: str | None = None
    # The frame in the checked tree that raised ("qai_hub_models/models/x/model.py:12[:col]"),
    # relative to the tree's root: where the finding points.
    where: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def verdict(self) -> str | None:
        """The outcome this record reports: TIMED_OUT for any timeout, else ``outcome``."""
        return TIMED_OUT if self.status == TIMEOUT else self.outcome

    def __getitem__(self, name: str) -> Any:
        # Read access by field name, as ``ModelOutcome.records`` offered when records were
        # dicts (callers of run_deep_detailed read ``record["stage"]``).
        if name not in _FIELD_NAMES:
            raise KeyError(name)
        return getattr(self, name)


@dataclass(frozen=True)
class TracedModel:
    """The traced model of one component, saved at ``path`` for the compile stage."""

    kind: ClassVar[str] = "artifact"
    path: str
    input_specs: Mapping[str, tuple[tuple[int, ...], str]]
    component: str | None = None


@dataclass(frozen=True)
class WorkerDone:
    """Every stage ran; the worker is only cleaning up."""

    kind: ClassVar[str] = "done"


@dataclass(frozen=True)
class WorkerFatal:
    """The worker could not run any stage (torch does not import)."""

    kind: ClassVar[str] = "fatal"
    message: str


Event = StageStarted | StageRecord | TracedModel | WorkerDone | WorkerFatal
_KINDS: dict[str, type[Event]] = {
    cls.kind: cls for cls in (StageStarted, StageRecord, TracedModel, WorkerDone, WorkerFatal)
}
_FIELD_NAMES = frozenset(field.name for field in fields(StageRecord))
_OPTIONAL_TEXT = ("component", "outcome", "cause", "target", "url", "where")


def to_json(item: Event) -> dict[str, Any]:
    """``item`` as a JSON object, tagged with its kind."""
    data: dict[str, Any] = {"event": item.kind}
    for field in fields(item):
        value = getattr(item, field.name)
        if field.name == "input_specs":
            value = {name: [list(shape), dtype] for name, (shape, dtype) in value.items()}
        data[field.name] = value
    return data


def from_json(data: object) -> Event | None:
    """The record ``data`` holds; None when it is not one (a stray line, a damaged entry)."""
    if not isinstance(data, dict):
        return None
    cls = _KINDS.get(str(data.get("event")))
    if cls is None:
        return None
    try:
        return _decode(cls, data)
    except (KeyError, TypeError, ValueError):
        return None


def _decode(cls: type[Event], data: Mapping[str, Any]) -> Event:
    if cls is StageStarted:
        return StageStarted(_text(data["stage"]), _optional_text(data.get("component")))
    if cls is StageRecord:
        seconds = data.get("seconds")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float)
        ):
            raise TypeError("seconds")
        return StageRecord(
            stage=_text(data["stage"]),
            status=_text(data["status"]),
            message=_text(data.get("message", "")),
            seconds=seconds,
            **{name: _optional_text(data.get(name)) for name in _OPTIONAL_TEXT},
        )
    if cls is TracedModel:
        specs = data["input_specs"]
        if not isinstance(specs, Mapping):
            raise TypeError("input_specs")
        return TracedModel(
            path=_text(data["path"]),
            input_specs={
                _text(name): (tuple(int(dim) for dim in shape), _text(dtype))
                for name, (shape, dtype) in specs.items()
            },
            component=_optional_text(data.get("component")),
        )
    if cls is WorkerFatal:
        return WorkerFatal(_text(data["message"]))
    return WorkerDone()


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def encode_line(item: Event) -> bytes:
    """One line of the events pipe."""
    return (json.dumps(to_json(item), default=str) + "\n").encode()


def decode_line(line: bytes) -> Event | None:
    try:
        return from_json(json.loads(line))
    except (ValueError, RecursionError):  # a worker's garbage, or nesting deep enough to crash
        return None


def cache_entry(records: Sequence[StageRecord]) -> dict[str, Any]:
    """What the deep cache keeps for ``records``."""
    return {"records": [to_json(record) for record in records]}


def cached_records(entry: Mapping[str, Any] | None) -> list[StageRecord] | None:
    """The records of a cache entry; None (a miss) when it holds anything else."""
    items = entry.get("records") if entry is not None else None
    if not isinstance(items, list):
        return None
    records = [from_json(item) for item in items]
    if not all(isinstance(record, StageRecord) for record in records):
        return None
    return [record for record in records if isinstance(record, StageRecord)]
