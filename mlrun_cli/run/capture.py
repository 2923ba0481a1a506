"""Metrics read from a child's output (`mlrun run --capture-metrics`), without changing it.

A line such as ``loss: 0.25`` or ``accuracy=0.97`` becomes a metric; the step is how many
times that key was seen before. ``\\r`` ends a line too, so progress bars that rewrite a line
are read as they update. The pattern can be replaced; it needs named groups key and value.
"""

from __future__ import annotations

import re
import time

from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import Metric

DEFAULT_PATTERN = (
    r"^\s*(?P<key>[A-Za-z_][\w./-]*)\s*[:=]\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class MetricCapture:
    def __init__(self, pattern: str | None = None) -> None:
        try:
            self.pattern = re.compile(pattern or DEFAULT_PATTERN)
        except re.error as exc:
            raise ParameterError(
                f"--capture-pattern {pattern!r} is not a valid regex: {exc}"
            ) from None
        if not {"key", "value"} <= set(self.pattern.groupindex):
            raise ParameterError(
                f"--capture-pattern {pattern!r} needs the named groups (?P<key>...) and (?P<value>...)"
            )
        self.pending: list[Metric] = []
        self.seen: dict[str, int] = {}
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """Take a chunk of output; complete lines are matched."""
        buf = self._partial + data
        parts = re.split(rb"[\r\n]", buf)
        self._partial = parts.pop()
        for raw in parts:
            self._line(raw.decode("utf-8", "replace"))

    def flush(self) -> None:
        if self._partial:
            self._line(self._partial.decode("utf-8", "replace"))
            self._partial = b""

    def _line(self, line: str) -> None:
        m = self.pattern.search(line)
        if m is None:
            return
        try:
            value = float(m.group("value"))
        except (TypeError, ValueError):
            return
        key = m.group("key")
        step = self.seen.get(key, 0)
        self.seen[key] = step + 1
        self.pending.append(Metric(key, value, step, int(time.time() * 1000)))

    def take(self) -> list[Metric]:
        out, self.pending = self.pending, []
        return out
