"""The one signal catcher: remembers the first signal, counts them, restores handlers."""

from __future__ import annotations

import os
import signal

import pytest

from mlrun_cli.run.signals import Signals, grace_period


def test_first_signal_and_count_and_callback() -> None:
    seen: list[tuple[int, int]] = []
    before = signal.getsignal(signal.SIGTERM)
    with Signals(on_signal=lambda s, n: seen.append((s, n))) as caught:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert caught.received == signal.SIGTERM
        assert caught.count == 2
    assert seen == [(signal.SIGTERM, 1), (signal.SIGINT, 2)]
    assert signal.getsignal(signal.SIGTERM) == before


def test_only_the_signals_asked_for() -> None:
    with Signals(signals=[signal.SIGUSR1]) as caught:
        os.kill(os.getpid(), signal.SIGUSR1)
    assert caught.received == signal.SIGUSR1


@pytest.mark.parametrize(("value", "want"), [("3", 3.0), ("-1", 0.0), ("x", 10.0)])
def test_grace_period(monkeypatch: pytest.MonkeyPatch, value: str, want: float) -> None:
    monkeypatch.setenv("MLRUN_KILL_GRACE", value)
    assert grace_period() == want
