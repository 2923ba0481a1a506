"""Each registered model's record kept in a file of its own beside the index
(``registry/<name>-<digest>.json``), so the registry can be rebuilt from those files if the
database is lost or damaged (`repair`), as the runs are from their ``run.json``.

The record holds the whole model: its description, tags and aliases, every version (source,
source run and logged model, where its files are, stage, description, tags) and the next
version number, so a repaired registry never gives a deleted version's number again. It is
written atomically (a temporary file renamed over it) inside the write transaction that
changed the model, so two writers of one model never leave the older view last; deleting
the model removes it. A store of schema 2 (its registry in the database only) gets every
model's record at its first write (`connection.create_schema`).

The file name is the model's name with every character but letters, digits, ``.``, ``_``
and ``-`` made ``_``, cut to 80, and the first 12 hex digits of the name's SHA-256: any name
gives one name of a file, distinct from every other name's even where the file system folds
case. The name itself is read from the record.

No fsync, and a failed write never fails the registry write: as with ``run.json``, the
record is a second copy.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli.store.sqlite.record import read_json, write_atomic

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

REGISTRY_DIR = "registry"
REGISTRY_RECORD_SCHEMA = "mlrun.registry/1"
STAGES = ("None", "Staging", "Production", "Archived")
VERSION_COLUMNS = (
    "name",
    "version",
    "creation_time",
    "last_updated",
    "description",
    "user_id",
    "current_stage",
    "source",
    "run_id",
    "model_id",
    "run_link",
    "storage_location",
)
_MODEL_COLUMNS = ("creation_time", "last_updated", "description", "user_id", "next_version")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def record_path(root: Path, name: str) -> Path:
    """The record file of the registered model `name` in the store at `root`."""
    from mlrun_cli.digest import sha256  # not hashlib: OpenSSL costs ~2.5 ms on a warm run

    readable = _UNSAFE.sub("_", name)[:80].lstrip(".") or "_"
    digest = sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return root / REGISTRY_DIR / f"{readable}-{digest}.json"


def model_record(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The record of registered model `name` as the index holds it now (None if none)."""
    row = conn.execute(
        f"SELECT {', '.join(_MODEL_COLUMNS)} FROM registered_models WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    version_tags: dict[int, dict[str, str]] = {}
    for number, key, value in conn.execute(
        "SELECT version, key, value FROM model_version_tags WHERE name = ?", (name,)
    ):
        version_tags.setdefault(number, {})[key] = value
    versions = []
    for values in conn.execute(
        f"SELECT {', '.join(VERSION_COLUMNS[1:])} FROM model_versions WHERE name = ? "
        "ORDER BY version",
        (name,),
    ).fetchall():
        version = dict(zip(VERSION_COLUMNS[1:], values, strict=True))
        version["tags"] = version_tags.get(version["version"], {})
        versions.append(version)
    return {
        "schema": REGISTRY_RECORD_SCHEMA,
        "name": name,
        **dict(zip(_MODEL_COLUMNS, row, strict=True)),
        "tags": dict(
            conn.execute(
                "SELECT key, value FROM registered_model_tags WHERE name = ?", (name,)
            ).fetchall()
        ),
        "aliases": dict(
            conn.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE name = ?", (name,)
            ).fetchall()
        ),
        "versions": versions,
    }


def save_model(conn: sqlite3.Connection, root: Path, name: str) -> bool:
    """Write the record of model `name` as the index holds it now (remove it if the index
    has no such model); True if the file changed."""
    record = model_record(conn, name)
    path = record_path(root, name)
    if record is None:
        return drop_model(root, name)
    if read_json(path) == record:
        return False
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
    write_atomic(path, record)
    return True


def drop_model(root: Path, name: str) -> bool:
    """Remove the record of model `name` (deleted, or renamed); True if there was one."""
    try:
        record_path(root, name).unlink()
    except OSError:
        return False
    return True


def save_all(conn: sqlite3.Connection, root: Path) -> int:
    """Write the record of every registered model the index holds; how many files changed."""
    names = [n for (n,) in conn.execute("SELECT name FROM registered_models").fetchall()]
    return sum(save_model(conn, root, n) for n in names)


def read_records(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The usable records of the registry folder of the store at `root`, and what was wrong
    with the others (each a line)."""
    records, problems = [], []
    folder = root / REGISTRY_DIR
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.name[0] != ".")
    except OSError:
        return [], []
    for path in files:
        record = checked_model(read_json(path))
        if record is None:
            problems.append(f"{REGISTRY_DIR}/{path.name}: unreadable; its model is not recovered")
        elif record_path(root, record["name"]) != path:
            problems.append(
                f"{REGISTRY_DIR}/{path.name}: holds model {record['name']!r}, whose record is "
                f"{record_path(root, record['name']).name}; skipped"
            )
        else:
            records.append(record)
    return records, problems


def checked_model(saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record of a file with every field of the right type, or None if unusable."""
    if saved is None or saved.get("schema") != REGISTRY_RECORD_SCHEMA:
        return None
    name = saved.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    by_number = {v["version"]: v for v in map(_version, _list(saved.get("versions"))) if v}
    versions = [by_number[n] for n in sorted(by_number)]
    numbers = set(by_number)
    aliases = {str(a): n for a, n in _mapping(saved.get("aliases")).items() if _int(n) in numbers}
    created = _int(saved.get("creation_time")) or 0
    return {
        "schema": REGISTRY_RECORD_SCHEMA,
        "name": name,
        "creation_time": created,
        "last_updated": _int(saved.get("last_updated")) or created,
        "description": _str(saved.get("description")),
        "user_id": _str(saved.get("user_id")),
        # Never below a number given: a repaired registry does not give it again.
        "next_version": max([_int(saved.get("next_version")) or 1, *(n + 1 for n in numbers)]),
        "tags": _texts(saved.get("tags")),
        "aliases": aliases,
        "versions": versions,
    }


def _version(saved: object) -> dict[str, Any] | None:
    if not isinstance(saved, Mapping):
        return None
    number, source = _int(saved.get("version")), saved.get("source")
    if number is None or number < 1 or not isinstance(source, str) or not source:
        return None
    created = _int(saved.get("creation_time")) or 0
    stage = saved.get("current_stage")
    return {
        "version": number,
        "creation_time": created,
        "last_updated": _int(saved.get("last_updated")) or created,
        "description": _str(saved.get("description")),
        "user_id": _str(saved.get("user_id")),
        "current_stage": stage if stage in STAGES else "None",
        "source": source,
        **{k: _str(saved.get(k)) or None for k in ("run_id", "model_id", "run_link")},
        "storage_location": _str(saved.get("storage_location")) or None,
        "tags": _texts(saved.get("tags")),
    }


def insert_model(conn: sqlite3.Connection, record: Mapping[str, Any]) -> int:
    """Create the registered model of `record` in the index; the number of its versions
    written (-1 if the index has the model already, which is left as it is)."""
    name = record["name"]
    cur = conn.execute(
        f"INSERT OR IGNORE INTO registered_models (name, {', '.join(_MODEL_COLUMNS)}) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, *(record[c] for c in _MODEL_COLUMNS)),
    )
    if cur.rowcount == 0:
        return -1
    conn.executemany(
        "INSERT INTO registered_model_tags VALUES (?, ?, ?)",
        [(name, k, v) for k, v in record["tags"].items()],
    )
    for v in record["versions"]:
        conn.execute(
            f"INSERT INTO model_versions ({', '.join(VERSION_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(VERSION_COLUMNS))})",
            (name, *(v[c] for c in VERSION_COLUMNS[1:])),
        )
        conn.executemany(
            "INSERT INTO model_version_tags VALUES (?, ?, ?, ?)",
            [(name, v["version"], k, value) for k, value in v["tags"].items()],
        )
    conn.executemany(
        "INSERT INTO registered_model_aliases VALUES (?, ?, ?)",
        [(name, a, n) for a, n in record["aliases"].items()],
    )
    return len(record["versions"])


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _texts(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items() if v is not None}
