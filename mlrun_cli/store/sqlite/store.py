"""The embedded store: one SQLite database and a folder per run, in ``./.mlrun``.

Many `mlrun` processes may write at once (a sweep, a CI matrix, a child logging through the
runner), so the database runs in WAL mode with a long busy timeout, every write is one short
``BEGIN IMMEDIATE`` transaction, and the schema is created under the same lock, checked again
after taking it.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    Experiment,
    Metric,
    NewRun,
    ParamConflict,
    Run,
)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    creation_time INTEGER,
    last_update_time INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER,
    end_time INTEGER,
    exit_code INTEGER,
    user TEXT,
    command TEXT,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment_id, start_time DESC);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (start_time DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS params (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_key_value ON tags (key, value);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL, key TEXT NOT NULL,
    value REAL,  -- NULL stands for NaN, which SQLite cannot store
    step INTEGER NOT NULL DEFAULT 0, timestamp INTEGER NOT NULL,
    model_id TEXT, dataset_name TEXT, dataset_digest TEXT
);
CREATE INDEX IF NOT EXISTS metrics_by_run_key ON metrics (run_id, key, step);
CREATE TABLE IF NOT EXISTS latest_metrics (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value REAL,
    step INTEGER NOT NULL, timestamp INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS latest_metrics_by_key ON latest_metrics (key, value);
CREATE TABLE IF NOT EXISTS logged_models (
    model_id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    source_run_id TEXT,
    status TEXT NOT NULL,
    model_type TEXT,
    creation_time INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    artifact_location TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logged_models_by_name ON logged_models (experiment_id, name);
CREATE TABLE IF NOT EXISTS logged_model_params (
    model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, source_type TEXT,
    source TEXT, schema TEXT, profile TEXT, tags TEXT,
    PRIMARY KEY (run_id, name, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_outputs (
    run_id TEXT NOT NULL, model_id TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, model_id)
) WITHOUT ROWID;
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class SqliteStore:
    """The embedded store. Safe for many concurrent processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)
        self.shown = str(root)
        self.db_path = root / "mlrun.db"
        self._conn: sqlite3.Connection | None = None

    # -- connection and schema ---------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _write_gitignore(self.root)
            conn = sqlite3.connect(
                self.db_path, timeout=60.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise TrackingError(
                f"cannot open the store at {self.root}: {exc}; check the path and permissions"
            ) from None
        conn.execute("PRAGMA busy_timeout = 60000")
        # In WAL mode NORMAL skips the fsync per commit; a committed write still survives the
        # process being killed (only a power loss can drop the last commits).
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in MLflow; ILIKE lowers both
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            self._create_schema(conn)
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # journal_mode is a property of the file; switching it needs no transaction, and a
        # concurrent switch by another process is harmless (both ask for WAL).
        for _ in range(50):
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.05)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Checked again under the lock: another process may have created it meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise TrackingError(
                    f"the store at {self.root} was written by a newer mlrun (schema {version}); "
                    "upgrade mlrun-cli"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO experiments VALUES (?, ?, 'active', ?, ?)",
                    (int(DEFAULT_EXPERIMENT_ID), DEFAULT_EXPERIMENT_NAME, _now_ms(), _now_ms()),
                )
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- experiments -------------------------------------------------------------------------

    def get_experiment(self, experiment_id: str) -> Experiment:
        row = None
        if str(experiment_id).isdigit():
            row = self.conn.execute(
                "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
                "WHERE experiment_id = ?",
                (int(experiment_id),),
            ).fetchone()
        if row is None:
            raise TrackingError(
                f"no experiment with id {experiment_id!r} in {self.root}; "
                "see 'mlrun experiments list'"
            )
        return Experiment(str(row[0]), row[1], row[2], row[3])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        row = self.conn.execute(
            "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
            "WHERE name = ?",
            (name,),
        ).fetchone()
        return Experiment(str(row[0]), row[1], row[2], row[3]) if row else None

    def create_experiment(self, name: str) -> Experiment:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments (name, creation_time, last_update_time) "
                "VALUES (?, ?, ?)",
                (name, _now_ms(), _now_ms()),
            )
        exp = self.get_experiment_by_name(name)
        assert exp is not None
        return exp

    def list_experiments(self) -> list[Experiment]:
        rows = self.conn.execute(
            "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
            "ORDER BY experiment_id"
        ).fetchall()
        return [Experiment(str(r[0]), r[1], r[2], r[3]) for r in rows]

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> Run:
        self.create_runs([new])
        return self.get_run(new.run_id)

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
        with self._write() as conn:
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
                        m.timestamp or _now_ms(),
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

    def create_runs(self, news: Sequence[NewRun]) -> None:
        """Create many runs (a sweep's trials) in one transaction."""
        with self._write() as conn:
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
        for new in news:
            self.artifact_dir(new.run_id).mkdir(parents=True, exist_ok=True)

    def tagged(self, key: str, value: str) -> list[str]:
        """Ids of runs with tag `key` = `value`."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT run_id FROM tags WHERE key = ? AND value = ?", (key, value)
            ).fetchall()
        ]

    def claim_trial(
        self, sweep_id: str, statuses: Sequence[str], pid: int, host: str
    ) -> str | None:
        """Atomically take the lowest-index trial of `sweep_id` in `statuses`: it becomes RUNNING.

        Two processes claiming at once never get the same trial (one write transaction).
        """
        marks = ",".join("?" * len(statuses))
        with self._write() as conn:
            row = conn.execute(
                "SELECT r.run_id FROM runs r "
                "JOIN tags t ON t.run_id = r.run_id AND t.key = 'mlrun.sweep.id' AND t.value = ? "
                "JOIN tags i ON i.run_id = r.run_id AND i.key = 'mlrun.sweep.index' "
                f"WHERE r.status IN ({marks}) ORDER BY CAST(i.value AS INTEGER) LIMIT 1",
                (sweep_id, *statuses),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = ?, host = ?, end_time = NULL, "
                "exit_code = NULL WHERE run_id = ?",
                (pid, host, row[0]),
            )
            return str(row[0])

    def adopt_run(self, run_id: str, pid: int, host: str, start_time: int, command: str) -> None:
        """A claimed run is now executed by process `pid`: the lease moves to it."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = ?, host = ?, start_time = ?, command = ? "
                "WHERE run_id = ?",
                (pid, host, start_time, command, run_id),
            )

    def mark_started(self, run_id: str, host: str, start_time: int) -> None:
        """A submitted run started on `host`; no local process holds it (pid stays empty)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = 'RUNNING', pid = NULL, host = ?, start_time = ? "
                "WHERE run_id = ?",
                (host, start_time, run_id),
            )

    def index(self) -> SqliteStore:
        return self

    def server(self) -> None:
        return None

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

    def any_active_with_tag(self, key: str) -> bool:
        """True if a SCHEDULED or RUNNING run has tag `key` (e.g. a submitted job's id)."""
        row = self.conn.execute(
            "SELECT 1 FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = ? "
            "WHERE r.status IN ('SCHEDULED', 'RUNNING') LIMIT 1",
            (key,),
        ).fetchone()
        return row is not None

    def set_command(self, run_id: str, command: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET command = ? WHERE run_id = ?", (command, run_id))

    def release(self, run_id: str) -> None:
        """No local process holds the run any more (a scheduler does): never found lost here."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET pid = NULL WHERE run_id = ?", (run_id,))

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (run_id, key))

    def set_status(self, run_id: str, status: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def set_terminated(
        self, run_id: str, status: str, end_time: int, exit_code: int | None
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, end_time = ?, exit_code = ? WHERE run_id = ?",
                (status, end_time, exit_code, run_id),
            )

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        exp = self.get_experiment(experiment_id)
        if self.get_experiment_by_name(name) is not None:
            raise TrackingError(f"an experiment named {name!r} exists already; pick another name")
        with self._write() as conn:
            conn.execute(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                (name, _now_ms(), int(exp.experiment_id)),
            )
        return self.get_experiment(exp.experiment_id)

    def running_here(self, host: str) -> list[tuple[str, int | None, int | None]]:
        """(run_id, pid, start_time) of RUNNING runs whose runner was on `host`."""
        rows = self.conn.execute(
            "SELECT run_id, pid, start_time FROM runs WHERE status = 'RUNNING' AND host = ?",
            (host,),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET lifecycle_stage = ? WHERE run_id = ?", (stage, run_id))

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run `run_id` names: the id itself or a unique prefix of it."""
        if not run_id or not all(c in "0123456789abcdef" for c in run_id.lower()):
            raise TrackingError(f"{run_id!r} is not a run id; see 'mlrun runs list'")
        rows = self.conn.execute(
            "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? LIMIT 2",
            (run_id.lower(), run_id.lower() + "g"),
        ).fetchall()
        if not rows:
            raise TrackingError(f"no run {run_id!r} in {self.root}; see 'mlrun runs list'")
        if len(rows) > 1:
            raise TrackingError(
                f"run id prefix {run_id!r} is ambiguous in {self.root}; give more characters"
            )
        return str(rows[0][0])

    def get_run(self, run_id: str) -> Run:
        full = self.resolve_run_id(run_id)
        runs = self.load_runs([full])
        return runs[0]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        include_deleted: bool = False,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching the filter (MLflow's grammar), newest first unless ordered otherwise."""
        from mlrun_cli.store.filters import order_sql, parse_filter, parse_order_by, to_sql

        where: list[str] = []
        args: list[object] = []
        if experiment_ids:
            where.append(f"runs.experiment_id IN ({','.join('?' * len(experiment_ids))})")
            args += [int(e) for e in experiment_ids]
        if statuses:
            where.append(f"runs.status IN ({','.join('?' * len(statuses))})")
            args += list(statuses)
        if not include_deleted:
            where.append("runs.lifecycle_stage = 'active'")
        clauses = parse_filter(filter_string)
        if clauses:
            fragment, fargs = to_sql(clauses)
            where.append(fragment)
            args += fargs
        order, oargs = order_sql(parse_order_by(order_by))
        sql = "SELECT runs.run_id FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        ids = [r[0] for r in self.conn.execute(sql, [*args, *oargs, limit, offset]).fetchall()]
        return self.load_runs(ids)

    def load_runs(self, ids: Sequence[str]) -> list[Run]:
        """The runs with these full ids, in that order, with params, tags and latest metrics."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        conn = self.conn
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, Metric]] = {i: {} for i in ids}
        for rid, k, v in conn.execute(
            f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks})", ids
        ):
            params[rid][k] = v
        for rid, k, v in conn.execute(
            f"SELECT run_id, key, value FROM tags WHERE run_id IN ({marks})", ids
        ):
            tags[rid][k] = v
        for rid, k, v, step, ts in conn.execute(
            f"SELECT run_id, key, value, step, timestamp FROM latest_metrics "
            f"WHERE run_id IN ({marks})",
            ids,
        ):
            metrics[rid][k] = Metric(k, math.nan if v is None else v, step, ts)
        rows = {
            r[0]: r
            for r in conn.execute(
                "SELECT run_id, experiment_id, name, status, start_time, end_time, exit_code, "
                f"user, command, lifecycle_stage FROM runs WHERE run_id IN ({marks})",
                ids,
            )
        }
        result = []
        for rid in ids:
            r = rows[rid]
            result.append(
                Run(
                    run_id=rid,
                    experiment_id=str(r[1]),
                    name=r[2],
                    status=r[3],
                    start_time=r[4],
                    end_time=r[5],
                    exit_code=r[6],
                    user=r[7],
                    command=r[8],
                    lifecycle_stage=r[9],
                    artifact_uri=str(self.artifact_dir(rid)),
                    params=params[rid],
                    tags=tags[rid],
                    metrics=metrics[rid],
                )
            )
        return result

    def run_owner(self, run_id: str) -> tuple[int | None, str | None]:
        row = self.conn.execute("SELECT pid, host FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        rows = self.conn.execute(
            "SELECT value, step, timestamp, model_id, dataset_name, dataset_digest FROM metrics "
            "WHERE run_id = ? AND key = ? ORDER BY step, timestamp, rowid",
            (run_id, key),
        ).fetchall()
        return [
            Metric(key, math.nan if v is None else v, s, t, m, dn, dd)
            for v, s, t, m, dn, dd in rows
        ]

    # -- MLflow 3 logged models, dataset inputs, model outputs --------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> dict[str, object]:
        model_id = "m-" + os.urandom(16).hex()
        location = self.root / "models" / model_id / "artifacts"
        location.mkdir(parents=True, exist_ok=True)
        now = _now_ms()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO logged_models VALUES (?, ?, ?, ?, 'LOGGED_MODEL_PENDING', ?, ?, ?, ?)",
                (
                    model_id,
                    int(experiment_id),
                    name,
                    source_run_id,
                    model_type,
                    now,
                    now,
                    str(location),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_params VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in params.items()],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_tags VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in tags.items()],
            )
        model = self.get_logged_model(model_id)
        assert model is not None
        return model

    def get_logged_model(self, model_id: str) -> dict[str, object] | None:
        row = self.conn.execute(
            "SELECT model_id, experiment_id, name, source_run_id, status, model_type, "
            "creation_time, last_updated, artifact_location FROM logged_models WHERE model_id = ?",
            (model_id,),
        ).fetchone()
        if row is None:
            return None
        keys = (
            "model_id",
            "experiment_id",
            "name",
            "source_run_id",
            "status",
            "model_type",
            "creation_time",
            "last_updated",
            "artifact_location",
        )
        model: dict[str, object] = dict(zip(keys, row, strict=True))
        model["experiment_id"] = str(model["experiment_id"])
        model["params"] = dict(
            self.conn.execute(
                "SELECT key, value FROM logged_model_params WHERE model_id = ?", (model_id,)
            ).fetchall()
        )
        model["tags"] = dict(
            self.conn.execute(
                "SELECT key, value FROM logged_model_tags WHERE model_id = ?", (model_id,)
            ).fetchall()
        )
        return model

    def update_logged_model(
        self, model_id: str, status: str | None = None, tags: Mapping[str, str] | None = None
    ) -> None:
        with self._write() as conn:
            if status:
                conn.execute(
                    "UPDATE logged_models SET status = ?, last_updated = ? WHERE model_id = ?",
                    (status, _now_ms(), model_id),
                )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_tags VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in (tags or {}).items()],
            )

    def search_logged_models(
        self, experiment_ids: Sequence[str], equals: Mapping[str, str]
    ) -> list[dict[str, object]]:
        """Logged models of the experiments whose columns equal `equals` (name, source_run_id)."""
        where = (
            [f"experiment_id IN ({','.join('?' * len(experiment_ids))})"] if experiment_ids else []
        )
        args: list[object] = [int(e) for e in experiment_ids]
        for column, value in equals.items():
            if column not in ("name", "source_run_id", "status", "model_id", "model_type"):
                raise TrackingError(f"cannot search logged models by {column!r}")
            where.append(f"{column} = ?")
            args.append(value)
        sql = "SELECT model_id FROM logged_models"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY creation_time DESC"
        found = []
        for (mid,) in self.conn.execute(sql, args).fetchall():
            model = self.get_logged_model(mid)
            if model is not None:
                found.append(model)
        return found

    def log_inputs(self, run_id: str, datasets: Sequence[Mapping[str, object]]) -> None:
        import json

        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        str(d.get("name") or ""),
                        str(d.get("digest") or ""),
                        d.get("source_type"),
                        d.get("source"),
                        d.get("schema"),
                        d.get("profile"),
                        json.dumps(d.get("tags") or []),
                    )
                    for d in datasets
                ],
            )

    def run_inputs(self, run_id: str) -> list[dict[str, object]]:
        import json

        rows = self.conn.execute(
            "SELECT name, digest, source_type, source, schema, profile, tags FROM run_inputs "
            "WHERE run_id = ? ORDER BY name",
            (run_id,),
        ).fetchall()
        return [
            {
                "name": r[0],
                "digest": r[1],
                "source_type": r[2],
                "source": r[3],
                "schema": r[4],
                "profile": r[5],
                "tags": json.loads(r[6] or "[]"),
            }
            for r in rows
        ]

    def log_outputs(self, run_id: str, models: Sequence[tuple[str, int]]) -> None:
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_outputs VALUES (?, ?, ?)",
                [(run_id, mid, step) for mid, step in models],
            )

    def run_outputs(self, run_id: str) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in self.conn.execute(
                "SELECT model_id, step FROM run_outputs WHERE run_id = ? ORDER BY model_id",
                (run_id,),
            ).fetchall()
        ]

    def run_models(self, run_id: str) -> list[dict[str, object]]:
        """Logged models of a run: created by it, or named as its outputs."""
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT model_id FROM logged_models WHERE source_run_id = ? "
                "UNION SELECT model_id FROM run_outputs WHERE run_id = ?",
                (run_id, run_id),
            ).fetchall()
        ]
        return [m for m in (self.get_logged_model(i) for i in sorted(ids)) if m is not None]

    # -- files -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def artifact_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "artifacts"


def _write_gitignore(root: Path) -> None:
    target = root / ".gitignore"
    if target.exists():
        return
    tmp = root / f".gitignore.{os.getpid()}.tmp"
    tmp.write_text("# created by mlrun: the run store is never committed\n*\n")
    os.replace(tmp, target)
