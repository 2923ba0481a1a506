"""The one rule for lost runs: a run whose runner (or cluster job) vanished without
recording an end is KILLED, tagged ``mlrun.lost`` with the reason, never FINISHED or left
RUNNING. A local run, a sweep trial and a cluster job are all recorded this way.

A RUNNING run records the pid, host and start time of its runner. On this host, a run is
lost when that pid no longer exists, is a zombie, or now belongs to a process that started
after the run did (the pid was reused).
"""

from __future__ import annotations

import contextlib
import os
import time

from mlrun_cli import tags as T
from mlrun_cli.paths import EVENTS_FILE, GROUP_FILE, INGESTED_MARK, OUTPUT_LOG
from mlrun_cli.store.base import KILLED, RUNNING
from mlrun_cli.store.events import save_mark

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mlrun_cli.store.base import RunIndex, Store

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


def group_alive(run_dir: Path, start_ms: int | None) -> bool:
    """True if the command the run's runner started still runs (its process group)."""
    try:
        pgid = int((run_dir / GROUP_FILE).read_text())
    except (OSError, ValueError):
        return False
    from mlrun_cli.process import alive

    # The same age test as for the runner: a group id reused by a younger process is not ours.
    return alive(pgid) and why_lost(pgid, start_ms) is None


def last_sign_of_life(run_dir: Path, artifact_dir: Path, start_ms: int | None) -> int:
    """When a lost run was last seen alive: the newest of what it writes while it runs."""
    seen = [start_ms or 0]
    for path in (run_dir / EVENTS_FILE, artifact_dir / OUTPUT_LOG, run_dir / INGESTED_MARK):
        with contextlib.suppress(OSError):
            seen.append(int(path.stat().st_mtime * 1000))
    return max(seen) or int(time.time() * 1000)


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """One finder of a run at a time (two `runs list` at once record nothing twice)."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".sync.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def record_lost(index: RunIndex, run_id: str, reason: str) -> bool:
    """Record the rest of a lost run's events file, then the run lost, its end time the last
    sign of life. False if another finder got there first."""
    from mlrun_cli import console
    from mlrun_cli.store.events import ingest, resume_reader

    run_dir, artifacts = index.run_dir(run_id), index.artifact_dir(run_id)
    with run_folder_lock(run_dir):
        run = index.get_run(run_id)
        if run.status != RUNNING:
            return False
        end = last_sign_of_life(run_dir, artifacts, run.start_time)  # before we write here
        reason += _container_left(run_dir)
        mark = run_dir / INGESTED_MARK
        reader = resume_reader(run_dir / EVENTS_FILE, mark, run_dir)
        batch = reader.read()
        if batch:
            ingest(batch, run_id, index.log_batch, artifacts, console.warn)
            save_mark(mark, reader)
        mark_lost(index, run_id, reason, end_ms=end)
    return True


def _container_left(run_dir: Path) -> str:
    """A container the vanished runner started is stopped and removed (its engine client died
    with the runner, but the container does not); what to add to the reason."""
    from mlrun_cli.containers.engine import CONTAINER_FILE, remove_left

    if not (run_dir / CONTAINER_FILE).is_file():
        return ""
    return "; its container was stopped" if remove_left(run_dir) else ""


def record_lost_runs(store: Store) -> list[str]:
    """Record this host's lost RUNNING runs (see the module's rule); their ids. A run whose
    runner is gone but whose command still runs is not lost (yet): its group ends by itself."""
    index = store.index()
    if index is None or not os.path.isdir("/proc"):
        return []
    lost = []
    for run_id, pid, start in index.running_here(os.uname().nodename):
        reason = why_lost(pid, start)
        if reason is None or group_alive(index.run_dir(run_id), start):
            continue
        if record_lost(index, run_id, reason):
            lost.append(run_id)
    return lost
