"""`mlrun runs list`: the columns that tell runs apart, what the limit cut, what a filter
matched, sweep trials hidden on request, and run ids that never wrap at 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mlrun_cli.store.base import Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

Cli = Callable[..., Result]
T0 = 1_700_000_000_000


@pytest.fixture
def store(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteStore:
    monkeypatch.setenv("TZ", "UTC")
    s = SqliteStore(isolated / ".mlrun")
    for i in range(5):
        rid = f"{i:x}" * 32
        tags = {"mlflow.project.entryPoint": "main"}
        if i >= 3:
            tags["mlrun.sweep.id"] = "0" * 32
        params = {"C": str(i), "kernel": "rbf"}
        s.create_run(NewRun(rid, "0", f"run-{i}", "ann", "t", params, tags, start_time=T0 + i))
        metrics = [Metric("test_accuracy", 0.5 + i / 10, 0, T0)]
        metrics += [Metric(f"autolog_{k}", 1.0, 0, T0) for k in "abcd" if i == 0]
        s.log_batch(rid, metrics=metrics)
        s.set_terminated(rid, "FINISHED", T0 + i + 1000, 0)
    return s


def test_default_columns_are_the_shared_metrics_and_the_differing_params(
    cli_run: Cli, store: SqliteStore
) -> None:
    out = cli_run("runs", "list").stdout
    header = out.splitlines()[0].split()
    # test_accuracy is shared by all runs, the autolog_ metrics by one; C differs, kernel not.
    assert header[:7] == ["run", "name", "status", "started", "duration", "entry", "test_accuracy"]
    assert "C" in header and "kernel" not in header


def test_columns_option(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list", "--columns", "params.kernel,metrics.test_accuracy")
    assert result.stdout.splitlines()[0].split()[-2:] == ["kernel", "test_accuracy"]
    assert result.stdout.splitlines()[1].split()[-2:] == ["rbf", "0.9"]
    bad = cli_run("runs", "list", "--columns", "accuracy")
    assert bad.exit_code == 2
    assert "--columns" in bad.stderr and "params.NAME" in bad.stderr


def test_the_limit_says_what_it_cut(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list", "--limit", "2")
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr == "2 runs shown, more match; raise --limit to see them\n"
    assert cli_run("runs", "list", "--limit", "5").stderr == ""


def test_a_filter_that_matches_nothing_says_so(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list", "--filter", "params.C = '99'")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"no runs match the filter in {store.root}\n"


def test_no_children_hides_sweep_trials(cli_run: Cli, store: SqliteStore) -> None:
    names = [
        line.split()[1] for line in cli_run("runs", "list", "--no-children").stdout.splitlines()[1:]
    ]
    assert names == ["run-2", "run-1", "run-0"]


def test_order_by_errors_name_the_order_by(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "list", "--order-by", "metrics.acc SIDEWAYS")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --order-by 'metrics.acc SIDEWAYS': expected ASC")


def test_run_ids_never_wrap_on_an_80_column_terminal(store: SqliteStore, isolated: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "FORCE_COLOR": "1", "NO_COLOR": "1"}
    args = ["runs", "list", "--columns", "params.C,params.kernel,metrics.test_accuracy,tags.x"]
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=isolated,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout).splitlines()  # bold headers
    assert all(len(line) <= 80 for line in lines)
    for i in range(5):
        rid = (f"{i:x}" * 32)[:8]
        assert any(rid in line and "FINISHED" in line for line in lines), (rid, proc.stdout)
