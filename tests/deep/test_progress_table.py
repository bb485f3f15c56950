"""The live table counts every model of the run and shows only the stages it can reach."""

from __future__ import annotations

import io

import pytest

from qaihm_lint.deep.inside.records import STAGES
from qaihm_lint.deep.progress import make_progress


def rendered(progress: object) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(progress._render())  # type: ignore[attr-defined]
    return console.export_text()


def test_title_counts_models_no_worker_has_picked_up_yet() -> None:
    pytest.importorskip("rich")
    progress = make_progress(True, io.StringIO(), models=["a", "b", "c"])
    try:
        progress.model_started("a")  # --jobs 2: only two models start at once
        progress.model_started("b")
        progress.model_finished("a", cached=False)
        text = rendered(progress)
        assert "1/3 models" in text
        assert "c" in text.split("models", 1)[1]  # its row is there before it starts
    finally:
        progress.close()


def test_no_compile_column_when_compile_is_off() -> None:
    pytest.importorskip("rich")
    stages = [stage for stage in STAGES if stage != "compile"]
    progress = make_progress(True, io.StringIO(), models=["a"], stages=stages)
    try:
        header = rendered(progress)
        assert "onnx" in header and "compile" not in header
    finally:
        progress.close()
    with_compile = make_progress(True, io.StringIO(), models=["a"])
    try:
        assert "compile" in rendered(with_compile)
    finally:
        with_compile.close()


def test_plain_progress_escapes_what_a_model_wrote() -> None:
    # A model's exception must not start a line of its own in the CI log (a GitHub workflow
    # command) nor drive the terminal.
    from qaihm_lint.deep.progress import PlainProgress

    stream = io.StringIO()
    progress = PlainProgress(stream)
    detail = "boom\n::error file=README.md::pwned\r\x1b[2J\x00"
    progress.stage_finished("evil\nmodel", "forward", None, "fail", 0.1, detail=detail)
    progress.note("done\x07")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert not any(line.startswith("::") for line in lines)
    assert "\x1b" not in stream.getvalue() and "\x00" not in stream.getvalue()
    assert "boom\\n::error" in lines[0] and "\\x1b[2J" in lines[0] and "evil\\nmodel" in lines[0]


def test_a_build_is_a_task_with_a_running_clock_in_the_live_table() -> None:
    """Issue 21 item 7: the table froze at "0/3 models, 0s" for a whole environment build."""
    pytest.importorskip("rich")
    import time

    progress = make_progress(True, io.StringIO(), models=["a", "b"])
    try:
        progress.task_started("environment global (029d7f87)", "building for 2 model(s)")
        progress.task_step("environment global (029d7f87)", "resolved 148 package(s)")
        first = rendered(progress)
        assert "environment global (029d7f87): resolved 148 package(s) (0 s)" in first
        assert "0/2 models" in first and ", 0s" in first
        time.sleep(1.2)
        # Nothing was reported meanwhile: the refresh alone moves both clocks.
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200, record=True)
        console.print(progress.live.get_renderable())  # type: ignore[attr-defined]
        later = console.export_text()
        assert "resolved 148 package(s) (1 s)" in later and ", 1s" in later
        progress.task_finished("environment global (029d7f87)")
        assert "environment global" not in rendered(progress)
    finally:
        progress.close()


def test_plain_progress_tells_a_build_as_it_goes() -> None:
    import time

    from qaihm_lint.deep.progress import PlainProgress

    stream = io.StringIO()
    progress = PlainProgress(stream, heartbeat=0.05)
    try:
        progress.task_started("environment global (029d7f87)", "building for 3 model(s)")
        time.sleep(0.3)
        progress.task_step("environment global (029d7f87)", "resolved 148 package(s)")
        progress.task_finished("environment global (029d7f87)")
        time.sleep(0.15)
    finally:
        progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "deep: environment global (029d7f87): building for 3 model(s)"
    still = "deep: still environment global (029d7f87): build"
    assert any(line.startswith(still) for line in lines)
    assert any("resolved 148 package(s) (0 s)" in line for line in lines)
    # Finished: no more heartbeats.
    assert "still" not in lines[-1]
