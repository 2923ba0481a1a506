"""`mlrun store repair`, and commands that only read creating no store. Real subprocesses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = "name: p\nentry_points:\n  main:\n    command: \"python -c 'print(1)'\"\n"


@pytest.fixture(autouse=True)
def no_store_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A store is looked for in parent directories too; none above the test's own folder.
    monkeypatch.setenv("MLRUN_STORE_CEILING", str(tmp_path))


def test_read_only_commands_in_a_directory_without_a_store_create_none(
    mlrun: Mlrun, isolated: Path
) -> None:
    store = isolated / ".mlrun"
    cases = [
        (("runs", "list"), 0, "", f"no runs in {store}\n"),
        (("runs", "list", "--json"), 0, '{\n  "schema": "mlrun.runs/1",\n  "runs": []\n}\n', ""),
        (
            ("runs", "show", "abc"),
            2,
            "",
            f"error: no run 'abc' in {store}; see 'mlrun runs list'\n",
        ),
        (
            ("runs", "compare", "abc", "abd"),
            2,
            "",
            f"error: no run 'abc' in {store}; see 'mlrun runs list'\n",
        ),
        (("experiments", "list"), 0, "id  name\n0   Default\n", ""),
        (("sweep", "list"), 0, "", "no sweeps\n"),
        (
            ("sweep", "show", "x"),
            2,
            "",
            f"error: no sweep 'x' in {store}; see 'mlrun sweep list'\n",
        ),
    ]
    for argv, code, stdout, stderr in cases:
        proc = mlrun(*argv)
        assert (proc.returncode, proc.stdout, proc.stderr) == (code, stdout, stderr), argv
        assert not store.exists(), f"mlrun {' '.join(argv)} created {store}"


def test_the_store_is_created_by_the_first_write(mlrun: Mlrun, isolated: Path) -> None:
    proc = mlrun("experiments", "create", "tuning")
    assert (proc.returncode, proc.stdout) == (0, "created experiment 1: tuning\n")
    assert (isolated / ".mlrun" / "mlrun.db").is_file()
    assert (isolated / ".mlrun" / ".gitignore").is_file()


def test_an_unknown_experiment_id_is_refused_before_anything_is_created(
    mlrun: Mlrun, isolated: Path, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "proj", PROJECT)
    store = isolated / ".mlrun"
    line = f"error: no experiment with id '999' in {store}; see 'mlrun experiments list'\n"
    for argv, env in (
        (("run", str(project), "--experiment-id", "999"), None),
        (("run", str(project)), {"MLRUN_EXPERIMENT_ID": "999"}),
    ):
        proc = mlrun(*argv, "--env-manager", "local", env=env)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line)
        assert not store.exists()
    # In an existing store: refused, and no run is recorded.
    assert mlrun("run", str(project), "--env-manager", "local").returncode == 0
    folders = sorted((store / "runs").iterdir())
    proc = mlrun("run", str(project), "--experiment-id", "999", "--env-manager", "local")
    assert (proc.returncode, proc.stderr) == (2, line)
    assert sorted((store / "runs").iterdir()) == folders


def test_repair_of_a_store_that_is_not_there_says_so(mlrun: Mlrun, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    proc = mlrun("store", "repair", "--tracking-uri", str(missing))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2,
        "",
        f"error: no store at {missing}; nothing to repair (pass the store's directory with "
        "--tracking-uri)\n",
    )
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = mlrun("store", "repair", "--tracking-uri", str(empty))
    assert (proc.returncode, proc.stdout) == (
        0,
        f"no index and no run folders in {empty}; nothing to repair\n",
    )
    assert list(empty.iterdir()) == []


def test_repair_refuses_an_mlflow_server(mlrun: Mlrun) -> None:
    proc = mlrun("store", "repair", "--tracking-uri", "http://127.0.0.1:9")
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: 'mlrun store repair' works on the embedded store (a directory such as "
        "./.mlrun); an MLflow server keeps its own database\n",
    )


def test_a_store_elsewhere_is_named_in_the_hint_and_repaired_with_json(
    mlrun: Mlrun, tmp_path: Path
) -> None:
    store = tmp_path / "team-store"
    writer = SqliteStore(store)
    for i in range(2):
        writer.create_run(NewRun(f"{i:032x}", "0", f"r{i}", "ann", "cmd", {}, {}, 1000 + i))
    writer.close()
    (store / "mlrun.db").write_bytes(b"not sqlite" * 300)
    proc = mlrun("runs", "list", "--tracking-uri", str(store))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: the store's index {store / 'mlrun.db'} is damaged (file is not a database); "
        f"the 2 run folders in {store / 'runs'} remain: run 'mlrun store repair "
        f"--tracking-uri {store}' to rebuild the index from them (the damaged file is kept)\n",
    )
    proc = mlrun("store", "repair", "--tracking-uri", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (aside,) = report.pop("moved_aside")
    assert Path(aside).read_bytes() == b"not sqlite" * 300
    assert report == {
        "schema": "mlrun.repair/1",
        "store": str(store),
        "damage": "file is not a database",
        "run_folders": 2,
        "recovered_full": 2,
        "recovered_partial": 0,
        "ends_recorded": 0,
        "experiments": 1,
        "metric_points": 0,
        "registered_models": 0,
        "model_versions": 0,
        "registry_records_written": 0,
    }
    listed = json.loads(mlrun("runs", "list", "--tracking-uri", str(store), "--json").stdout)
    assert sorted(r["name"] for r in listed["runs"]) == ["r0", "r1"]
