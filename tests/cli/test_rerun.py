"""`mlrun rerun`: a default path parameter is recorded as declared, so a run and its rerun
compare equal; a rerun that builds its environment says why, in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.envs import Environment, bytecode
from mlrun_cli.run.rerun import rebuild_reason
from mlrun_cli.store.base import Run

MLPROJECT = """
name: g
{env}entry_points:
  main:
    parameters:
      data: {{type: path, default: data.txt}}
      other: {{type: path, default: /etc}}
    command: "python show.py {{data}}"
"""
SHOW = "import sys; print('DATA', sys.argv[1].startswith('/'), open(sys.argv[1]).read().strip())\n"


def mlrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args], capture_output=True, text=True, timeout=300
    )


def git_project(root: Path, env: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "MLproject").write_text(MLPROJECT.format(env=env))
    (root / "show.py").write_text(SHOW)
    (root / "data.txt").write_text("hello\n")
    if env:
        (root / "python_env.yaml").write_text("dependencies: []\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=root, check=True)
    return root


def run_json(*args: str) -> dict[str, Any]:
    proc = mlrun(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    data["stderr"] = proc.stderr
    return data


def test_a_default_path_is_recorded_as_declared_and_compares_equal(tmp_path: Path) -> None:
    root = git_project(tmp_path / "repo")
    first = run_json("run", str(root), "--env-manager", "local")
    # The command gets the absolute path; the record keeps the default as declared.
    assert first["command"] == f"python show.py {root / 'data.txt'}"
    assert first["params"] == {"data": "data.txt", "other": "/etc"}
    again = run_json("rerun", first["run_id"])  # from a checkout, removed when it ends
    assert again["params"] == first["params"]
    assert "environment rebuilt" not in again["stderr"]  # the current environment: none built
    proc = mlrun("runs", "compare", first["run_id"], again["run_id"], "--json")
    rows = {r["key"]: r for r in json.loads(proc.stdout)["rows"]}
    assert rows["params.data"] == {
        "key": "params.data",
        "values": ["data.txt"] * 2,
        "differs": False,
    }
    assert not [k for k, r in rows.items() if k.startswith("params.") and r["differs"]]
    given = run_json("run", str(root), "--env-manager", "local", "-P", f"data={root / 'data.txt'}")
    assert given["params"]["data"] == str(root / "data.txt")  # a value given is kept as given


@pytest.mark.parametrize("manager", ["virtualenv", "uv"])
def test_a_rerun_that_builds_its_environment_says_why(
    tmp_path: Path, isolated: Path, manager: str
) -> None:
    root = git_project(tmp_path / "repo", env="python_env: python_env.yaml\n")
    first = run_json("run", str(root), "--env-manager", manager)
    rerun = run_json("rerun", first["run_id"])
    assert rerun["stderr"].splitlines()[-1] == (
        f"environment rebuilt: no cached environment has exactly the packages run "
        f"{first['run_id'][:8]} recorded (requirements.frozen.txt); it is built once, later "
        "reruns reuse it"
    )
    again = run_json("rerun", first["run_id"])
    assert again["env_key"] == rerun["env_key"] and "environment rebuilt" not in again["stderr"]
    env_dir = isolated.parent / "envs" / rerun["env_key"]
    # The env's background compile may still be writing __pycache__ folders into it.
    assert bytecode.wait(env_dir, timeout=300)
    shutil.rmtree(env_dir)  # pruned, say
    third = run_json("rerun", again["run_id"])
    assert third["stderr"].splitlines()[-1] == (
        f"environment rebuilt: the environment run {again['run_id'][:8]} ran in "
        f"({rerun['env_key']}) is gone from the cache"
    )


def test_the_reason_names_a_changed_manager_or_python() -> None:
    original = Run(
        run_id="ab" * 16,
        experiment_id="0",
        name="r",
        status="FINISHED",
        start_time=1,
        tags={
            "mlflow.project.env": "virtualenv",
            "mlrun.env.key": "virtualenv-1",
            "mlrun.env.python": "3.11.4",
        },
    )
    built = Environment(manager="uv", key="uv-2", python_version="3.11.9", reused=False)
    assert rebuild_reason(original, built, "uv", True) == (
        "run abababab used virtualenv; this rerun uses uv"
    )
    built = Environment(
        manager="virtualenv", key="virtualenv-2", python_version="3.11.9", reused=False
    )
    assert rebuild_reason(original, built, "virtualenv", True) == (
        "run abababab ran on python 3.11.4, which is not available; using 3.11.9"
    )
    reused = Environment(manager="virtualenv", key="virtualenv-1", reused=True)
    assert rebuild_reason(original, reused, "virtualenv", True) is None
