"""Rebuild the embedded store's index (``mlrun.db``) from its run folders.

The run folders are the second copy of what the index holds: each keeps its run's record
(``run.json``, see `record`), its events file and its artifacts. `repair_store`:

- checks the index (read-only: the file, its WAL and its shared-memory index are left as
  they are) and, if it is missing, empty or damaged, builds a new one beside it from every
  run folder, moves the damaged file (and its ``-wal``/``-shm``) aside as
  ``mlrun.db.damaged-<time>``, never deleting it, and renames the new index into place;
- on an index that is healthy, adds the runs whose folders it lacks and records the end of
  runs it still has as active while their record says they ended. A second repair therefore
  finds nothing to do.

A run folder without ``run.json`` (recorded by an earlier version) is recovered from what it
holds (the id, the events file, the cluster job files, file times) and tagged
``mlrun.recovered=partial``. Metric history comes from the events file where there is one;
the record's latest values are kept either way.

The model registry is rebuilt the same way from its records (``registry/*.json``, see
`registry_record`): every registered model with its versions, stages, tags, aliases and next
version number. On a healthy index, the models it lacks are added and the records of those
it has are written where they are missing or stale. An index of schema 2 kept its registry
in the database alone: if it is damaged, its registered models cannot be rebuilt, and the
report says so (they remain in the file moved aside).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import TERMINAL
from mlrun_cli.store.sqlite.connection import (
    SCHEMA_VERSION,
    connect,
    create_tables,
    read_only_uri,
    transaction,
    write_gitignore,
)
from mlrun_cli.store.sqlite.damage import registry_records, run_folders
from mlrun_cli.store.sqlite.record import RECORD_FILE, save_experiments, write_atomic
from mlrun_cli.store.sqlite.recover import (
    Recovered,
    experiments_of,
    insert_experiments,
    insert_run,
    record_end,
    recover_folder,
)
from mlrun_cli.store.sqlite.registry_record import (
    REGISTRY_DIR,
    insert_model,
    read_records,
    save_all,
)
from mlrun_cli.values import replace, valueclass

_SIDE_FILES = ("-wal", "-shm", "-journal")


@valueclass
class RepairReport:
    """What `repair_store` found and did."""

    root: Path
    db_path: Path
    damage: str | None  # why the index was rebuilt; None: it was healthy (or there was none)
    moved: tuple[Path, ...]  # the damaged index and its side files, as moved aside
    folders: int  # run folders found
    full: int  # runs re-created from their run.json
    partial: int  # runs re-created from what their folder holds (no or unreadable run.json)
    updated: int  # runs of a healthy index whose end was taken from their run.json
    experiments: int  # experiments in the rebuilt index; of a healthy one, those added
    metric_points: int  # metric points re-created
    problems: tuple[str, ...]
    models: int = 0  # registered models re-created from their records (added, if healthy)
    versions: int = 0  # their versions
    records: int = 0  # registry records a healthy index wrote (missing or stale)


def repair_store(root: Path) -> RepairReport:
    """Check the index of the store at `root` and rebuild or complete it from the run folders."""
    root = root.absolute()
    db_path = root / "mlrun.db"
    if not root.is_dir():
        raise TrackingError(
            f"no store at {root}; nothing to repair (pass the store's directory with "
            "--tracking-uri)"
        )
    with _locked(root):
        folders = run_folders(root)
        if not db_path.exists() and not folders and not registry_records(root):
            return RepairReport(root, db_path, None, (), 0, 0, 0, 0, 0, 0, ())
        damage = diagnose(db_path)
        if damage is None:
            return _complete(root, db_path, folders)
        return _rebuild(root, db_path, folders, damage)


def diagnose(db_path: Path) -> str | None:
    """Why the index at `db_path` cannot serve (missing, empty, damaged), or None if healthy.

    Opened read-only: a damaged file and its WAL are not changed by looking at them.
    """
    if not db_path.exists():
        return "it is missing"
    wal = Path(f"{db_path}-wal")
    if db_path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        return "it is empty (0 bytes)"
    try:
        conn = sqlite3.connect(read_only_uri(db_path), uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise TrackingError(
                f"the store at {db_path.parent} was written by a newer mlrun (schema "
                f"{version}); upgrade mlrun-cli before repairing it"
            )
        if version == 0:
            return "it holds no tables"
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    if [tuple(r) for r in rows] == [("ok",)]:
        return None
    lines = [ln for r in rows for ln in str(r[0]).splitlines() if not ln.startswith("***")]
    return f"integrity check: {lines[0] if lines else 'failed'}"


def _rebuild(root: Path, db_path: Path, folders: Sequence[Path], damage: str) -> RepairReport:
    """A new index from the folders, built beside the old one and renamed into place."""
    recovered = [recover_folder(f) for f in folders]
    experiments = experiments_of(root, recovered)
    models, problems = read_records(root)
    schema = schema_of(db_path)
    _remove_stale_builds(root)
    build = root / f".mlrun.db.rebuild-{os.getpid()}"
    conn = sqlite3.connect(build, isolation_level=None)
    try:
        conn.execute("BEGIN")
        create_tables(conn)
        insert_experiments(conn, experiments)
        points = sum(insert_run(conn, r) for r in recovered)
        versions = sum(insert_model(conn, m) for m in models)
        n_experiments = conn.execute("SELECT COUNT(*) FROM experiments").fetchone()[0]
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")  # as every store: many writers at once
    except BaseException:
        conn.close()
        _remove_build(build)
        raise
    conn.close()  # the last connection: its WAL is checkpointed and removed
    if any(Path(f"{build}{s}").exists() for s in _SIDE_FILES):
        _remove_build(build)
        raise TrackingError(f"could not finish the new index at {build}; the store is unchanged")
    moved = move_aside(db_path)
    os.replace(build, db_path)
    write_gitignore(root)
    _keep_records(recovered)
    _save_experiments(root, db_path)
    if schema == 2 and moved:
        problems.append(
            f"the damaged index was written before registered models were kept in {REGISTRY_DIR}/ "
            "beside it (schema 2): its registered models cannot be rebuilt from the store's "
            f"folders; they remain only in {moved[0].name}"
        )
    report = _report(
        root, db_path, damage, tuple(moved), folders, recovered, 0, n_experiments, points
    )
    return replace(
        report, models=len(models), versions=versions, problems=(*report.problems, *problems)
    )


def _complete(root: Path, db_path: Path, folders: Sequence[Path]) -> RepairReport:
    """A healthy index: add the runs it lacks, record the ends it missed."""
    conn = connect(root, db_path)
    assert conn is not None
    try:
        known = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        missing = [recover_folder(f) for f in folders if f.name not in known]
        ended = [
            r
            for r in (
                recover_folder(f) for f in folders if known.get(f.name) not in (None, *TERMINAL)
            )
            if r.full and r.record["status"] in TERMINAL
        ]
        points = 0
        with transaction(conn):
            n_experiments = insert_experiments(conn, experiments_of(root, missing), only_new=True)
            for r in missing:
                points += insert_run(conn, r)
            for r in ended:
                record_end(conn, r)
            # Read under the write lock: a model deleted meanwhile has no record left.
            models, problems = read_records(root)
            added = [(m, insert_model(conn, m)) for m in models]
            added = [(m, n) for m, n in added if n >= 0]  # -1: the index has it
            records = save_all(conn, root)  # where missing or stale
    finally:
        conn.close()
    _keep_records(missing)
    if missing:
        _save_experiments(root, db_path)
    report = _report(root, db_path, None, (), folders, missing, len(ended), n_experiments, points)
    return replace(
        report,
        models=len(added),
        versions=sum(n for _, n in added),
        records=records,
        problems=(*report.problems, *problems),
    )


def _report(
    root: Path,
    db_path: Path,
    damage: str | None,
    moved: tuple[Path, ...],
    folders: Sequence[Path],
    recovered: Sequence[Recovered],
    updated: int,
    experiments: int,
    points: int,
) -> RepairReport:
    full = sum(1 for r in recovered if r.full)
    return RepairReport(
        root=root,
        db_path=db_path,
        damage=damage,
        moved=moved,
        folders=len(folders),
        full=full,
        partial=len(recovered) - full,
        updated=updated,
        experiments=experiments,
        metric_points=points,
        problems=tuple(p for r in recovered for p in r.problems),
    )


def schema_of(db_path: Path) -> int | None:
    """The schema version in the header of the database file at `db_path` (None where the
    header is not SQLite's): read from the bytes, so a damaged file still tells it."""
    try:
        with open(db_path, "rb") as f:
            head = f.read(100)
    except OSError:
        return None
    if len(head) < 64 or not head.startswith(b"SQLite format 3\x00"):
        return None
    return int.from_bytes(head[60:64], "big")  # the header's "user version" field


def move_aside(db_path: Path) -> list[Path]:
    """Move the index and its side files to ``<name>.damaged-<time>``; the new names."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    n = 1
    while any(Path(f"{base}{s}").exists() for s in ("", *_SIDE_FILES)):
        base = db_path.with_name(f"{db_path.name}.damaged-{stamp}-{n}")
        n += 1
    moved = []
    # The WAL goes with its database: a stale WAL beside the new index would be replayed
    # into it. The names keep SQLite's pattern, so the copy opens with its WAL.
    for suffix in ("", *_SIDE_FILES):
        src = Path(f"{db_path}{suffix}")
        if src.exists():
            dest = Path(f"{base}{suffix}")
            os.replace(src, dest)
            moved.append(dest)
    return moved


def _keep_records(recovered: Sequence[Recovered]) -> None:
    """Write run.json where the run had none: a later repair recovers it the same way."""
    for r in recovered:
        if not r.full:
            write_atomic(r.folder / RECORD_FILE, r.record)


def _save_experiments(root: Path, db_path: Path) -> None:
    conn = connect(root, db_path)
    assert conn is not None
    try:
        save_experiments(conn, root)
    finally:
        conn.close()


def _remove_stale_builds(root: Path) -> None:
    """Half-built indexes of a repair that was killed (under the lock, none is being built)."""
    for stale in root.glob(".mlrun.db.rebuild-*"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _remove_build(build: Path) -> None:
    for suffix in ("", *_SIDE_FILES):
        with contextlib.suppress(OSError):
            Path(f"{build}{suffix}").unlink()


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One repair of a store at a time (a lock on the store's directory itself)."""
    import fcntl

    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
