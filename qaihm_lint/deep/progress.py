"""Progress of a deep run, on stderr (stdout belongs to the report).

On a terminal: a live rich table, one row per model, one column per stage, with the elapsed
time and the failures so far. Elsewhere (CI logs, pipes): one plain line per finished stage.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

from qaihm_lint.deep.inside.records import STAGES
from qaihm_lint.report import printable

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

    def close(self) -> None: ...


def _label(model_id: str, component: str | None) -> str:
    return f"{model_id}[{component}]" if component else model_id


class PlainProgress:
    """One line per finished stage; safe to interleave from several threads."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

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
        pass


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
        self._lock = threading.Lock()
        self.stages = tuple(stages)
        self.rows: dict[str, dict[str, str]] = {model_id: {} for model_id in models}
        self.cached: set[str] = set()
        self.done: set[str] = set()
        self.failures = 0
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False
        )
        self.live.start()

    def _render(self) -> Any:
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
        self.live.update(self._render())

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
