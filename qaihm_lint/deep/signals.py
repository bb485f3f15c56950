"""Ctrl-C and SIGTERM during a deep run: noted by the handler, acted on by the run's loop.

Python runs a signal handler in the main thread between any two bytecodes; one that raises
can land inside the standard library's lock handling and leave a lock held (see
``DeferredSignals``). So the run notes a stop signal and raises it where it holds no lock, and
ignores further ones while it cleans up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Stopped(KeyboardInterrupt):
    """A Ctrl-C or SIGTERM that arrived during a run, raised where the main thread holds no
    lock (``DeferredSignals.check``)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class DeferredSignals:
    """Which stop signal arrived during a run, if any.

    Python runs a signal handler in the main thread between any two bytecodes; one that
    raises can land inside the standard library's lock handling (``concurrent.futures.wait``
    releasing a future's condition, say), leave that lock held, and the model thread that
    finishes the future then blocks on it for ever, and so does the cancel that waits for that
    thread. The handler therefore only notes the signal (it takes no lock: it may run while the
    main thread holds any), and the run raises it at a point of its own choosing.
    """

    def __init__(self) -> None:
        self.signum = 0

    def note(self, signum: int, frame: object) -> None:
        if not self.signum:
            self.signum = signum

    def check(self) -> None:
        if self.signum:
            raise Stopped("SIGTERM" if self.signum == signal.SIGTERM else "SIGINT")


@contextlib.contextmanager
def signals_deferred() -> Iterator[DeferredSignals]:
    """Note Ctrl-C and SIGTERM instead of raising them wherever the main thread happens to be;
    only the main thread may touch signal handlers (elsewhere nothing is deferred)."""
    deferred = DeferredSignals()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum, handler in saved.items():
        # Ignored stays ignored (a run started with nohup, say); None is a handler set
        # outside Python, which cannot be put back.
        if handler is not None and handler is not signal.SIG_IGN:
            signal.signal(signum, deferred.note)

    def restore() -> None:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)

    try:
        yield deferred
    except BaseException:
        restore()
        raise
    restore()
    if deferred.signum:
        # It came after the run's last look (while the servers closed): its own handler
        # gets it now, with nothing left running.
        signal.raise_signal(deferred.signum)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while a cancel cleans up, so a second press cannot leave
    workers or folders behind. Only the main thread may touch signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in saved:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
