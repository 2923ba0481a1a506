"""The embedded store (SQLite): `SqliteStore`, assembled in `mlrun_cli.store.sqlite.store`."""

from __future__ import annotations

from mlrun_cli.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
