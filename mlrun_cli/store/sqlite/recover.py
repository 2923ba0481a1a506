"""One run folder read back into a run's record, and records written into an index: the
pieces of `repair`.

A folder with a valid ``run.json`` gives the run in full; one without (recorded by an
earlier version) gives what it holds: its id, the events file (params, tags, metrics), the
cluster job files (``job/job.json``, ``started.json``, ``exit.json``: command, params, user,
times, exit code) and the times of its files. Such a run is tagged ``mlrun.recovered =
partial``; without an exit file its status is unknown and it is recorded KILLED.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli import tags as T
from mlrun_cli.paths import EVENTS_FILE
from mlrun_cli.store.base import (
    DEFAULT_EXPERIMENT_ID,
    FAILED,
    FINISHED,
    KILLED,
    STATUSES,
    TERMINAL,
    Metric,
)
from mlrun_cli.store.events import Batch, parse_line
from mlrun_cli.store.sqlite.connection import now_ms
from mlrun_cli.store.sqlite.record import EXPERIMENTS_FILE, RECORD_FILE, RECORD_SCHEMA, read_json
from mlrun_cli.values import valueclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The tag of a run re-created from its folder alone (its status, times and name estimated).
# It belongs in mlrun_cli.tags with the other keys.
RECOVERED = T.RECOVERED
PARTIAL = "partial"
# The cluster job files of a run folder, as `mlrun_cli.cluster.files` names them (the store
# does not import cluster code).
JOB_DIR, JOB_FILE, STARTED_FILE, EXIT_FILE = "job", "job.json", "started.json", "exit.json"

Experiments = dict[str, tuple[str, str, int]]  # id -> (name, lifecycle stage, creation time)


@valueclass
class Recovered:
    """A run as its folder gives it back."""

    folder: Path
    record: dict[str, Any]  # as run.json holds it
    history: list[Metric]  # from the events file
    full: bool  # from a valid run.json
    problems: list[str]


def recover_folder(folder: Path) -> Recovered:
    """The run of `folder`: its run.json, completed from its events file."""
    run_id = folder.name
    problems: list[str] = []
    events = read_events(folder / EVENTS_FILE)
    if events.problems:
        n = len(events.problems)
        problems.append(
            f"run {run_id[:8]}: skipped {n} malformed line{'s' if n != 1 else ''} of its "
            "events file"
        )
    record = checked_record(read_json(folder / RECORD_FILE), run_id)
    full = record is not None
    if record is None:
        if (folder / RECORD_FILE).exists():
            problems.append(
                f"run {run_id[:8]}: its {RECORD_FILE} is unreadable; recovered from what its "
                "folder holds"
            )
        record = from_folder(folder, events)
    for key, value in events.param_lines:
        record["params"].setdefault(key, value)  # a param keeps its first value
    for key, value in events.tags.items():
        record["tags"].setdefault(key, value)
    return Recovered(folder, record, events.metrics, full, problems)


def read_events(path: Path) -> Batch:
    """The complete lines of an events file (a line being written is not one yet)."""
    batch = Batch()
    try:
        data = path.read_bytes()
    except OSError:
        return batch
    for number, raw in enumerate(data[: data.rfind(b"\n") + 1].splitlines(), 1):
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            parse_line(text, path.parent, batch, f"{path.name} line {number}")
    return batch


def checked_record(saved: dict[str, Any] | None, run_id: str) -> dict[str, Any] | None:
    """The record of run.json with every field of the right type, or None if unusable."""
    if saved is None or saved.get("run_id") != run_id or saved.get("status") not in STATUSES:
        return None
    return {
        "schema": RECORD_SCHEMA,
        "run_id": run_id,
        "experiment_id": _experiment_id(saved.get("experiment_id")),
        "experiment_name": _text(saved.get("experiment_name")),
        "name": _text(saved.get("name")) or f"recovered-{run_id[:8]}",
        "status": saved["status"],
        "start_time": _int(saved.get("start_time")),
        "end_time": _int(saved.get("end_time")),
        "exit_code": _int(saved.get("exit_code")),
        "user": _text(saved.get("user")) or "unknown",
        "command": _text(saved.get("command")) or "",
        "lifecycle_stage": "deleted" if saved.get("lifecycle_stage") == "deleted" else "active",
        "pid": _int(saved.get("pid")),
        "host": _text(saved.get("host")),
        "params": _texts(saved.get("params")),
        "tags": _texts(saved.get("tags")),
        "metrics": _metrics(saved.get("metrics")),
    }


def from_folder(folder: Path, events: Batch) -> dict[str, Any]:
    """The record of a folder without run.json: what the folder itself tells."""
    run_id = folder.name
    job = read_json(folder / JOB_DIR / JOB_FILE) or {}
    started = read_json(folder / JOB_DIR / STARTED_FILE) or {}
    ended = read_json(folder / JOB_DIR / EXIT_FILE) or {}
    first, last = file_times(folder)
    exit_code = _int(ended.get("exit_code"))
    status = ended.get("status")
    if status not in TERMINAL:
        status = KILLED if exit_code is None else FINISHED if exit_code == 0 else FAILED
    name = events.tags.get(T.RUN_NAME) or f"recovered-{run_id[:8]}"
    return {
        "schema": RECORD_SCHEMA,
        "run_id": run_id,
        "experiment_id": _experiment_id(job.get("experiment_id")),
        "experiment_name": None,
        "name": name,
        "status": status,
        "start_time": _int(started.get("time_ms")) or first,
        "end_time": _int(ended.get("end_ms")) or last,
        "exit_code": exit_code,
        "user": _text(job.get("user")) or events.tags.get(T.USER) or "unknown",
        "command": _text(job.get("command")) or "",
        "lifecycle_stage": "active",
        "pid": None,
        "host": _text(started.get("host")),
        "params": _texts(job.get("params")),
        "tags": {T.RUN_NAME: name, RECOVERED: PARTIAL},
        "metrics": {},
    }


def file_times(folder: Path) -> tuple[int, int]:
    """The oldest and newest modification times (ms) of the files of a run folder."""
    times = []
    for sub in (folder, folder / "artifacts", folder / JOB_DIR):
        try:
            entries = list(os.scandir(sub))
        except OSError:
            continue
        times += [int(e.stat().st_mtime * 1000) for e in entries if e.is_file()]
    if not times:
        times = [int(folder.stat().st_mtime * 1000)]
    return min(times), max(times)


def experiments_of(root: Path, recovered: Sequence[Recovered]) -> Experiments:
    """The experiments to re-create: as experiments.json names them, then as the runs do."""
    found: Experiments = {}
    saved = read_json(root / EXPERIMENTS_FILE) or {}
    for exp in saved.get("experiments") or []:
        if (
            isinstance(exp, dict)
            and str(exp.get("experiment_id")).isdigit()
            and _text(exp.get("name"))
        ):
            stage = "deleted" if exp.get("lifecycle_stage") == "deleted" else "active"
            found[str(exp["experiment_id"])] = (
                exp["name"],
                stage,
                _int(exp.get("creation_time")) or now_ms(),
            )
    for r in recovered:
        eid = r.record["experiment_id"]
        if eid not in found:
            found[eid] = (r.record["experiment_name"] or f"experiment-{eid}", "active", now_ms())
    return found


def insert_experiments(conn: sqlite3.Connection, found: Experiments, only_new: bool = False) -> int:
    """Create the experiments `found` (with their ids); how many were created.

    `only_new`: leave the experiments the index has as they are (a healthy index)."""
    created = 0
    for eid in sorted(found, key=int):
        name, stage, ctime = found[eid]
        row = conn.execute(
            "SELECT name FROM experiments WHERE experiment_id = ?", (int(eid),)
        ).fetchone()
        if row is not None:
            if not only_new and row[0] != name:  # the default experiment, renamed once
                conn.execute(
                    "UPDATE experiments SET name = ?, lifecycle_stage = ? WHERE experiment_id = ?",
                    (free_name(conn, name, eid), stage, int(eid)),
                )
            continue
        conn.execute(
            "INSERT INTO experiments VALUES (?, ?, ?, ?, ?)",
            (int(eid), free_name(conn, name, eid), stage, ctime, ctime),
        )
        created += 1
    return created


def free_name(conn: sqlite3.Connection, name: str, eid: str) -> str:
    """`name`, or `name (id)` where another experiment has that name already."""
    candidate, n = name, 1
    while True:
        row = conn.execute("SELECT experiment_id FROM experiments WHERE name = ?", (candidate,))
        found = row.fetchone()
        if found is None or str(found[0]) == eid:
            return candidate
        candidate = f"{name} ({eid})" if n == 1 else f"{name} ({eid}-{n})"
        n += 1


def insert_run(conn: sqlite3.Connection, r: Recovered) -> int:
    """Create the run `r` in the index; the number of metric points written (0 if the index
    has the run already)."""
    rec = r.record
    cur = conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, experiment_id, name, status, start_time, end_time, "
        "exit_code, user, command, lifecycle_stage, pid, host) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec["run_id"],
            int(rec["experiment_id"]),
            rec["name"],
            rec["status"],
            rec["start_time"],
            rec["end_time"],
            rec["exit_code"],
            rec["user"],
            rec["command"],
            rec["lifecycle_stage"],
            rec["pid"],
            rec["host"],
        ),
    )
    if cur.rowcount == 0:
        return 0
    run_id = rec["run_id"]
    conn.executemany(
        "INSERT OR IGNORE INTO params VALUES (?, ?, ?)",
        [(run_id, k, v) for k, v in rec["params"].items()],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
        [(run_id, k, v) for k, v in rec["tags"].items()],
    )
    points = metric_points(r)
    conn.executemany(
        "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
        [(run_id, m.key, _stored(m.value), m.step, m.timestamp) for m in points],
    )
    conn.executemany(
        "INSERT INTO latest_metrics VALUES (?, ?, ?, ?, ?)",
        [(run_id, m.key, _stored(m.value), m.step, m.timestamp) for m in latest(points)],
    )
    return len(points)


def record_end(conn: sqlite3.Connection, r: Recovered) -> None:
    """The index has the run as still active; its record says how it ended."""
    rec = r.record
    run_id = rec["run_id"]
    conn.execute(
        "UPDATE runs SET status = ?, end_time = ?, exit_code = ? WHERE run_id = ? "
        "AND status NOT IN ('FINISHED', 'FAILED', 'KILLED')",
        (rec["status"], rec["end_time"], rec["exit_code"], run_id),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO params VALUES (?, ?, ?)",
        [(run_id, k, v) for k, v in rec["params"].items()],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
        [(run_id, k, v) for k, v in rec["tags"].items()],
    )


def metric_points(r: Recovered) -> list[Metric]:
    """The history of the events file, plus the record's latest values it does not hold
    (metrics logged through mlflow or captured from the output are not in the events file)."""
    points = list(r.history)
    have = {(m.key, m.step, m.timestamp) for m in points}
    for key, m in r.record["metrics"].items():
        if (key, m["step"], m["timestamp"]) not in have:
            value = math.nan if m["value"] is None else float(m["value"])
            points.append(Metric(key, value, m["step"], m["timestamp"]))
    return points


def latest(points: Sequence[Metric]) -> list[Metric]:
    """MLflow's latest value of each key: the highest step, then the newest timestamp."""
    best: dict[str, Metric] = {}
    for m in points:
        cur = best.get(m.key)
        if cur is None or (m.step, m.timestamp) >= (cur.step, cur.timestamp):
            best[m.key] = m
    return list(best.values())


def _stored(value: float) -> float | None:
    return None if math.isnan(value) else value  # NULL stands for NaN, as in the store


def _experiment_id(value: object) -> str:
    return str(value) if str(value).isdigit() else DEFAULT_EXPERIMENT_ID


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _metrics(value: object) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(value, Mapping):
        return found
    for key, m in value.items():
        if not isinstance(m, Mapping):
            continue
        v, step, ts = m.get("value"), _int(m.get("step")), _int(m.get("timestamp"))
        if (v is None or isinstance(v, (int, float))) and step is not None and ts is not None:
            found[str(key)] = {"value": v, "step": step, "timestamp": ts}
    return found
