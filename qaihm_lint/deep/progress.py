"""Progress of a deep run, on stderr (stdout belongs to the report).

On a terminal: a live rich table, one row per model, one column per stage, with the elapsed
time and the failures so far. Elsewhere (CI logs, pipes): one plain line per finished stage.

Work that is not a model's stage (building an environment takes minutes) is a *task*: a line
of its own under the table with its step and clock, redrawn as the clock runs; in plain mode a
line when it starts, one per step, and one every HEARTBEAT seconds while it lasts.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

from qaihm_lint.deep.inside.records import STAGES
from qaihm_lint.report import printable

HEARTBEAT = 30.0  # seconds between plain "still ..." lines of a running task
SYMBOLS = {"ok": "✓", "fail": "✗", "skip": "-", "timeout": "⏱", "crash": "✗", "running": "…"}
STYLES = {"ok": "green", "fail": "red", "timeout": "red", "crash": "red", "skip": "dim"}
SHORT = {
    "import": "import",
    "from_pretrained": "load",
    "input_spec": "spec",
    "forward": "forward",
    "trace": "trace",
    "onnx": "onnx",
    "compile": "compile",
}


class Progress(Protocol):
    def model_started(self, model_id: str) -> None: ...

    def stage_started(self, model_id: str, stage: str, component: str | None) -> None: ...

    def stage_finished(
        self,
        model_id: str,
        stage: str,
        component: str | None,
        status: str,
        seconds: float | None = None,
        detail: str = "",
        cached: bool = False,
    ) -> None: ...

    def model_finished(self, model_id: str, cached: bool) -> None: ...

    def note(self, text: str) -> None: ...

    def task_started(self, task: str, step: str) -> None: ...

    def task_step(self, task: str, step: str) -> None: ...

    def task_finished(self, task: str) -> None: ...

    def close(self) -> None: ...


class _Tasks:
    """The running tasks: their current step and when each started (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, tuple[str, float]] = {}

    def start(self, task: str, step: str) -> None:
        with self.lock:
            self.running[task] = (step, time.monotonic())

    def step(self, task: str, step: str) -> float:
        with self.lock:
            started = self.running.get(task, (step, time.monotonic()))[1]
            self.running[task] = (step, started)
            return time.monotonic() - started

    def finish(self, task: str) -> None:
        with self.lock:
            self.running.pop(task, None)

    def lines(self) -> list[str]:
        now = time.monotonic()
        with self.lock:
            return [
                f"{task}: {step} ({now - started:.0f} s)"
                for task, (step, started) in self.running.items()
            ]


def _label(model_id: str, component: str | None) -> str:
    return f"{model_id}[{component}]" if component else model_id


class PlainProgress:
    """One line per finished stage; safe to interleave from several threads."""

    def __init__(self, stream: IO[str] | None = None, heartbeat: float = HEARTBEAT) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self.tasks = _Tasks()
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def task_started(self, task: str, step: str) -> None:
        self.tasks.start(task, step)
        self._write(f"deep: {task}: {step}")
        if self._ticker is None:
            self._ticker = threading.Thread(
                target=self._tick, name="qaihm-deep-progress", daemon=True
            )
            self._ticker.start()

    def task_step(self, task: str, step: str) -> None:
        elapsed = self.tasks.step(task, step)
        self._write(f"deep: {task}: {step} ({elapsed:.0f} s)")

    def task_finished(self, task: str) -> None:
        self.tasks.finish(task)

    def _tick(self) -> None:
        while not self._stop.wait(self.heartbeat):
            for line in self.tasks.lines():
                self._write(f"deep: still {line}")

    def _write(self, text: str) -> None:
        # A model's exception ends up here: one line, its control characters shown, not obeyed
        # (no `::error` workflow command of its own in a CI log).
        with self._lock:
            print(printable(text), file=self.stream, flush=True)

    def model_started(self, model_id: str) -> None:
        pass

    def stage_started(self, model_id: str, stage: str, component: str | None) -> None:
        pass

    def stage_finished(
        self,
        model_id: str,
        stage: str,
        component: str | None,
        status: str,
        seconds: float | None = None,
        detail: str = "",
        cached: bool = False,
    ) -> None:
        if cached:
            return  # model_finished says it once for the whole model
        timing = f" ({seconds:.1f}s)" if seconds is not None else ""
        extra = f": {detail}" if detail else ""
        line = f"deep: {_label(model_id, component)} {stage} {status}{timing}{extra}"
        self._write(line)

    def model_finished(self, model_id: str, cached: bool) -> None:
        if cached:
            self._write(f"deep: {model_id} unchanged, results from cache")

    def note(self, text: str) -> None:
        self._write(f"deep: {text}")

    def close(self) -> None:
        self._stop.set()


class RichProgress:
    """A live models x stages table (needs rich; falls back to plain lines without it).

    ``models`` are every model of the run, listed from the start (the title counts them all,
    not only those a worker has picked up); ``stages`` are the columns: the stages this run
    can reach (no compile column under --no-compile).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        models: Sequence[str] = (),
        stages: Sequence[str] = STAGES,
    ) -> None:
        # rich (the [deep] extra) only for the live table: plain progress works without it.
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream if stream is not None else sys.stderr)
        self.started = time.monotonic()
        self._lock = threading.RLock()  # _render runs under it, from the refresh thread too
        self.stages = tuple(stages)
        self.rows: dict[str, dict[str, str]] = {model_id: {} for model_id in models}
        self.cached: set[str] = set()
        self.done: set[str] = set()
        self.failures = 0
        self.tasks = _Tasks()
        # Rendered afresh at every refresh, so the clocks run while nothing else happens (an
        # environment build of several minutes).
        self.live = Live(
            console=self.console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self._render,
        )
        self.live.start()

    def task_started(self, task: str, step: str) -> None:
        self.tasks.start(task, step)

    def task_step(self, task: str, step: str) -> None:
        self.tasks.step(task, step)

    def task_finished(self, task: str) -> None:
        self.tasks.finish(task)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        with self._lock:
            table = self._table()
        lines = self.tasks.lines()
        if not lines:
            return table
        return Group(table, *(Text(f"⏳ {line}", style="yellow") for line in lines))

    def _table(self) -> Any:
        from rich.table import Table  # see __init__
        from rich.text import Text

        elapsed = time.monotonic() - self.started
        table = Table(
            title=(
                f"qaihm-lint --deep: {len(self.done)}/{len(self.rows)} models, "
                f"{self.failures} failure(s), {elapsed:.0f}s"
            ),
            title_justify="left",
        )
        table.add_column("model")
        for stage in self.stages:
            table.add_column(SHORT[stage], justify="center")
        for model_id, cells in self.rows.items():
            name = printable(f"{model_id} (cached)" if model_id in self.cached else model_id)
            rendered = []
            for stage in self.stages:
                status = cells.get(stage, "")
                symbol = SYMBOLS.get(status, "")
                style = STYLES.get(status)
                rendered.append(f"[{style}]{symbol}[/]" if style and symbol else symbol)
            table.add_row(Text(name), *rendered)  # a folder name is not rich markup
        return table

    def _refresh(self) -> None:
        self.live.refresh()

    def model_started(self, model_id: str) -> None:
        with self._lock:
            self.rows.setdefault(model_id, {})
            self._refresh()

    def stage_started(self, model_id: str, stage: str, component: str | None) -> None:
        with self._lock:
            cells = self.rows.setdefault(model_id, {})
            if cells.get(stage) not in ("fail", "timeout", "crash"):
                cells[stage] = "running"
            self._refresh()

    def stage_finished(
        self,
        model_id: str,
        stage: str,
        component: str | None,
        status: str,
        seconds: float | None = None,
        detail: str = "",
        cached: bool = False,
    ) -> None:
        with self._lock:
            cells = self.rows.setdefault(model_id, {})
            # A collection's stage is as bad as its worst component.
            if cells.get(stage) not in ("fail", "timeout", "crash"):
                cells[stage] = status
            if status in ("fail", "timeout", "crash") and not cached:
                self.failures += 1
            self._refresh()

    def model_finished(self, model_id: str, cached: bool) -> None:
        with self._lock:
            self.rows.setdefault(model_id, {})
            self.done.add(model_id)
            if cached:
                self.cached.add(model_id)
            self._refresh()

    def note(self, text: str) -> None:
        with self._lock:
            self.console.print(printable(f"deep: {text}"), markup=False, highlight=False)

    def close(self) -> None:
        with self._lock:
            self._refresh()
            self.live.stop()


def make_progress(
    enabled: bool | None,
    stream: IO[str] | None = None,
    models: Sequence[str] = (),
    stages: Sequence[str] = STAGES,
) -> Progress:
    """``enabled=None`` picks the live display on a terminal and plain lines elsewhere."""
    target = stream if stream is not None else sys.stderr
    live = enabled if enabled is not None else _isatty(target)
    if live:
        try:
            return RichProgress(target, models, stages)
        except ImportError:
            pass
    return PlainProgress(target)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
