"""The embedded store's model registry: numbering, aliases, stages, filters, the migration."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from mlrun_cli.store.base import NewRun, RegistryError
from mlrun_cli.store.registry_filters import parse_filter
from mlrun_cli.store.sqlite.connection import SCHEMA_VERSION
from mlrun_cli.store.sqlite.registry_record import record_path
from mlrun_cli.store.sqlite.store import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "s")
    s.create_run(NewRun("a" * 32, "0", "r", "u", "c", {}, {}, start_time=1))
    return s


def code(exc: pytest.ExceptionInfo[RegistryError]) -> str:
    return exc.value.code


def test_versions_aliases_stages_and_tags(store: SqliteStore) -> None:
    reg = store.registry()
    model = reg.create_registered_model("iris", {"team": "a"}, "flowers")
    assert (model["name"], model["description"], model["latest_versions"]) == (
        "iris",
        "flowers",
        [],
    )
    v1 = reg.create_model_version("iris", f"runs:/{'a' * 32}/model", run_id="a" * 32)
    v2 = reg.create_model_version("iris", "/models/x", tags={"k": "v"})
    assert (v1["version"], v2["version"], v1["status"], v1["current_stage"]) == (
        "1",
        "2",
        "READY",
        "None",
    )
    assert v2["tags"] == [{"key": "k", "value": "v"}]
    reg.set_alias("iris", "champion", "1")
    assert reg.get_version_by_alias("iris", "champion")["aliases"] == ["champion"]
    reg.set_alias("iris", "champion", "2")  # moves
    assert reg.get_model_version("iris", "1")["aliases"] == []
    reg.transition_stage("iris", "1", "production")
    reg.transition_stage("iris", "2", "Production", archive_existing=True)
    assert reg.get_model_version("iris", "1")["current_stage"] == "Archived"
    assert [v["version"] for v in reg.latest_versions("iris", ["Production"])] == ["2"]
    got = reg.get_registered_model("iris")
    assert got["aliases"] == [{"alias": "champion", "version": "2"}]
    assert got["tags"] == [{"key": "team", "value": "a"}]
    assert reg.download_uri("iris", "1") == (store.artifact_dir("a" * 32) / "model").as_uri()
    assert reg.download_uri("iris", "2") == "file:///models/x"
    reg.delete_model_version("iris", "2")
    assert reg.create_model_version("iris", "/m")["version"] == "3"  # numbers are never reused
    assert reg.get_registered_model("iris")["aliases"] == []  # the alias went with version 2
    reg.rename_registered_model("iris", "iris2")
    assert [v["version"] for v in reg.search_model_versions("name = 'iris2'")] == ["3", "1"]
    reg.delete_registered_model("iris2")
    assert reg.search_registered_models() == []


def test_errors_carry_mlflows_codes(store: SqliteStore) -> None:
    reg = store.registry()
    with pytest.raises(RegistryError) as e:
        reg.get_registered_model("nope")
    assert code(e) == "RESOURCE_DOES_NOT_EXIST"
    reg.create_registered_model("m")
    with pytest.raises(RegistryError) as e:
        reg.create_registered_model("m")
    assert code(e) == "RESOURCE_ALREADY_EXISTS"
    for call in (
        lambda: reg.create_registered_model(""),
        lambda: reg.get_model_version("m", "one"),
        lambda: reg.set_alias("m", "latest", "1"),
        lambda: reg.search_registered_models("color = 'red'"),
        lambda: reg.search_model_versions("name = "),
    ):
        with pytest.raises(RegistryError) as e:
            call()
        assert code(e) == "INVALID_PARAMETER_VALUE"
    reg.create_model_version("m", "/x")
    with pytest.raises(RegistryError) as e:
        reg.transition_stage("m", "1", "Live")
    assert code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(RegistryError) as e:
        reg.create_model_version("m", "models:/m-missing")
    assert code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_filters() -> None:
    clauses = parse_filter("name ILIKE '%ir%' and run_id IN ('a', 'b') AND tags.`my tag` = 'it''s'")
    assert [(c.key, c.op, c.values) for c in clauses] == [
        ("name", "ILIKE", ("%ir%",)),
        ("run_id", "IN", ("a", "b")),
        ("tags.my tag", "=", ("it's",)),
    ]


def test_version_of_a_logged_model_links_its_run(store: SqliteStore) -> None:
    model = store.create_logged_model("0", "model", "a" * 32, None, {}, {})
    reg = store.registry()
    reg.create_registered_model("iris")
    mv = reg.create_model_version(
        "iris", f"models:/{model['model_id']}", model_id=str(model["model_id"])
    )
    assert (mv["run_id"], mv["model_id"]) == ("a" * 32, model["model_id"])
    assert reg.download_uri("iris", "1") == Path(str(model["artifact_location"])).as_uri()
    assert reg.search_model_versions(f"run_id = '{'a' * 32}'")[0]["version"] == "1"


def _register(root: str, n: int) -> None:
    s = SqliteStore(Path(root))
    for _ in range(n):
        s.create_model_version("shared", "/x")


def test_concurrent_registrations_get_distinct_numbers(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s")
    s.create_registered_model("shared")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_register, args=(str(tmp_path / "s"), 5)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    numbers = sorted(int(v["version"]) for v in s.search_model_versions("name = 'shared'"))
    assert numbers == list(range(1, 21))
    record = json.loads(record_path(tmp_path / "s", "shared").read_text())
    assert [v["version"] for v in record["versions"]] == numbers  # the last writer's view
    assert record["next_version"] == 21


def test_a_store_of_schema_1_opens_unchanged_and_upgrades_on_write(tmp_path: Path) -> None:
    root = tmp_path / "old"
    s = SqliteStore(root)
    s.create_run(NewRun("b" * 32, "0", "r", "u", "c", {"p": "1"}, {}, start_time=1))
    s.close()
    conn = sqlite3.connect(root / "mlrun.db")
    for table in (
        "registered_models",
        "registered_model_tags",
        "model_versions",
        "model_version_tags",
        "registered_model_aliases",
    ):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = (root / "mlrun.db").read_bytes()
    reader = SqliteStore(root)
    assert reader.get_run("b" * 32).params == {"p": "1"}
    assert reader.search_registered_models() == []
    reader.close()
    assert (root / "mlrun.db").read_bytes() == before  # reading changed nothing
    writer = SqliteStore(root)
    writer.create_registered_model("m")
    assert writer.get_run("b" * 32).params == {"p": "1"}
    version = sqlite3.connect(root / "mlrun.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_every_write_keeps_the_models_record_beside_the_index(store: SqliteStore) -> None:
    root = store.root
    reg = store.registry()
    reg.create_registered_model("iris", {"team": "a"}, "flowers")
    reg.create_model_version("iris", "/m/1", run_id="a" * 32, tags={"k": "v"}, user_id="ann")
    reg.create_model_version("iris", "/m/2")
    reg.set_alias("iris", "champion", "2")
    reg.transition_stage("iris", "1", "Staging")
    reg.set_model_version_tag("iris", "2", "q", "ok")
    reg.update_model_version("iris", "2", "the better one")
    reg.delete_model_version("iris", "1")
    record = json.loads(record_path(root, "iris").read_text())
    assert record["schema"] == "mlrun.registry/1"
    assert (record["name"], record["description"], record["next_version"]) == (
        "iris",
        "flowers",
        3,
    )
    assert (record["tags"], record["aliases"]) == ({"team": "a"}, {"champion": 2})
    (v2,) = record["versions"]
    assert (v2["version"], v2["source"], v2["description"], v2["tags"]) == (
        2,
        "/m/2",
        "the better one",
        {"q": "ok"},
    )
    assert v2["storage_location"] == "file:///m/2"
    assert v2["last_updated"] == reg.get_model_version("iris", "2")["last_updated_timestamp"]
    reg.rename_registered_model("iris", "iris2")
    assert not record_path(root, "iris").exists()
    assert json.loads(record_path(root, "iris2").read_text())["aliases"] == {"champion": 2}
    reg.delete_registered_model("iris2")
    assert sorted(p.name for p in (root / "registry").iterdir()) == []
    # A refused write leaves no record behind.
    with pytest.raises(RegistryError):
        reg.create_model_version("nope", "/x")
    assert not record_path(root, "nope").exists()


def test_a_records_file_name_is_safe_and_distinct_for_any_model_name(tmp_path: Path) -> None:
    names = ["iris", "Iris", "a/b", "../up", ".hidden", "é ü", "x" * 300, "a_b", "a b"]
    paths = [record_path(tmp_path, n) for n in names]
    assert len({p.name.lower() for p in paths}) == len(names)  # distinct, even case-folded
    for p in paths:
        assert p.parent == tmp_path / "registry"
        assert len(p.name) < 100 and not p.name.startswith(".")
    assert record_path(tmp_path, "iris").name.startswith("iris-")


def test_a_store_of_schema_2_is_read_as_it_is_and_gets_its_records_at_its_first_write(
    tmp_path: Path,
) -> None:
    root = tmp_path / "two"
    s = SqliteStore(root)
    s.create_registered_model("m", {"t": "1"})
    s.create_model_version("m", "/x")
    s.close()
    for p in (root / "registry").iterdir():  # as a store of schema 2 is: no records
        p.unlink()
    conn = sqlite3.connect(root / "mlrun.db")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    before = (root / "mlrun.db").read_bytes()
    reader = SqliteStore(root)
    assert [v["version"] for v in reader.search_model_versions()] == ["1"]  # its own rows
    reader.close()
    assert (root / "mlrun.db").read_bytes() == before
    assert not record_path(root, "m").exists()
    writer = SqliteStore(root)
    writer.create_run(NewRun("c" * 32, "0", "r", "u", "c", {}, {}, start_time=1))  # any write
    record = json.loads(record_path(root, "m").read_text())
    assert (record["tags"], [v["version"] for v in record["versions"]]) == ({"t": "1"}, [1])
    version = sqlite3.connect(root / "mlrun.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
