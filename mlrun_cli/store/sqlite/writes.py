"""Writing runs to the embedded store: creating them, logging to them, ending them.

Each run's record is kept in its folder too (`record`), written in the same transaction.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence

from mlrun_cli.store.base import Metric, NewRun, ParamConflict
from mlrun_cli.store.sqlite.connection import Database, now_ms, transaction
from mlrun_cli.store.sqlite.damage import StoreDamaged
from mlrun_cli.store.sqlite.record import (
    RECORD_FILE,
    end_in_record,
    experiment_name,
    held_here,
    record_of_new,
    save_record,
    write_atomic,
)


class RunWrites(Database):
    """Each write is one short transaction (see `transaction`)."""

    def create_runs(self, news: Sequence[NewRun]) -> None:
        """Create many runs (a sweep's trials) in one transaction."""
        with transaction(self.writer()) as conn:
            names: dict[str, str | None] = {}
            for new in news:
                conn.execute(
                    "INSERT INTO runs (run_id, experiment_id, name, status, start_time, user, "
                    "command, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.run_id,
                        int(new.experiment_id),
                        new.name,
                        new.status,
                        new.start_time,
                        new.user,
                        new.command,
                        new.pid,
                        new.host,
                    ),
                )
                conn.executemany(
                    "INSERT INTO params VALUES (?, ?, ?)",
                    [(new.run_id, k, str(v)) for k, v in new.params.items()],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                    [(new.run_id, k, str(v)) for k, v in new.tags.items()],
                )
            # The folders (and records) last, once every insert has succeeded: a folder is
            # never made for a run the index refused.
            for new in news:
                exp = str(new.experiment_id)
                if exp not in names:
                    names[exp] = experiment_name(conn, exp)
                self.artifact_dir(new.run_id).mkdir(parents=True, exist_ok=True)
                write_atomic(self.run_dir(new.run_id) / RECORD_FILE, record_of_new(new, names[exp]))

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[Metric] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Record params, metrics and tags in one transaction.

        A param already logged with another value raises `ParamConflict` and nothing is written.
        """
        with transaction(self.writer()) as conn:
            for key, value in (params or {}).items():
                row = conn.execute(
                    "SELECT value FROM params WHERE run_id = ? AND key = ?", (run_id, key)
                ).fetchone()
                if row is None:
                    conn.execute("INSERT INTO params VALUES (?, ?, ?)", (run_id, key, str(value)))
                elif row[0] != str(value):
                    raise ParamConflict(
                        f"param {key!r} of run {run_id} was already logged as {row[0]!r}; "
                        f"cannot change it to {str(value)!r}"
                    )
            if tags:
                conn.executemany(
                    "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                    [(run_id, k, str(v)) for k, v in tags.items()],
                )
            if metrics:
                rows = [
                    (
                        run_id,
                        m.key,
                        None if math.isnan(m.value) else m.value,
                        m.step,
                        m.timestamp or now_ms(),
                    )
                    for m in metrics
                ]
                conn.executemany(
                    "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (*row, m.model_id, m.dataset_name, m.dataset_digest)
                        for row, m in zip(rows, metrics, strict=True)
                    ],
                )
                # MLflow's "latest": the highest step, then the newest timestamp.
                conn.executemany(
                    "INSERT INTO latest_metrics VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
                    "step = excluded.step, timestamp = excluded.timestamp "
                    "WHERE excluded.step > latest_metrics.step OR (excluded.step = "
                    "latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)",
                    rows,
                )
            if (params or tags) and not held_here(conn, run_id):
                self.keep_record(conn, run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        with transaction(self.writer()) as conn:
            conn.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (run_id, key))
            if not held_here(conn, run_id):
                self.keep_record(conn, run_id)

    def set_status(self, run_id: str, status: str) -> None:
        with transaction(self.writer()) as conn:
            conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))
            self.keep_record(conn, run_id)

    def set_terminated(
        self, run_id: str, status: str, end_time: int, exit_code: int | None
    ) -> None:
        try:
            with transaction(self.writer()) as conn:
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = ?, exit_code = ? WHERE run_id = ?",
                    (status, end_time, exit_code, run_id),
                )
                self.keep_record(conn, run_id)
        except StoreDamaged:
            end_in_record(self.run_dir(run_id), status, end_time, exit_code)
            raise

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        with transaction(self.writer()) as conn:
            conn.execute("UPDATE runs SET lifecycle_stage = ? WHERE run_id = ?", (stage, run_id))
            self.keep_record(conn, run_id)

    def set_command(self, run_id: str, command: str) -> None:
        with transaction(self.writer()) as conn:
            conn.execute("UPDATE runs SET command = ? WHERE run_id = ?", (command, run_id))
            self.keep_record(conn, run_id)

    def keep_record(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Rewrite the run's record in its folder (inside the caller's transaction)."""
        save_record(conn, self.run_dir(run_id), run_id)
