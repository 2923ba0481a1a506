"""The model registry of the embedded store: registered models, their numbered versions,
aliases, tags, descriptions and stages (reads in `registry_reads`).

A version is numbered inside the ``BEGIN IMMEDIATE`` transaction that inserts it, from the
registered model's ``next_version`` counter: two processes registering at once get distinct
numbers, and the number of a deleted version is never given again (as in MLflow).

Every write also writes the model's record beside the index (``registry/<name>.json``, see
`registry_record`) in the same transaction, so `repair` can rebuild the registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlrun_cli.store.base import RegistryError
from mlrun_cli.store.sqlite.connection import now_ms, transaction
from mlrun_cli.store.sqlite.registry_reads import (
    RegistryReads,
    check_alias,
    check_name,
    stage_name,
    version_number,
)
from mlrun_cli.store.sqlite.registry_record import VERSION_COLUMNS, save_model

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

_TABLES = (
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
)


class RegistryTables(RegistryReads):
    """The registry's writes. Every method raises `RegistryError` with MLflow's error code."""

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def _changing(self, *names: str) -> Iterator[sqlite3.Connection]:
        """A write transaction changing the registered models `names`: their records are
        written (or removed, for a model no longer there) in it, before the commit."""
        with transaction(self.writer()) as conn:
            yield conn
            for name in names:
                save_model(conn, self.root, name)

    def create_registered_model(
        self, name: str, tags: Mapping[str, str] | None = None, description: str | None = None
    ) -> dict[str, Any]:
        check_name(name)
        now = now_ms()
        with self._changing(name) as conn:
            if conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone():
                raise RegistryError(
                    "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists."
                )
            conn.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated, description) "
                "VALUES (?, ?, ?, ?)",
                (name, now, now, description or ""),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO registered_model_tags VALUES (?, ?, ?)",
                [(name, k, str(v)) for k, v in (tags or {}).items()],
            )
        return self.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> dict[str, Any]:
        check_name(new_name)
        with self._changing(name, new_name) as conn:
            self._model_json(conn, name)
            if conn.execute(
                "SELECT 1 FROM registered_models WHERE name = ?", (new_name,)
            ).fetchone():
                raise RegistryError(
                    "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists."
                )
            for table in _TABLES:
                conn.execute(f"UPDATE {table} SET name = ? WHERE name = ?", (new_name, name))
            self._touch(conn, new_name)
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str) -> dict[str, Any]:
        with self._changing(name) as conn:
            self._model_json(conn, name)
            conn.execute(
                "UPDATE registered_models SET description = ? WHERE name = ?", (description, name)
            )
            self._touch(conn, name)
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        with self._changing(name) as conn:
            self._model_json(conn, name)
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with self._changing(name) as conn:
            self._model_json(conn, name)
            conn.execute(
                "INSERT OR REPLACE INTO registered_model_tags VALUES (?, ?, ?)", (name, key, value)
            )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._changing(name) as conn:
            self._model_json(conn, name)
            conn.execute(
                "DELETE FROM registered_model_tags WHERE name = ? AND key = ?", (name, key)
            )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        number = version_number(version)
        check_alias(alias)
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            conn.execute(
                "INSERT OR REPLACE INTO registered_model_aliases VALUES (?, ?, ?)",
                (name, alias, number),
            )
            self._touch(conn, name)

    def delete_alias(self, name: str, alias: str) -> None:
        with self._changing(name) as conn:
            self._model_json(conn, name)
            conn.execute(
                "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?", (name, alias)
            )

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        model_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        run_link: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        if not source:
            raise RegistryError("INVALID_PARAMETER_VALUE", "A model version needs a source.")
        if source.startswith("models:/m-") and not model_id:
            model_id = source[len("models:/") :].split("/")[0]
        if model_id and not run_id:
            # The version's source run is the logged model's (MLflow 3 sends only the model).
            row = self.conn.execute(
                "SELECT source_run_id FROM logged_models WHERE model_id = ?", (model_id,)
            ).fetchone()
            run_id = row[0] if row is not None else None
        location = self._storage_location(source, model_id)
        now = now_ms()
        with self._changing(name) as conn:
            self._model_json(conn, name)
            # Numbered under the write lock: concurrent registrations never share a number.
            (number,) = conn.execute(
                "SELECT next_version FROM registered_models WHERE name = ?", (name,)
            ).fetchone()
            conn.execute(
                "UPDATE registered_models SET next_version = ?, last_updated = ? WHERE name = ?",
                (number + 1, now, name),
            )
            conn.execute(
                f"INSERT INTO model_versions ({', '.join(VERSION_COLUMNS)}) "
                "VALUES (?, ?, ?, ?, ?, ?, 'None', ?, ?, ?, ?, ?)",
                (
                    name,
                    number,
                    now,
                    now,
                    description or "",
                    user_id or "",
                    source,
                    run_id or None,
                    model_id or None,
                    run_link or None,
                    location,
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?)",
                [(name, number, k, str(v)) for k, v in (tags or {}).items()],
            )
        return self.get_model_version(name, str(number))

    def update_model_version(self, name: str, version: str, description: str) -> dict[str, Any]:
        number = version_number(version)
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            conn.execute(
                "UPDATE model_versions SET description = ?, last_updated = ? "
                "WHERE name = ? AND version = ?",
                (description, now_ms(), name, number),
            )
        return self.get_model_version(name, version)

    def transition_stage(
        self, name: str, version: str, stage: str, archive_existing: bool = False
    ) -> dict[str, Any]:
        number, stage = version_number(version), stage_name(stage)
        now = now_ms()
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            if archive_existing and stage in ("Staging", "Production"):
                conn.execute(
                    "UPDATE model_versions SET current_stage = 'Archived', last_updated = ? "
                    "WHERE name = ? AND version != ? AND current_stage = ?",
                    (now, name, number, stage),
                )
            conn.execute(
                "UPDATE model_versions SET current_stage = ?, last_updated = ? "
                "WHERE name = ? AND version = ?",
                (stage, now, name, number),
            )
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: str) -> None:
        number = version_number(version)
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            for table in ("model_versions", "model_version_tags", "registered_model_aliases"):
                conn.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", (name, number))
            self._touch(conn, name)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        number = version_number(version)
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            conn.execute(
                "INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?)",
                (name, number, key, value),
            )

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        number = version_number(version)
        with self._changing(name) as conn:
            self._version_row(conn, name, number)
            conn.execute(
                "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                (name, number, key),
            )

    def _touch(self, conn: sqlite3.Connection, name: str) -> None:
        conn.execute(
            "UPDATE registered_models SET last_updated = ? WHERE name = ?", (now_ms(), name)
        )

    def _storage_location(self, source: str, model_id: str | None) -> str | None:
        """Where the version's files are, as a file:// URI (None where they are elsewhere).

        A logged model's folder; a run's artifact path (``runs:/<run>/<path>``, which in
        MLflow 3 names the run's logged model of that name if it has one); a local path."""
        if model_id:
            return self.logged_model_uri(model_id)  # refused if there is no such model
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/") :].partition("/")
            return self.run_model_uri(run_id, path)
        if source.startswith("file://"):
            return source
        if "://" not in source and ":" not in source.split("/")[0]:
            return Path(source).absolute().as_uri()
        return None

    # -- where a model's files are -------------------------------------------------------------

    def logged_model_uri(self, model_id: str) -> str:
        """The folder of a logged model, as a file:// URI."""
        row = self.conn.execute(
            "SELECT artifact_location FROM logged_models WHERE model_id = ?", (model_id,)
        ).fetchone()
        if row is None:
            raise RegistryError("RESOURCE_DOES_NOT_EXIST", f"Logged model {model_id} not found")
        return Path(row[0]).absolute().as_uri()

    def run_model_uri(self, run_id: str, path: str) -> str:
        """What ``runs:/<run>/<path>`` names: the run's logged model of that name (MLflow 3),
        else the run's artifact folder `path`."""
        found = self.conn.execute(
            "SELECT artifact_location FROM logged_models WHERE source_run_id = ? AND name = ? "
            "ORDER BY creation_time DESC LIMIT 1",
            (run_id, path.strip("/")),
        ).fetchone()
        if found is not None:
            return Path(found[0]).absolute().as_uri()
        return (self.artifact_dir(run_id) / path).absolute().as_uri()

    def fetch(self, uri: str, dest: Path) -> Path:
        """The local folder holding the files at `uri`: on the embedded store, itself."""
        from urllib.parse import unquote, urlsplit

        if uri.startswith("file://"):
            return Path(unquote(urlsplit(uri).path))
        if "://" not in uri:
            return Path(uri)
        raise RegistryError(
            "INVALID_PARAMETER_VALUE", f"cannot read model files at {uri} from the embedded store"
        )
