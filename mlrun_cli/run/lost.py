"""The one rule for lost runs: a run whose runner (or cluster job) vanished without
recording an end is KILLED, tagged ``mlrun.lost`` with the reason, never FINISHED or left
RUNNING. A local run, a sweep trial and a cluster job are all recorded this way.

A RUNNING run records the pid, host and start time of its runner. On this host, a run is
lost when that pid no longer exists, is a zombie, or now belongs to a process that started
after the run did (the pid was reused).
"""

from __future__ import annotations

import os
import time

from mlrun_cli import tags as T
from mlrun_cli.store.base import KILLED, Store

LOST_STATUS = KILLED

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


def lost_tags(reason: str) -> dict[str, str]:
    """The tags a lost run carries."""
    return {T.LOST: "true", T.LOST_REASON: reason}


def mark_lost(store: Store, run_id: str, reason: str, end_ms: int | None = None) -> None:
    """Record `run_id` lost: KILLED with the lost tags."""
    store.log_batch(run_id, tags=lost_tags(reason))
    store.set_terminated(run_id, LOST_STATUS, end_ms or int(time.time() * 1000), None)


def record_lost_runs(store: Store) -> list[str]:
    """Record this host's lost RUNNING runs (see the module's rule); their ids."""
    index = store.index()
    if index is None or not os.path.isdir("/proc"):
        return []
    lost = []
    for run_id, pid, start in index.running_here(os.uname().nodename):
        reason = why_lost(pid, start)
        if reason is None:
            continue
        mark_lost(store, run_id, reason)
        lost.append(run_id)
    return lost
