"""Helpers shared by the benchmarks: timing whole commands, medians, a scratch project."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def time_command(
    argv: Sequence[str],
    *,
    repeat: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    warmup: int = 2,
) -> list[float]:
    """Wall seconds of each of `repeat` runs of `argv` (after `warmup` unmeasured runs)."""
    times = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()}")
        if i >= warmup:
            times.append(elapsed)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(label: str, values: Sequence[float]) -> None:
    print(
        f"{label:<48} median {median(values) * 1000:8.1f} ms  (min {min(values) * 1000:.1f}, n={len(values)})"
    )
