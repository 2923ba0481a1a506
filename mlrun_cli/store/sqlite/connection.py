"""The embedded store's database file: its schema, opening it, and write transactions.

Many `mlrun` processes may write at once (a sweep, a CI matrix, a child logging through the
runner), so the database runs in WAL mode with a long busy timeout, every write is one short
``BEGIN IMMEDIATE`` transaction, and the schema is created under the same lock, checked again
after taking it.

The store's folder and its database are created by the first write only: a command that only
reads a store that does not exist yet reads an empty stand-in in memory and leaves nothing
behind. A database that is missing or empty while run folders remain is not silently started
afresh (that would hide every run): see `damage`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from mlrun_cli.store.sqlite.damage import (
    GuardedConnection,
    check_not_gone,
    registry_records,
    run_folders,
)

# 1: runs, metrics, logged models; 2: the model registry (registered models, their versions,
# aliases and tags); 3: each registered model also kept in a record file beside the index
# (`registry_record`), the same tables. A store of an earlier schema is upgraded by its first
# write (every table is created IF NOT EXISTS, so the upgrade is the creation of the missing
# ones, and from 2 the writing of every model's record); read-only, it is read as it is, with
# the tables it lacks empty.
SCHEMA_VERSION = 3
REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS registered_models (
    name TEXT PRIMARY KEY,
    creation_time INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    next_version INTEGER NOT NULL DEFAULT 1  -- numbers of deleted versions are never reused
);
CREATE TABLE IF NOT EXISTS registered_model_tags (
    name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    creation_time INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    current_stage TEXT NOT NULL DEFAULT 'None',
    source TEXT NOT NULL,
    run_id TEXT,
    model_id TEXT,
    run_link TEXT,
    storage_location TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions (run_id);
CREATE TABLE IF NOT EXISTS model_version_tags (
    name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (name, version, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registered_model_aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
) WITHOUT ROWID;
"""
SCHEMA = (
    REGISTRY_SCHEMA
    + """
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
)


def now_ms() -> int:
    """Milliseconds since the epoch, as every time column holds."""
    return int(time.time() * 1000)


def read_only_uri(db_path: Path) -> str:
    """The SQLite URI opening `db_path` read-only (``%``, ``?`` and ``#`` escaped)."""
    path = str(db_path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{path}?mode=ro"


def connect(root: Path, db_path: Path, *, create: bool = True) -> sqlite3.Connection | None:
    """Open the database of the store at `root`; with `create`, create the store or its schema
    where missing. Without `create` (to read), read-only, and None where the database holds no
    schema yet.

    Read-only matters beyond refusing writes: the last read-write connection to close
    checkpoints the WAL into the database and removes it, which a command that only reads
    must not do (to a damaged file least of all: its WAL is part of what is kept).
    """
    try:
        if create:
            root.mkdir(parents=True, exist_ok=True)
            write_gitignore(root)
        conn = sqlite3.connect(
            db_path if create else read_only_uri(db_path),
            timeout=60.0,
            isolation_level=None,
            check_same_thread=False,
            factory=GuardedConnection,
            uri=not create,
        )
    except (OSError, sqlite3.Error) as exc:
        raise TrackingError(
            f"cannot open the store at {root}: {exc}; check the path and permissions"
        ) from None
    conn.root, conn.db_path = root, db_path
    try:
        conn.execute("PRAGMA busy_timeout = 60000")
        # In WAL mode NORMAL skips the fsync per commit; a committed write still survives the
        # process being killed (only a power loss can drop the last commits).
        if create:
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in MLflow; ILIKE lowers both
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            if not create and 0 < version < SCHEMA_VERSION:
                read_older(conn)
                return conn
            if not create and version < SCHEMA_VERSION:
                conn.close()
                return None
            if not create:
                raise TrackingError(
                    f"the store at {root} was written by a newer mlrun (schema {version}); "
                    "upgrade mlrun-cli"
                )
            create_schema(conn, root)
    except BaseException:
        conn.close()
        raise
    return conn


def stand_in() -> sqlite3.Connection:
    """An empty index in memory: what reading a store that does not exist yet sees."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA case_sensitive_like = ON")
    create_tables(conn)
    return conn


def read_older(conn: sqlite3.Connection) -> None:
    """Let a read-only connection to a store of an earlier schema read it unchanged: the
    tables that schema lacks are stand-ins in the connection's own temporary database, where
    SQLite looks first (the store's file is not touched). The tables it has are read."""
    have = {n for (n,) in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    for statement in REGISTRY_SCHEMA.split(";"):
        words = statement.split()
        if words[:2] == ["CREATE", "TABLE"] and words[5] not in have:
            conn.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))


def create_tables(conn: sqlite3.Connection) -> None:
    """The tables of SCHEMA_VERSION and the default experiment (in the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO experiments VALUES (?, ?, 'active', ?, ?)",
        (int(DEFAULT_EXPERIMENT_ID), DEFAULT_EXPERIMENT_NAME, now_ms(), now_ms()),
    )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def create_schema(conn: sqlite3.Connection, root: Path) -> None:
    """Create the tables of SCHEMA_VERSION; refuse a store written by a newer version, and
    refuse to start an empty index beside run folders (the old index is gone or emptied)."""
    db_path = root / "mlrun.db"
    # Before the file is touched at all (switching to WAL writes its header). The folders are
    # listed first, the version read after: a run's folder is made only once its run, and so
    # the schema, is committed (a registered model's record likewise), so this read sees the
    # schema unless the index was lost.
    remains = run_folders(root) or registry_records(root)
    if remains and conn.execute("PRAGMA user_version").fetchone()[0] == 0:
        check_not_gone(root, db_path)
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
                f"the store at {root} was written by a newer mlrun (schema {version}); "
                "upgrade mlrun-cli"
            )
        if version < SCHEMA_VERSION:
            # Run folders are made only after their run is committed (registry records after
            # their model), so folders beside an index without a schema (seen under the lock:
            # no other process is creating it) mean the index was lost, not that the store is
            # new. An earlier schema is upgraded in place: its tables stay, the missing ones
            # are created.
            if version == 0:
                check_not_gone(root, db_path)
            create_tables(conn)
            if version == 2:  # its registry was kept in the index alone until now
                from mlrun_cli.store.sqlite.registry_record import save_all

                save_all(conn, root)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back, never masking the error being handled (a damaged file may refuse this too)."""
    with suppress(sqlite3.Error, TrackingError):
        conn.execute("ROLLBACK")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` write transaction: committed at the end, rolled back on error.

    IMMEDIATE takes the write lock at once, so two writers never both read and then both
    try to upgrade (which SQLite answers with "database is locked" instead of waiting).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")


def write_gitignore(root: Path) -> None:
    """Keep the store out of git: it lives in the project directory by default."""
    target = root / ".gitignore"
    if target.exists():
        return
    tmp = root / f".gitignore.{os.getpid()}.tmp"
    tmp.write_text("# created by mlrun: the run store is never committed\n*\n")
    os.replace(tmp, target)


class Database:
    """The store's folder and its lazily opened connection, shared by the store's parts.

    The connection is opened on first use: `mlrun jobs` and the paths of a run need no
    database, and a process that never touches it never takes a lock. Reads use `conn`;
    every write goes through `writer()`, which creates the store on the first write: until
    then, reads of a store that does not exist see an empty stand-in and create nothing.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)
        self.shown = str(root)
        self.db_path = root / "mlrun.db"
        self._conn: sqlite3.Connection | None = None
        self._read_only = False  # `_conn` is read-only, or the stand-in of a store not made yet

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection to read with (opened, and the schema checked, on first use)."""
        if self._conn is None:
            conn = connect(self.root, self.db_path, create=False) if self.db_path.exists() else None
            if conn is None:
                check_not_gone(self.root, self.db_path)
                conn = stand_in()
            self._conn, self._read_only = conn, True
        return self._conn

    def writer(self) -> sqlite3.Connection:
        """The connection to write with: the store and its database are created if missing.
        From then on the process reads through it too."""
        if self._conn is None or self._read_only:
            conn = connect(self.root, self.db_path)
            assert conn is not None
            if self._conn is not None:
                self._conn.close()
            self._conn, self._read_only = conn, False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._read_only = False

    def run_dir(self, run_id: str) -> Path:
        """A local folder for the run: the events file, the output log, its artifacts."""
        return self.root / "runs" / run_id

    def artifact_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "artifacts"
