"""`mlrun runs` and `mlrun experiments` in-process: exact plain output and JSON."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mlrun_cli.store.base import Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

Cli = Callable[..., Result]
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def store(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteStore:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    s = SqliteStore(isolated / ".mlrun")
    runs = [
        ("aaaa1111" + "0" * 24, {"C": "1", "kernel": "linear"}, [0.5, 0.9, 0.95], "FINISHED", 0),
        ("bbbb2222" + "0" * 24, {"C": "10", "kernel": "linear"}, [0.7, 0.8], "FAILED", 1),
    ]
    for i, (rid, params, accs, status, code) in enumerate(runs):
        tags = {
            "mlflow.project.entryPoint": "main",
            "mlflow.project.env": "uv",
            "mlrun.env.key": "uv-1",
        }
        s.create_run(
            NewRun(
                rid, "0", f"run-{i}", "ann", "python t.py", params, tags, start_time=T0 + i * 1000
            )
        )
        s.log_batch(rid, metrics=[Metric("acc", v, step, T0) for step, v in enumerate(accs)])
        s.set_terminated(rid, status, T0 + i * 1000 + 2500, code)
    return s


def test_list_plain(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list")
    assert result.exit_code == 0
    assert result.stdout == (
        "run       name   status    started              duration  entry  acc   C\n"
        "bbbb2222  run-1  FAILED    2023-11-14 22:13:21  2.5s      main   0.8   10\n"
        "aaaa1111  run-0  FINISHED  2023-11-14 22:13:20  2.5s      main   0.95  1\n"
    )


def test_list_filter_order_json(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run(
        "runs", "list", "--filter", "metrics.acc > 0.5", "--order-by", "metrics.acc DESC", "--json"
    )
    data = json.loads(result.stdout)
    assert data["schema"] == "mlrun.runs/1"
    assert [r["name"] for r in data["runs"]] == ["run-0", "run-1"]
    assert data["runs"][0]["metrics"]["acc"] == {"value": 0.95, "step": 2, "timestamp": T0}
    assert data["runs"][0]["duration_s"] == 2.5
    only = json.loads(cli_run("runs", "list", "--filter", "params.C = '10'", "--json").stdout)
    assert [r["name"] for r in only["runs"]] == ["run-1"]


def test_list_bad_filter(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list", "--filter", "metrics.acc >> 1")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: filter 'metrics.acc >> 1': expected a number, found '>' at column 14; "
        "the grammar is in 'mlrun runs list --help'\n"
    )


def test_show_plain(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "show", "aaaa")
    assert result.exit_code == 0, result.output
    art = store.artifact_dir("aaaa1111" + "0" * 24)
    assert result.stdout == (
        f"run aaaa1111{'0' * 24}  run-0\n"
        "status      FINISHED\n"
        "exit code   0\n"
        "experiment  0\n"
        "started     2023-11-14 22:13:20\n"
        "duration    2.5s\n"
        "user        ann\n"
        "command     python t.py\n"
        f"artifacts   {art}\n"
        "environment:\n"
        "manager  uv\n"
        "key      uv-1\n"
        "params:\n"
        "name    value\n"
        "C       1\n"
        "kernel  linear\n"
        "metrics:\n"
        "name  value  step  history\n"
        "acc   0.95   2     ▁▇█\n"
        "tags:\n"
        "name                       value\n"
        "mlflow.project.entryPoint  main\n"
    )


def test_show_json_has_history(cli_run: Cli, store: SqliteStore) -> None:
    data = json.loads(cli_run("runs", "show", "bbbb", "--json").stdout)
    assert data["schema"] == "mlrun.run-detail/1"
    assert [p["value"] for p in data["metric_history"]["acc"]] == [0.7, 0.8]
    assert data["exit_code"] == 1


def test_compare(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "compare", "aaaa", "bbbb")
    assert result.stdout == (
        "                aaaa1111  bbbb2222\n"
        "*  params.C     1         10\n"
        "*  metrics.acc  0.95      0.8\n"
        "*  status       FINISHED  FAILED\n"
        "(6 identical rows folded; --all-rows shows them)\n"
    )
    data = json.loads(cli_run("runs", "compare", "aaaa", "bbbb", "--json").stdout)
    assert {r["key"]: r["differs"] for r in data["rows"]}["params.kernel"] is False
    assert cli_run("runs", "compare", "aaaa").stderr == (
        "error: give at least two run ids to compare; see 'mlrun runs compare --help'\n"
    )


def test_delete_and_restore(cli_run: Cli, store: SqliteStore) -> None:
    assert cli_run("runs", "delete", "aaaa").stderr == "deleted 1 run: aaaa1111\n"
    names = [r["name"] for r in json.loads(cli_run("runs", "list", "--json").stdout)["runs"]]
    assert names == ["run-1"]
    everything = json.loads(cli_run("runs", "list", "--all", "--json").stdout)["runs"]
    assert [r["lifecycle_stage"] for r in everything] == ["active", "deleted"]
    assert cli_run("runs", "restore", "aaaa").stderr == "restored 1 run: aaaa1111\n"
    assert len(json.loads(cli_run("runs", "list", "--json").stdout)["runs"]) == 2
    bad = cli_run("runs", "delete", "aaaa", "ffff")
    assert bad.exit_code == 2
    assert store.get_run("aaaa").lifecycle_stage == "active"  # nothing changed on bad input


def test_experiments(cli_run: Cli, store: SqliteStore) -> None:
    assert cli_run("experiments", "create", "tuning").stdout == "created experiment 1: tuning\n"
    assert cli_run("experiments", "create", "tuning").stderr == (
        "error: an experiment named 'tuning' exists already\n"
    )
    assert cli_run("experiments", "rename", "tuning", "sweeps").stdout == (
        "renamed experiment 1: tuning -> sweeps\n"
    )
    assert cli_run("experiments", "list").stdout == "id  name\n0   Default\n1   sweeps\n"
    data = json.loads(cli_run("experiments", "list", "--json").stdout)
    assert data == {
        "schema": "mlrun.experiments/1",
        "experiments": [
            {"experiment_id": "0", "name": "Default", "lifecycle_stage": "active"},
            {"experiment_id": "1", "name": "sweeps", "lifecycle_stage": "active"},
        ],
    }
    assert cli_run("runs", "list", "--experiment-name", "nope").stderr == (
        "error: no experiment named 'nope'; see 'mlrun experiments list'\n"
    )


def test_rich_tables_on_a_terminal(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlrun_cli import console

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    console.reset()
    console.table(None, ["a", "b"], [("1", "2")])
    out = capsys.readouterr().out
    assert "─" in out  # drawn with rich, yet without colour codes
    assert re.search(r"\x1b\[[0-9;]*3[0-7]m", out) is None  # no foreground colours
