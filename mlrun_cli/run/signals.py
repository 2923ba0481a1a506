"""The one place that catches the signals a user sends to end mlrun: INT, TERM and HUP.

While a `Signals` is installed, each of those signals is remembered (the first one, and how
many came) and handed to `on_signal`, which decides what it means: forward it to a process
group, cancel jobs, stop starting trials. Handlers are restored on exit, so a library caller
gets its own handlers back.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType

ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def grace_period() -> float:
    """Seconds between escalation steps (``MLRUN_KILL_GRACE``, default 10)."""
    try:
        return max(0.0, float(os.environ.get("MLRUN_KILL_GRACE", "10")))
    except ValueError:
        return 10.0


class Signals:
    """Remembers the ending signals received while installed; `on_signal(signum, count)` is
    called for each, from the main thread, between two bytecodes."""

    def __init__(
        self,
        on_signal: Callable[[int, int], None] | None = None,
        signals: Iterable[signal.Signals] = ENDING,
    ) -> None:
        self.received: int | None = None  # the first signal
        self.count = 0
        self.on_signal = on_signal
        self._signals = tuple(signals)
        self._old: dict[int, object] = {}

    def install(self) -> None:
        for sig in self._signals:
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()

    def __enter__(self) -> Signals:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.received is None:
            self.received = signum
        if self.on_signal is not None:
            self.on_signal(signum, self.count)
