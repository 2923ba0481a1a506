"""What only the embedded store's index answers: runs by tag (a sweep's trials, submitted
jobs) and leases (which process on which host executes a run)."""

from __future__ import annotations

from collections.abc import Sequence

from mlrun_cli import tags
from mlrun_cli.store.sqlite.connection import Database, now_ms, transaction
from mlrun_cli.store.sqlite.record import save_record


class TagIndex(Database):
    """Runs found by their tags, and aggregates over them."""

    def tagged(self, key: str, value: str) -> list[str]:
        """Ids of runs with tag `key` = `value`."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT run_id FROM tags WHERE key = ? AND value = ?", (key, value)
            ).fetchall()
        ]

    def active_with_tag(self, key: str, run_ids: Sequence[str] | None = None) -> list[str]:
        """Ids of SCHEDULED or RUNNING runs that have tag `key` (among `run_ids` if given)."""
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT r.run_id FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = ? "
                "WHERE r.status IN ('SCHEDULED', 'RUNNING')",
                (key,),
            ).fetchall()
        ]
        if run_ids is not None:
            wanted = set(run_ids)
            ids = [i for i in ids if i in wanted]
        return ids

    def any_active_with_tag(self, key: str) -> bool:
        """True if a SCHEDULED or RUNNING run has tag `key` (e.g. a submitted job's id)."""
        row = self.conn.execute(
            "SELECT 1 FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = ? "
            "WHERE r.status IN ('SCHEDULED', 'RUNNING') LIMIT 1",
            (key,),
        ).fetchone()
        return row is not None

    def count_tagged_by_status(self, key: str, value: str) -> dict[str, int]:
        """How many runs with tag `key` = `value` are in each status."""
        rows = self.conn.execute(
            "SELECT r.status, COUNT(*) FROM runs r JOIN tags t ON t.run_id = r.run_id "
            "AND t.key = ? AND t.value = ? GROUP BY r.status",
            (key, value),
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def find_tagged(self, key: str, ref: str) -> list[str]:
        """Ids of runs with tag `key` whose id starts with `ref` or whose name is `ref`."""
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT r.run_id FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = ? "
                "WHERE r.run_id LIKE ? OR r.name = ?",
                (key, ref.lower() + "%", ref),
            ).fetchall()
        ]

    def metric_extremes(self, run_ids: Sequence[str], key: str, agg: str) -> dict[str, float]:
        """The min or max (`agg`) of metric `key` over each run's history."""
        # `agg` is spliced into the SQL, so it is checked against the two allowed words first.
        if agg not in ("min", "max"):
            raise ValueError(f"agg must be min or max, not {agg!r}")
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self.conn.execute(
            f"SELECT run_id, {agg.upper()}(value) FROM metrics WHERE key = ? "
            f"AND run_id IN ({marks}) GROUP BY run_id",
            (key, *run_ids),
        ).fetchall()
        return {str(rid): float(v) for rid, v in rows if v is not None}


class RunLeases(Database):
    """Who executes a run: the pid and host recorded on it, taken and handed over atomically."""

    def claim_trial(
        self, sweep_id: str, statuses: Sequence[str], pid: int, host: str
    ) -> str | None:
        """Atomically take the lowest-index trial of `sweep_id` in `statuses`: it becomes RUNNING.

        Two processes claiming at once never get the same trial (one write transaction).
        """
        marks = ",".join("?" * len(statuses))
        with transaction(self.writer()) as conn:
            row = conn.execute(
                "SELECT r.run_id FROM runs r "
                "JOIN tags t ON t.run_id = r.run_id AND t.key = ? AND t.value = ? "
                "JOIN tags i ON i.run_id = r.run_id AND i.key = ? "
                f"WHERE r.status IN ({marks}) ORDER BY CAST(i.value AS INTEGER) LIMIT 1",
                (tags.SWEEP_ID, sweep_id, tags.SWEEP_INDEX, *statuses),
            ).fetchone()
            if row is None:
                return None
            # Started now: a trial run again keeps nothing of its last attempt's times, so
            # the lost rule never takes that attempt's life for this one's.
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = ?, host = ?, start_time = ?, "
                "end_time = NULL, exit_code = NULL WHERE run_id = ?",
                (pid, host, now_ms(), row[0]),
            )
            save_record(conn, self.run_dir(row[0]), row[0])
            return str(row[0])

    def adopt_run(self, run_id: str, pid: int, host: str, start_time: int, command: str) -> None:
        """A claimed run is now executed by process `pid`: the lease moves to it."""
        with transaction(self.writer()) as conn:
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = ?, host = ?, start_time = ?, command = ? "
                "WHERE run_id = ?",
                (pid, host, start_time, command, run_id),
            )
            save_record(conn, self.run_dir(run_id), run_id)

    def mark_started(self, run_id: str, host: str, start_time: int) -> None:
        """A submitted run started on `host`; no local process holds it (pid stays empty)."""
        with transaction(self.writer()) as conn:
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = NULL, host = ?, start_time = ? "
                "WHERE run_id = ?",
                (host, start_time, run_id),
            )
            save_record(conn, self.run_dir(run_id), run_id)

    def requeue(self, run_id: str) -> None:
        """An ended run goes back to SCHEDULED as if never run: no end, exit code or holder."""
        with transaction(self.writer()) as conn:
            conn.execute(
                "UPDATE runs SET status = 'SCHEDULED', end_time = NULL, exit_code = NULL, "
                "pid = NULL, host = NULL WHERE run_id = ?",
                (run_id,),
            )
            save_record(conn, self.run_dir(run_id), run_id)

    def release(self, run_id: str) -> None:
        """No local process holds the run any more (a scheduler does): never found lost here."""
        with transaction(self.writer()) as conn:
            conn.execute("UPDATE runs SET pid = NULL WHERE run_id = ?", (run_id,))
            save_record(conn, self.run_dir(run_id), run_id)

    def running_here(self, host: str) -> list[tuple[str, int | None, int | None]]:
        """(run_id, pid, start_time) of RUNNING runs whose runner was on `host`."""
        rows = self.conn.execute(
            "SELECT run_id, pid, start_time FROM runs WHERE status = 'RUNNING' AND host = ?",
            (host,),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def run_owner(self, run_id: str) -> tuple[int | None, str | None]:
        """(pid, host) of the process that executes the run, where recorded."""
        row = self.conn.execute("SELECT pid, host FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)
