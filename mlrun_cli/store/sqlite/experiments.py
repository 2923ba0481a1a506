"""Experiments of the embedded store."""

from __future__ import annotations

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import Experiment
from mlrun_cli.store.sqlite.connection import Database, now_ms, transaction
from mlrun_cli.store.sqlite.record import save_experiments

_COLUMNS = "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments"


class ExperimentTable(Database):
    """Reads and writes of the ``experiments`` table."""

    def get_experiment(self, experiment_id: str) -> Experiment:
        row = None
        if str(experiment_id).isdigit():
            row = self.conn.execute(
                f"{_COLUMNS} WHERE experiment_id = ?", (int(experiment_id),)
            ).fetchone()
        if row is None:
            raise TrackingError(
                f"no experiment with id {experiment_id!r} in {self.root}; "
                "see 'mlrun experiments list'"
            )
        return Experiment(str(row[0]), row[1], row[2], row[3])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        row = self.conn.execute(f"{_COLUMNS} WHERE name = ?", (name,)).fetchone()
        return Experiment(str(row[0]), row[1], row[2], row[3]) if row else None

    def create_experiment(self, name: str) -> Experiment:
        with transaction(self.writer()) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments (name, creation_time, last_update_time) "
                "VALUES (?, ?, ?)",
                (name, now_ms(), now_ms()),
            )
            save_experiments(conn, self.root)  # names kept beside the runs, for a repair
        exp = self.get_experiment_by_name(name)
        assert exp is not None
        return exp

    def ensure_experiment(self, experiment_id: str, name: str) -> None:
        """Create experiment `experiment_id` named `name` unless that id or name exists.

        A node's scratch copy of a run keeps the experiment id of the submitting store, so
        what the command reads back names the same experiment.
        """
        now = now_ms()
        with transaction(self.writer()) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments VALUES (?, ?, 'active', ?, ?)",
                (int(experiment_id), name, now, now),
            )
            save_experiments(conn, self.root)

    def list_experiments(self) -> list[Experiment]:
        rows = self.conn.execute(f"{_COLUMNS} ORDER BY experiment_id").fetchall()
        return [Experiment(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        exp = self.get_experiment(experiment_id)
        if self.get_experiment_by_name(name) is not None:
            raise TrackingError(f"an experiment named {name!r} exists already; pick another name")
        with transaction(self.writer()) as conn:
            conn.execute(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                (name, now_ms(), int(exp.experiment_id)),
            )
            save_experiments(conn, self.root)
        return self.get_experiment(exp.experiment_id)
