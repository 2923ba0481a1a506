"""Each run's record kept in its own folder (``runs/<id>/run.json``), so the index can be
rebuilt from the run folders if the database is lost or damaged (`repair`).

The record is written atomically (a temporary file renamed over it) inside the write
transaction that changed the run, so two writers of one run never leave the older view last.
It is written when the run is created and when it ends, on every change of its status,
lifecycle or command, and on tag and param writes while no local process holds the run (that
process writes the record when the run ends, with everything logged meanwhile). Metrics are
not rewritten as they come: the record holds the latest values as of the last write, and the
history stays in the events file. The experiments' names are kept in ``experiments.json``.

No fsync: like the database (synchronous=NORMAL), a record survives the process being
killed; only a power loss may drop the last write. A failed write never fails the run: the
record is a second copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.base import NewRun

RECORD_FILE = "run.json"
RECORD_SCHEMA = "mlrun.record/1"
EXPERIMENTS_FILE = "experiments.json"
EXPERIMENTS_SCHEMA = "mlrun.experiments/1"


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to `path` by renaming a temporary file over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def experiment_name(conn: sqlite3.Connection, experiment_id: str) -> str | None:
    row = conn.execute(
        "SELECT name FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
    ).fetchone()
    return str(row[0]) if row else None


def record_of_new(new: NewRun, exp_name: str | None) -> dict[str, Any]:
    """The record of a run just created (no query needed)."""
    return {
        "schema": RECORD_SCHEMA,
        "run_id": new.run_id,
        "experiment_id": str(new.experiment_id),
        "experiment_name": exp_name,
        "name": new.name,
        "status": new.status,
        "start_time": new.start_time,
        "end_time": None,
        "exit_code": None,
        "user": new.user,
        "command": new.command,
        "lifecycle_stage": "active",
        "pid": new.pid,
        "host": new.host,
        "params": {k: str(v) for k, v in new.params.items()},
        "tags": {k: str(v) for k, v in new.tags.items()},
        "metrics": {},
    }


def record_of(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """The record of run `run_id` as the index holds it now (None if it has no such run)."""
    row = conn.execute(
        "SELECT r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, "
        "r.exit_code, r.user, r.command, r.lifecycle_stage, r.pid, r.host FROM runs r "
        "LEFT JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.run_id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("name", "status", "start_time", "end_time", "exit_code", "user", "command")
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "run_id": run_id,
        "experiment_id": str(row[0]),
        "experiment_name": row[1],
        **dict(zip(keys, row[2:9], strict=True)),
        "lifecycle_stage": row[9],
        "pid": row[10],
        "host": row[11],
    }
    for table in ("params", "tags"):
        record[table] = dict(
            conn.execute(f"SELECT key, value FROM {table} WHERE run_id = ?", (run_id,)).fetchall()
        )
    record["metrics"] = {
        key: {"value": value, "step": step, "timestamp": ts}  # a NaN value is null, as stored
        for key, value, step, ts in conn.execute(
            "SELECT key, value, step, timestamp FROM latest_metrics WHERE run_id = ?", (run_id,)
        ).fetchall()
    }
    return record


def save_record(conn: sqlite3.Connection, run_dir: Path, run_id: str) -> None:
    """Write the run's record as the index holds it now, if the run has a folder."""
    if not run_dir.is_dir():
        return  # not a run of this store's folders (or removed); nothing to keep beside it
    record = record_of(conn, run_id)
    if record is not None:
        write_atomic(run_dir / RECORD_FILE, record)


def end_in_record(run_dir: Path, status: str, end_time: int, exit_code: int | None) -> None:
    """The run's end, written into its record alone: the index could not take it (damaged),
    and a repair then finds the run ended as it did, not RUNNING."""
    record = read_json(run_dir / RECORD_FILE)
    if record is not None:
        record.update(status=status, end_time=end_time, exit_code=exit_code)
        write_atomic(run_dir / RECORD_FILE, record)


def held_here(conn: sqlite3.Connection, run_id: str) -> bool:
    """True while a local process holds the run RUNNING: it writes the record at the end."""
    row = conn.execute("SELECT status, pid FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return row is not None and row[0] == "RUNNING" and row[1] is not None


def save_experiments(conn: sqlite3.Connection, root: Path) -> None:
    """Keep the experiments' ids and names beside the runs (experiments without runs too)."""
    rows = conn.execute(
        "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
        "ORDER BY experiment_id"
    ).fetchall()
    write_atomic(
        root / EXPERIMENTS_FILE,
        {
            "schema": EXPERIMENTS_SCHEMA,
            "experiments": [
                {"experiment_id": str(i), "name": n, "lifecycle_stage": s, "creation_time": t}
                for i, n, s, t in rows
            ],
        },
    )


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None (missing, unreadable, not an object)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
