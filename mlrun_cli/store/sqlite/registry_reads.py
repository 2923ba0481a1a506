"""Reading the embedded store's model registry, and the rules its names and numbers keep.

Models and versions are plain dictionaries in MLflow's JSON shapes (``RegisteredModel``,
``ModelVersion``), so the loopback endpoint and an MLflow server's registry return the same
values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlrun_cli.store.base import RegistryError
from mlrun_cli.store.registry_filters import Clause, parse_filter
from mlrun_cli.store.sqlite.connection import Database
from mlrun_cli.store.sqlite.registry_record import STAGES, VERSION_COLUMNS

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

# Filter keys -> columns (spliced into SQL: only these get there).
_MODEL_KEYS = {"name": "name"}
_VERSION_KEYS = {
    "name": "name",
    "run_id": "run_id",
    "source_path": "source",
    "source": "source",
    "version_number": "version",
    "model_id": "model_id",
}


def stage_name(stage: str) -> str:
    """MLflow's spelling of a stage, whatever the case given; refused if it is none."""
    for known in STAGES:
        if stage.lower() == known.lower():
            return known
    raise RegistryError(
        "INVALID_PARAMETER_VALUE", f"Invalid Model Version stage: {stage}; use one of {STAGES}"
    )


def version_number(version: object) -> int:
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise RegistryError(
            "INVALID_PARAMETER_VALUE", f"Model version must be a positive integer, got {version!r}"
        )
    return int(text)


def check_name(name: str) -> str:
    if not name or not str(name).strip():
        raise RegistryError("INVALID_PARAMETER_VALUE", "Registered model name cannot be empty.")
    return str(name)


def check_alias(alias: str) -> str:
    low = alias.lower()
    if not alias or low == "latest" or (low[:1] == "v" and low[1:].isdigit()):
        raise RegistryError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid alias {alias!r}: an alias cannot be empty, 'latest' or of the form "
            "'v<number>'",
        )
    return alias


def _where(
    clauses: Sequence[Clause], keys: Mapping[str, str], tag_table: str
) -> tuple[str, list[Any]]:
    """SQL for MLflow-style filter clauses on the columns in `keys` and on tags."""
    parts: list[str] = []
    args: list[Any] = []
    for c in clauses:
        if c.key.startswith("tags."):
            link = "t.name = m.name" + (
                " AND t.version = m.version" if "version" in tag_table else ""
            )
            parts.append(
                f"EXISTS (SELECT 1 FROM {tag_table} t WHERE {link} AND t.key = ? AND t.value "
                + ("LIKE ?" if c.op == "LIKE" else "= ?")
                + ")"
            )
            args += [c.key[5:], c.values[0]]
            continue
        column = keys.get(c.key)
        if column is None:
            raise RegistryError(
                "INVALID_PARAMETER_VALUE", f"Invalid attribute key {c.key!r} in the filter"
            )
        if c.op == "IN":
            parts.append(f"m.{column} IN ({','.join('?' * len(c.values))})")
            args += list(c.values)
        elif c.op == "ILIKE":
            parts.append(f"lower(m.{column}) LIKE lower(?)")
            args.append(c.values[0])
        else:
            parts.append(f"m.{column} {c.op} ?")
            args.append(c.values[0])
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


class RegistryReads(Database):
    """Reads of the registry tables; `RegistryError` with MLflow's error code for a miss."""

    def _version_row(self, conn: sqlite3.Connection, name: str, version: int) -> dict[str, Any]:
        row = conn.execute(
            f"SELECT {', '.join(VERSION_COLUMNS)} FROM model_versions "
            "WHERE name = ? AND version = ?",
            (name, version),
        ).fetchone()
        if row is None:
            raise RegistryError(
                "RESOURCE_DOES_NOT_EXIST",
                f"Model Version (name={name}, version={version}) not found",
            )
        return self._version_json(conn, dict(zip(VERSION_COLUMNS, row, strict=True)))

    def _version_json(self, conn: sqlite3.Connection, r: dict[str, Any]) -> dict[str, Any]:
        name, number = r["name"], r["version"]
        out: dict[str, Any] = {
            "name": name,
            "version": str(number),
            "creation_timestamp": r["creation_time"],
            "last_updated_timestamp": r["last_updated"],
            "user_id": r["user_id"],
            "current_stage": r["current_stage"],
            "description": r["description"],
            "source": r["source"],
            "status": "READY",
            "tags": [
                {"key": k, "value": v}
                for k, v in conn.execute(
                    "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? "
                    "ORDER BY key",
                    (name, number),
                )
            ],
            "aliases": [
                a
                for (a,) in conn.execute(
                    "SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? "
                    "ORDER BY alias",
                    (name, number),
                )
            ],
        }
        for key in ("run_id", "model_id", "run_link"):
            if r[key]:
                out[key] = r[key]
        return out

    def _model_json(self, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
        row = conn.execute(
            "SELECT name, creation_time, last_updated, description, user_id "
            "FROM registered_models WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise RegistryError(
                "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found"
            )
        return {
            "name": row[0],
            "creation_timestamp": row[1],
            "last_updated_timestamp": row[2],
            "description": row[3],
            "user_id": row[4],
            "latest_versions": self._latest(conn, name, ()),
            "tags": [
                {"key": k, "value": v}
                for k, v in conn.execute(
                    "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key",
                    (name,),
                )
            ],
            "aliases": [
                {"alias": a, "version": str(v)}
                for a, v in conn.execute(
                    "SELECT alias, version FROM registered_model_aliases WHERE name = ? "
                    "ORDER BY alias",
                    (name,),
                )
            ],
        }

    def _latest(self, conn: sqlite3.Connection, name: str, stages: Sequence[str]) -> list[Any]:
        """The newest version in each stage (of `stages`, or of every stage)."""
        wanted = [stage_name(s) for s in stages] or list(STAGES)
        rows = conn.execute(
            "SELECT current_stage, MAX(version) FROM model_versions WHERE name = ? "
            "GROUP BY current_stage",
            (name,),
        ).fetchall()
        numbers = sorted(v for stage, v in rows if stage in wanted)
        return [self._version_row(conn, name, v) for v in numbers]

    def get_registered_model(self, name: str) -> dict[str, Any]:
        return self._model_json(self.conn, name)

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        where, args = _where(parse_filter(filter_string), _MODEL_KEYS, "registered_model_tags")
        names = self.conn.execute(
            f"SELECT m.name FROM registered_models m{where} ORDER BY m.name LIMIT ? OFFSET ?",
            (*args, max_results, offset),
        ).fetchall()
        return [self._model_json(self.conn, n) for (n,) in names]

    def get_model_version(self, name: str, version: str) -> dict[str, Any]:
        return self._version_row(self.conn, name, version_number(version))

    def search_model_versions(
        self, filter_string: str | None = None, max_results: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        where, args = _where(parse_filter(filter_string), _VERSION_KEYS, "model_version_tags")
        rows = self.conn.execute(
            f"SELECT m.name, m.version FROM model_versions m{where} "
            "ORDER BY m.name, m.version DESC LIMIT ? OFFSET ?",
            (*args, max_results, offset),
        ).fetchall()
        return [self._version_row(self.conn, n, v) for n, v in rows]

    def latest_versions(self, name: str, stages: Sequence[str] = ()) -> list[dict[str, Any]]:
        self._model_json(self.conn, name)  # 404 for an unknown model
        return self._latest(self.conn, name, stages)

    def get_version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (name, alias),
        ).fetchone()
        if row is None:
            raise RegistryError(
                "RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found."
            )
        return self._version_row(self.conn, name, row[0])

    def download_uri(self, name: str, version: str) -> str:
        mv = self.get_model_version(name, version)
        row = self.conn.execute(
            "SELECT storage_location FROM model_versions WHERE name = ? AND version = ?",
            (name, int(mv["version"])),
        ).fetchone()
        return str(row[0] or mv["source"])
