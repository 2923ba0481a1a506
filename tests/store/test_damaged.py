"""A damaged, empty or missing index (`mlrun.db`): one clear line and exit 2, nothing written;
every run's record kept in its folder (`run.json`); `mlrun store repair` rebuilds the index
from the run folders with nothing recorded lost. Real damaged files, real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.store.base import Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

TRAIN = """
import json, os, sys
lr = float(sys.argv[1])
with open(os.environ["MLRUN_EVENTS_FILE"], "a") as f:
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        f.write(json.dumps({"type": "metric", "key": "loss", "value": loss * lr,
                            "step": step, "timestamp": 1700000000000 + step}) + "\\n")
    f.write(json.dumps({"type": "tag", "key": "stage", "value": "tuning"}) + "\\n")
print("trained", lr)
"""
RECORD = """
import json, os
folder = os.path.join(os.environ["MLRUN_TRACKING_URI"], "runs", os.environ["MLRUN_RUN_ID"])
record = json.load(open(os.path.join(folder, "run.json")))
print(record["status"], record["pid"] is not None, record["params"])
"""
MLPROJECT = """
name: damaged
entry_points:
  main:
    parameters:
      lr: {type: float, default: 1.0}
    command: "python train.py {lr}"
  record:
    command: "python record.py"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", MLPROJECT, {"train.py": TRAIN, "record.py": RECORD})


def make_runs(mlrun: Mlrun, project: Path, n: int) -> list[str]:
    """`n` real runs; their ids, oldest first."""
    ids = []
    for i in range(n):
        proc = mlrun("run", str(project), "-P", f"lr={i + 1}", "--env-manager", "local", "--json")
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["run_id"])
    return ids


def listing(mlrun: Mlrun) -> dict[str, dict[str, object]]:
    proc = mlrun("runs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {r["run_id"]: r for r in json.loads(proc.stdout)["runs"]}


def history(mlrun: Mlrun, run_id: str) -> object:
    proc = mlrun("runs", "show", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return {k: v for k, v in data.items() if "histor" in k or k == "metrics"}


def files(store: Path) -> dict[str, bytes]:
    """The index and its side files, byte for byte (the -shm is SQLite's scratch index)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(store.iterdir())
        if p.name.startswith("mlrun.db") and not p.name.endswith("-shm")
    }


def damaged_line(store: Path, reason: str, n: int) -> str:
    return (
        f"error: the store's index {store / 'mlrun.db'} is damaged ({reason}); the {n} run "
        f"folders in {store / 'runs'} remain: run 'mlrun store repair' to rebuild the "
        "index from them (the damaged file is kept)\n"
    )


def _sides(store: Path, name: str) -> list[Path]:
    """`name` and its side files in the order repair names them."""
    return [p for s in ("", "-wal", "-shm") if (p := store / f"{name}{s}").exists()]


def truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def garble(db: Path) -> None:
    db.write_bytes(os.urandom(3000))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(truncate, "database disk image is malformed"), (garble, "file is not a database")],
)
def test_a_damaged_index_is_one_line_exit_2_and_nothing_is_written(
    mlrun: Mlrun, project: Path, isolated: Path, damage: Callable[[Path], None], reason: str
) -> None:
    make_runs(mlrun, project, 3)
    store = isolated / ".mlrun"
    damage(store / "mlrun.db")
    before = files(store)
    for argv in (
        ("runs", "list"),
        ("runs", "show", "abc"),
        ("experiments", "list"),
        ("run", str(project), "--env-manager", "local"),
    ):
        proc = mlrun(*argv)
        assert (proc.returncode, proc.stdout) == (2, ""), argv
        assert proc.stderr == damaged_line(store, reason, 3), argv
    assert files(store) == before  # the damaged file is left as it was
    assert len(list((store / "runs").iterdir())) == 3  # `mlrun run` recorded nothing


def test_damage_met_by_a_query_after_opening_is_the_same_line(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    make_runs(mlrun, project, 2)
    store = isolated / ".mlrun"
    db = store / "mlrun.db"
    conn = sqlite3.connect(db)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'tags'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(page - 1) * size : page * size] = b"\x5a" * size  # the tags table's root page
    db.write_bytes(bytes(data))
    proc = mlrun("runs", "list")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == damaged_line(store, "database disk image is malformed", 2)


def test_an_empty_index_beside_run_folders_says_so_and_is_not_started_afresh(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    store = isolated / ".mlrun"
    writer = SqliteStore(store)
    for i in range(8):
        rid = f"{i:032x}"
        writer.create_run(NewRun(rid, "0", f"r{i}", "ann", "cmd", {"i": str(i)}, {}, 1000 + i))
        writer.set_terminated(rid, "FINISHED", 2000 + i, 0)
    writer.close()
    (store / "mlrun.db").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(f"{store / 'mlrun.db'}{suffix}").unlink(missing_ok=True)
    line = (
        f"error: the store's index {store / 'mlrun.db'} is empty, but the 8 run folders in "
        f"{store / 'runs'} remain: run 'mlrun store repair' to rebuild the index from them so "
        "that no run is lost\n"
    )
    for argv in (("runs", "list"), ("run", str(project), "--env-manager", "local")):
        proc = mlrun(*argv)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line), argv
    assert (store / "mlrun.db").read_bytes() == b""  # not silently given a fresh schema
    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        f"the index {store / 'mlrun.db'} was not usable: it is empty (0 bytes)"
    )
    assert sorted(r["name"] for r in listing(mlrun).values()) == [f"r{i}" for i in range(8)]
    assert [p.name for p in store.glob("mlrun.db.damaged-*")] != []  # kept, never deleted


def test_each_run_keeps_its_record_in_its_folder(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    # While the run runs, its record says RUNNING and who holds it; at the end, everything.
    proc = mlrun("run", str(project), "-e", "record", "--env-manager", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == "RUNNING True {}"
    run_id = json.loads(proc.stdout)["run_id"]
    (run_id2,) = make_runs(mlrun, project, 1)
    record = json.loads((isolated / ".mlrun" / "runs" / run_id2 / "run.json").read_text())
    shown = listing(mlrun)[run_id2]
    assert record["schema"] == "mlrun.record/1"
    for key in ("run_id", "experiment_id", "name", "status", "start_time", "end_time"):
        assert record[key] == shown[key], key
    for key in ("exit_code", "user", "command", "params", "tags"):
        assert record[key] == shown[key], key
    assert record["experiment_name"] == "Default"
    assert record["metrics"] == {"loss": {"value": 0.25, "step": 2, "timestamp": 1700000000002}}
    # A tag written after the end is kept in the record at once.
    SqliteStore(isolated / ".mlrun").log_batch(run_id2, tags={"note": "late"})
    record = json.loads((isolated / ".mlrun" / "runs" / run_id2 / "run.json").read_text())
    assert record["tags"]["note"] == "late"
    assert run_id != run_id2


def test_repair_of_a_truncated_index_loses_nothing(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    ids = make_runs(mlrun, project, 3)
    store = isolated / ".mlrun"
    exp = mlrun("experiments", "create", "tuning")
    assert exp.returncode == 0, exp.stderr
    proc = mlrun("run", str(project), "--experiment-name", "tuning", "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    assert mlrun("runs", "delete", ids[0]).returncode == 0
    before = listing(mlrun)
    before_all = json.loads(mlrun("runs", "list", "--all", "--json").stdout)["runs"]
    histories = {rid: history(mlrun, rid) for rid in ids}
    truncate(store / "mlrun.db")
    damaged_bytes = (store / "mlrun.db").read_bytes()

    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    moved = sorted(p.name for p in store.glob("mlrun.db.damaged-*"))
    aside = store / moved[0]
    # Its side files go with it (readers leave a -shm, and a -wal, beside a WAL database).
    assert all(name.startswith(aside.name) for name in moved)
    assert proc.stdout == (
        f"the index {store / 'mlrun.db'} was not usable: database disk image is malformed\n"
        f"moved it aside, kept: {', '.join(p.name for p in _sides(store, aside.name))}\n"
        "rebuilt the index from 4 run folders: 4 runs (4 in full), 12 metric points, "
        "2 experiments\n"
    )
    assert aside.read_bytes() == damaged_bytes
    assert listing(mlrun) == before
    assert json.loads(mlrun("runs", "list", "--all", "--json").stdout)["runs"] == before_all
    assert {rid: history(mlrun, rid) for rid in ids} == histories
    names = json.loads(mlrun("experiments", "list", "--json").stdout)["experiments"]
    assert [(e["experiment_id"], e["name"]) for e in names] == [("0", "Default"), ("1", "tuning")]

    again = mlrun("store", "repair")
    assert (again.returncode, again.stdout) == (
        0,
        f"the index {store / 'mlrun.db'} is healthy and holds every run folder; nothing to do\n",
    )
    assert sorted(p.name for p in store.glob("mlrun.db.damaged-*")) == moved
    assert mlrun("run", str(project), "--env-manager", "local").returncode == 0
    assert len(listing(mlrun)) == len(before) + 1


def test_repair_with_a_wal_left_behind_moves_it_with_its_database(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    ids = make_runs(mlrun, project, 3)
    store = isolated / ".mlrun"
    before = listing(mlrun)
    # A writer killed while its WAL held a commit leaves mlrun.db-wal and mlrun.db-shm.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sqlite3; c = sqlite3.connect('mlrun.db', isolation_level=None); "
            "c.execute('PRAGMA wal_autocheckpoint = 0'); "
            "c.execute(\"INSERT INTO experiments (name) VALUES ('in-the-wal')\"); "
            "os.kill(os.getpid(), signal.SIGKILL)",
        ],
        cwd=store,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert Path(f"{store / 'mlrun.db'}-wal").stat().st_size > 0
    truncate(store / "mlrun.db")
    kept = files(store)
    proc = mlrun("runs", "list")
    assert (proc.returncode, proc.stderr) == (
        2,
        damaged_line(store, "database disk image is malformed", 3),
    )
    assert files(store) == kept  # reading did not checkpoint the WAL into the damaged file

    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    aside = sorted(p.name for p in store.glob("mlrun.db.damaged-*"))
    stamp = aside[0]
    assert aside == [stamp, f"{stamp}-shm", f"{stamp}-wal"]
    assert proc.stdout.splitlines()[1] == (
        f"moved it aside, kept: {stamp}, {stamp}-wal, {stamp}-shm"
    )
    assert (store / stamp).read_bytes() == kept["mlrun.db"]
    assert (store / f"{stamp}-wal").read_bytes() == kept["mlrun.db-wal"]
    assert not Path(f"{store / 'mlrun.db'}-wal").exists()  # no stale WAL beside the new index
    assert listing(mlrun) == before
    assert mlrun("run", str(project), "--env-manager", "local").returncode == 0
    assert set(listing(mlrun)) > set(ids)


def test_runs_recorded_before_run_json_are_recovered_from_their_folders(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    legacy, full = make_runs(mlrun, project, 2)
    store = isolated / ".mlrun"
    (store / "runs" / legacy / "run.json").unlink()  # as an earlier version left it
    cluster = "c" * 32  # a cluster run of an earlier version: its job files, no run.json
    job = store / "runs" / cluster / "job"
    job.mkdir(parents=True)
    (store / "runs" / cluster / "artifacts").mkdir()
    (job / "job.json").write_text(
        json.dumps({"experiment_id": "0", "command": "python t.py", "params": {"a": "1"}})
    )
    (job / "started.json").write_text(json.dumps({"host": "node7", "time_ms": 1700000000000}))
    (job / "exit.json").write_text(
        json.dumps({"exit_code": 3, "status": "FAILED", "end_ms": 1700000005000})
    )
    (store / "mlrun.db").write_bytes(b"garbage" * 100)

    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "rebuilt the index from 3 run folders: 3 runs (1 in full, 2 from the folder only, "
        "tagged mlrun.recovered=partial), 6 metric points, 1 experiment"
    )
    runs = listing(mlrun)
    assert runs[full]["tags"].get("mlrun.recovered") is None
    old = runs[legacy]
    assert (old["status"], old["exit_code"], old["name"]) == (
        "KILLED",
        None,
        f"recovered-{legacy[:8]}",
    )
    assert old["tags"]["mlrun.recovered"] == "partial"
    assert old["tags"]["stage"] == "tuning"  # from its events file
    assert old["metrics"]["loss"] == {"value": 0.25, "step": 2, "timestamp": 1700000000002}
    job_run = runs[cluster]
    assert (job_run["status"], job_run["exit_code"]) == ("FAILED", 3)
    assert (job_run["start_time"], job_run["end_time"]) == (1700000000000, 1700000005000)
    assert (job_run["command"], job_run["params"]) == ("python t.py", {"a": "1"})
    # The folder now has a record: a second repair recovers it the same way.
    assert json.loads((store / "runs" / legacy / "run.json").read_text())["status"] == "KILLED"


def test_repair_of_a_healthy_index_adds_the_runs_it_lacks(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    ids = make_runs(mlrun, project, 2)
    store = isolated / ".mlrun"
    before = listing(mlrun)
    conn = sqlite3.connect(store / "mlrun.db", isolation_level=None)
    for table in ("runs", "params", "tags", "metrics", "latest_metrics"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (ids[1],))
    conn.close()
    assert set(listing(mlrun)) == {ids[0]}
    proc = mlrun("store", "repair")
    assert (proc.returncode, proc.stdout) == (
        0,
        f"the index {store / 'mlrun.db'} is healthy\n"
        "added the 1 run (1 in full), 3 metric points it lacked, 0 experiments added\n",
    )
    assert listing(mlrun) == before
    assert list(store.glob("mlrun.db.damaged-*")) == []


def test_repair_records_the_end_a_damaged_index_missed(tmp_path: Path) -> None:
    from mlrun_cli.store.sqlite.repair import repair_store

    store = tmp_path / "s"
    writer = SqliteStore(store)
    rid = "d" * 32
    writer.create_run(NewRun(rid, "0", "r", "ann", "cmd", {}, {}, 1000, pid=1, host="h"))
    writer.log_batch(rid, metrics=[Metric("m", 1.0, 0, 5)])
    record = json.loads((store / "runs" / rid / "run.json").read_text())
    conn = sqlite3.connect(store / "mlrun.db", isolation_level=None)
    writer.set_terminated(rid, "FINISHED", 3000, 0)  # the record now says FINISHED...
    conn.execute("UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE run_id = ?", (rid,))
    conn.close()  # ...and the index, as if that write had gone to a file moved aside, does not
    assert record["status"] == "RUNNING"
    report = repair_store(store)
    assert (report.damage, report.updated) == (None, 1)
    run = SqliteStore(store).get_run(rid)
    assert (run.status, run.end_time, run.exit_code) == ("FINISHED", 3000, 0)


def test_a_missing_index_beside_a_logged_model_is_ours_not_mlflow(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    make_runs(mlrun, project, 1)
    store = isolated / ".mlrun"
    (store / "models" / "m-1" / "artifacts").mkdir(parents=True)  # as a logged model leaves
    (store / "mlrun.db").unlink()
    proc = mlrun("runs", "list")
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: the store's index {store / 'mlrun.db'} is missing, but the 1 run folder in "
        f"{store / 'runs'} remains: run 'mlrun store repair' to rebuild the index from it so "
        "that no run is lost\n",
    )
    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"the index {store / 'mlrun.db'} was not usable: it is missing",
        "rebuilt the index from 1 run folder: 1 run (1 in full), 3 metric points, 1 experiment",
    ]
    assert len(listing(mlrun)) == 1


def test_a_sweep_is_the_same_sweep_after_repair(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    proc = mlrun("-q", "sweep", str(project), "-P", "lr=[1,2]", "-j", "2", "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    sweep_id = json.loads(mlrun("sweep", "list", "--json").stdout)["sweeps"][0]["run_id"]
    shown = mlrun("sweep", "show", sweep_id[:8], "--json").stdout
    before = listing(mlrun)
    garble(isolated / ".mlrun" / "mlrun.db")
    assert mlrun("sweep", "show", sweep_id[:8]).returncode == 2
    assert mlrun("store", "repair").returncode == 0
    assert mlrun("sweep", "show", sweep_id[:8], "--json").stdout == shown
    assert listing(mlrun) == before


def test_an_end_the_damaged_index_refuses_is_kept_in_the_run_folder(tmp_path: Path) -> None:
    from mlrun_cli.store.sqlite.damage import StoreDamaged

    store = tmp_path / "s"
    rid = "e" * 32
    writer = SqliteStore(store)
    writer.create_run(NewRun(rid, "0", "r", "ann", "cmd", {}, {}, 1000, pid=1, host="h"))
    writer.close()
    (store / "mlrun.db").write_bytes(b"\x00garbage" * 500)
    with pytest.raises(StoreDamaged, match="is damaged"):
        SqliteStore(store).set_terminated(rid, "FAILED", 5000, 7)
    record = json.loads((store / "runs" / rid / "run.json").read_text())
    assert (record["status"], record["end_time"], record["exit_code"]) == ("FAILED", 5000, 7)


def _models(mlrun: Mlrun) -> dict[str, object]:
    """Every registered model and every version of it, as `mlrun models` shows them."""
    listed = json.loads(mlrun("models", "list", "--json").stdout)["models"]
    shown = {}
    for m in listed:
        proc = mlrun("models", "show", m["name"], "--json")
        assert proc.returncode == 0, proc.stderr
        shown[m["name"]] = json.loads(proc.stdout)
    return {"list": listed, "show": shown}


def test_repair_rebuilds_the_registry_from_its_records(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    (run_id,) = make_runs(mlrun, project, 1)
    store = isolated / ".mlrun"
    (store / "runs" / run_id / "artifacts" / "model").mkdir(parents=True)
    (store / "runs" / run_id / "artifacts" / "model" / "MLmodel").write_text("flavors: {}\n")
    folder = isolated / "folder-model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    for uri, name in [
        (f"runs:/{run_id[:8]}/model", "iris"),
        (str(folder), "iris"),
        (str(folder), "iris"),
        (str(folder), "team/é clf"),
    ]:
        proc = mlrun("models", "register", uri, name)
        assert proc.returncode == 0, proc.stderr
    for argv in (("alias", "iris", "champion", "3"), ("alias", "iris", "old", "1")):
        assert mlrun("models", *argv).returncode == 0
    assert mlrun("models", "delete", "iris", "--version", "2").returncode == 0
    reg = SqliteStore(store).registry()
    reg.set_registered_model_tag("iris", "team", "flowers")
    reg.update_registered_model("iris", "the iris classifier")
    reg.set_model_version_tag("iris", "3", "validated", "yes")
    reg.transition_stage("iris", "3", "Production")
    reg.transition_stage("iris", "1", "Archived")
    before = _models(mlrun)
    assert sorted(before["show"]) == ["iris", "team/é clf"]
    truncate(store / "mlrun.db")
    assert mlrun("models", "list").returncode == 2

    proc = mlrun("store", "repair")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "rebuilt the index from 1 run folder: 1 run (1 in full), 3 metric points, "
        "1 experiment, 2 registered models (3 versions) from their records"
    )
    assert _models(mlrun) == before  # versions, stages, aliases, tags, sources, times
    # The next number is the one the damaged index would have given: 2 is never reused.
    again = mlrun("models", "register", str(folder), "iris", "--json")
    assert json.loads(again.stdout)["model_version"]["version"] == "4"
    proc = mlrun("store", "repair")
    assert proc.stdout == (
        f"the index {store / 'mlrun.db'} is healthy and holds every run folder; nothing to do\n"
    )


def test_an_index_lost_beside_registry_records_alone_is_rebuilt_from_them(
    tmp_path: Path,
) -> None:
    from mlrun_cli.store.sqlite.damage import IndexGone
    from mlrun_cli.store.sqlite.repair import repair_store

    store = tmp_path / "s"
    reg = SqliteStore(store).registry()
    reg.create_registered_model("only", {"k": "v"})
    reg.create_model_version("only", "/models/a")
    reg.set_alias("only", "best", "1")
    before = reg.get_registered_model("only")
    for p in store.glob("mlrun.db*"):
        p.unlink()
    with pytest.raises(IndexGone) as exc:
        SqliteStore(store).search_registered_models()
    assert str(exc.value) == (
        f"the store's index {store / 'mlrun.db'} is missing, but the record of 1 registered "
        f"model in {store / 'registry'} remains: run 'mlrun store repair --tracking-uri "
        f"{store}' to rebuild the index from it so that no registered model is lost"
    )
    report = repair_store(store)
    assert (report.damage, report.folders, report.models, report.versions) == (
        "it is missing",
        0,
        1,
        1,
    )
    assert SqliteStore(store).get_registered_model("only") == before


def test_repair_of_a_healthy_index_adds_the_models_it_lacks_and_writes_missing_records(
    tmp_path: Path,
) -> None:
    from mlrun_cli.store.sqlite.registry_record import record_path
    from mlrun_cli.store.sqlite.repair import repair_store

    store = tmp_path / "s"
    reg = SqliteStore(store).registry()
    for name in ("a", "b"):
        reg.create_registered_model(name)
        reg.create_model_version(name, f"/models/{name}")
    before = reg.search_model_versions()
    conn = sqlite3.connect(store / "mlrun.db", isolation_level=None)
    for table in ("registered_models", "model_versions"):
        conn.execute(f"DELETE FROM {table} WHERE name = 'a'")  # rows lost, its record kept
    conn.close()
    record_path(store, "b").unlink()  # a record lost, its rows kept
    report = repair_store(store)
    assert (report.damage, report.models, report.versions, report.records) == (None, 1, 1, 1)
    assert SqliteStore(store).search_model_versions() == before
    assert record_path(store, "b").is_file()
    report = repair_store(store)
    assert (report.models, report.records) == (0, 0)


def test_a_damaged_index_of_schema_2_says_its_models_cannot_be_rebuilt(tmp_path: Path) -> None:
    from mlrun_cli.store.sqlite.repair import repair_store

    store = tmp_path / "s"
    writer = SqliteStore(store)
    writer.create_run(NewRun("f" * 32, "0", "r", "ann", "cmd", {}, {}, 1000))
    for i in range(40):  # enough pages that half the file is a damaged one
        writer.create_registered_model(f"m{i}", description="x" * 500)
    writer.close()
    shutil.rmtree(store / "registry")  # as a store of schema 2 is: no records
    conn = sqlite3.connect(store / "mlrun.db")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    truncate(store / "mlrun.db")
    report = repair_store(store)
    assert report.damage is not None and report.models == 0
    assert report.problems[-1] == (
        "the damaged index was written before registered models were kept in registry/ beside "
        "it (schema 2): its registered models cannot be rebuilt from the store's folders; they "
        f"remain only in {report.moved[0].name}"
    )
    assert SqliteStore(store).get_run("f" * 32).name == "r"
