"""Runs whose runner died (SIGKILL, a crash, a reboot) are found and recorded FAILED.

A RUNNING run records the pid, host and start time of its runner. On this host, a run is
lost when that pid no longer exists, is a zombie, or now belongs to a process that started
after the run did (the pid was reused).
"""

from __future__ import annotations

import os
import time

from mlrun_cli.store.base import FAILED

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def why_lost(pid: int | None, start_ms: int | None) -> str | None:
    """Why the runner `pid` of a run started at `start_ms` is gone, or None if it is alive."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return f"its runner (pid {pid}) is gone"
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return f"its runner (pid {pid}) has exited"
    boot = _boot_time()
    if boot is not None and start_ms is not None:
        started = (boot + int(fields[19]) / _CLOCK_TICKS) * 1000
        if started > start_ms + 2000:
            return f"its runner's pid {pid} now belongs to a process started after the run"
    return None


def record_lost_runs(store: object) -> list[str]:
    """Mark this host's lost RUNNING runs FAILED (tags mlrun.lost, mlrun.lost.reason)."""
    running_here = getattr(store, "running_here", None)
    if running_here is None or not os.path.isdir("/proc"):
        return []
    lost = []
    for run_id, pid, start in running_here(os.uname().nodename):
        reason = why_lost(pid, start)
        if reason is None:
            continue
        store.log_batch(  # type: ignore[attr-defined]
            run_id, tags={"mlrun.lost": "true", "mlrun.lost.reason": reason}
        )
        store.set_terminated(run_id, FAILED, int(time.time() * 1000), None)  # type: ignore[attr-defined]
        lost.append(run_id)
    return lost
