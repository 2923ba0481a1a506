"""Every --json output is one object with a schema field; logs and runs sync have one too."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]


def test_logs_json(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(
        tmp_path / "p", 'name: l\nentry_points:\n  main:\n    command: "echo hello"\n'
    )
    run = json.loads(mlrun("run", str(project), "--env-manager", "local", "--json").stdout)
    for follow in ((), ("--follow",)):
        proc = mlrun("logs", run["run_id"][:8], *follow, "--json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["schema"] == "mlrun.logs/1"
        assert (data["run_id"], data["status"], data["exit_code"]) == (
            run["run_id"],
            "FINISHED",
            0,
        )
        assert "hello" in proc.stderr  # the log itself, off stdout


def test_runs_sync_json_on_a_local_store(mlrun: Mlrun, isolated: Path) -> None:
    proc = mlrun("runs", "sync", "--json")
    assert json.loads(proc.stdout)["schema"] == "mlrun.sync/1"


def test_every_json_option_gives_a_schema(cli_run: Callable[..., Result], isolated: Path) -> None:
    # Commands that need no arguments and no server, run on an empty store.
    for args in (
        ["runs", "list"],
        ["runs", "sync"],
        ["experiments", "list"],
        ["envs", "list"],
        ["sweep", "list"],
    ):
        result = cli_run(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        assert "schema" in json.loads(result.stdout), args
