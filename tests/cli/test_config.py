"""Defaults from config files: flag > environment variable > project config (mlrun.toml or
[tool.mlrun] in pyproject.toml) > user config (~/.config/mlrun/config.toml) > built-in; bad
files are one line and exit 2; `mlrun config` says what is in effect and where it came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.config import ConfigError, parse_minimal
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

MLPROJECT = """
name: c
entry_points:
  main:
    parameters:
      x: {type: float, default: 1}
    command: "python t.py {x}"
"""

# With MEET=N, waits (30 s at most) for N trials to have started, then fails if they did not.
TRIAL = """
import os, sys, time
from pathlib import Path
open(f"started-{sys.argv[1]}", "w").close()
deadline = time.monotonic() + 30
while len(list(Path().glob("started-*"))) < int(os.environ.get("MEET", "0")):
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.02)
"""


@pytest.fixture(autouse=True)
def user_config_home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user config lives under a test's own XDG_CONFIG_HOME; no MLRUN_* default is set."""
    for var in ("MLRUN_ENV_MANAGER", "MLRUN_BACKEND", "MLRUN_JOBS"):
        monkeypatch.delenv(var, raising=False)
    config_home = isolated.parent / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home / "mlrun" / "config.toml"


@pytest.fixture
def project(isolated: Path) -> Path:
    return write_project(isolated / "proj", MLPROJECT, {"t.py": TRIAL})


def mlrun(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def effective(cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = mlrun("config", "--json", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["schema"] == "mlrun.config/1"
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_level_wins_over_the_next(isolated: Path, user_config_home: Path) -> None:
    default = effective()["settings"]["tracking_uri"]
    assert default == {"value": str(isolated / ".mlrun"), "source": "default"}
    user = write(user_config_home, 'tracking_uri = "/srv/user-store"\njobs = 3\n')
    got = effective()
    assert got["settings"]["tracking_uri"] == {"value": "/srv/user-store", "source": str(user)}
    assert got["files"] == {"project": None, "user": str(user)}
    proj = write(isolated / "mlrun.toml", 'tracking_uri = "/srv/project-store"\n')
    got = effective()["settings"]
    assert got["tracking_uri"] == {"value": "/srv/project-store", "source": str(proj)}
    assert got["jobs"] == {"value": "3", "source": str(user)}  # the user's, for what it alone sets
    got = effective(env={"MLRUN_TRACKING_URI": "/srv/env-store", "MLRUN_JOBS": "auto"})["settings"]
    assert got["tracking_uri"] == {"value": "/srv/env-store", "source": "MLRUN_TRACKING_URI"}
    assert got["jobs"] == {"value": "auto", "source": "MLRUN_JOBS"}


def test_a_run_records_into_the_configured_store_and_the_flag_wins(
    isolated: Path, project: Path, user_config_home: Path
) -> None:
    write(user_config_home, 'tracking_uri = "/nonexistent/user-store"\n')
    write(isolated / "mlrun.toml", 'tracking_uri = "stores/here"\nenv_manager = "local"\n')
    proc = mlrun("run", str(project))  # the fast path
    assert proc.returncode == 0, proc.stderr
    assert (isolated / "stores" / "here" / "mlrun.db").is_file()
    assert not (isolated / ".mlrun").exists()
    proc = mlrun("run", str(project), "--tracking-uri", str(isolated / "flag-store"))
    assert proc.returncode == 0, proc.stderr
    assert (isolated / "flag-store" / "mlrun.db").is_file()
    # From a subdirectory: the same project config, its relative path still from its own folder.
    sub = isolated / "a" / "b"
    sub.mkdir(parents=True)
    listed = mlrun("runs", "list", "--json", cwd=sub)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["runs"]) == 1


def test_pyproject_tool_table_and_mlrun_toml(isolated: Path, project: Path) -> None:
    write(project / "pyproject.toml", '[project]\nname = "x"\n')
    assert effective(cwd=project)["files"]["project"] is None  # no [tool.mlrun]: not a config
    py = write(
        project / "pyproject.toml",
        '[project]\nname = "x"\ndependencies = ["a", "b"]\n\n[tool.mlrun]\nenv_manager = "uv"\n'
        "\n[tool.ruff]\nline-length = 100\n",
    )
    got = effective(cwd=project)
    assert got["files"]["project"] == str(py)
    assert got["settings"]["env_manager"] == {"value": "uv", "source": str(py)}
    toml = write(project / "mlrun.toml", 'env_manager = "local"\n')
    assert effective(cwd=project)["settings"]["env_manager"] == {
        "value": "local",
        "source": str(toml),
    }


def test_env_manager_and_experiment_reach_the_run(
    isolated: Path, project: Path, user_config_home: Path
) -> None:
    write(project / "python_env.yaml", "dependencies: []\n")  # would be a virtualenv
    write(user_config_home, 'env_manager = "local"\nexperiment_name = "from-user"\n')
    plan = mlrun("run", ".", "--dry-run", "--json", cwd=project)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["env_manager"] == "local"
    plan = mlrun("run", ".", "--dry-run", "--json", cwd=project, env={"MLRUN_ENV_MANAGER": "uv"})
    assert json.loads(plan.stdout)["env_manager"] == "uv"
    plan = mlrun("run", ".", "--dry-run", "--json", "--env-manager", "conda", cwd=project,
                 env={"MLRUN_ENV_MANAGER": "uv"})  # fmt: skip
    assert json.loads(plan.stdout)["env_manager"] == "conda"
    assert mlrun("run", ".", cwd=project).returncode == 0
    assert mlrun("run", ".", cwd=project, env={"MLRUN_EXPERIMENT_NAME": "from-env"}).returncode == 0
    assert mlrun("run", ".", "--experiment-name", "from-flag", cwd=project).returncode == 0
    store = SqliteStore(project / ".mlrun")
    names = {
        store.get_experiment(run["experiment_id"]).name
        for run in json.loads(mlrun("runs", "list", "--json", cwd=project).stdout)["runs"]
    }
    assert names == {"from-user", "from-env", "from-flag"}


def test_jobs_from_the_config_run_trials_at_once(isolated: Path, project: Path) -> None:
    write(isolated / "mlrun.toml", 'jobs = 2\nenv_manager = "local"\n')
    proc = mlrun("sweep", str(project), "-P", "x=[1,2]", env={"MEET": "2"})
    assert proc.returncode == 0, proc.stderr  # a trial fails unless both run at once
    proc = mlrun("sweep", str(project), "-P", "x=[3,4]", "-j", "1", "--json", env={"MEET": "4"})
    assert proc.returncode == 1  # -j 1 wins: the first trial waits for a second in vain


def test_backend_from_the_config_reaches_the_run(isolated: Path, project: Path) -> None:
    write(isolated / "mlrun.toml", 'backend = "slurm"\nenv_manager = "local"\n')
    assert effective()["settings"]["backend"]["value"] == "slurm"
    local = mlrun("run", str(project), "--dry-run", "--json", "--backend", "local")
    assert json.loads(local.stdout)["schema"] == "mlrun.plan/1"
    # Planned for the cluster (its dry run prints the command alone), or refused there because
    # it is not ready: either way not a local plan. Nothing is submitted by a dry run.
    for fast in ("0", "1"):
        proc = mlrun("run", str(project), "--dry-run", "--json", env={"MLRUN_NO_FAST_PATH": fast})
        assert proc.stdout.strip() == "python t.py 1" or '"mlrun.error/1"' in proc.stdout
    proc = mlrun("run", str(project), env={"MLRUN_BACKEND": "bogus"})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: MLRUN_BACKEND='bogus' is not a known backend; choose")


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "mlrun.toml",
            'env_manger = "uv"\n',
            "{file}: unknown key 'env_manger' in mlrun.toml; did you mean 'env_manager'? valid "
            "keys: backend, env_manager, experiment_name, jobs, tracking_uri",
        ),
        (
            "pyproject.toml",
            "[tool.mlrun]\njbos = 2\n",
            "{file}: unknown key 'jbos' in [tool.mlrun]; did you mean 'jobs'? valid keys: "
            "backend, env_manager, experiment_name, jobs, tracking_uri",
        ),
        (
            "mlrun.toml",
            'env_manager = "pipenv"\n',
            "{file}: env_manager = 'pipenv' is not a known env manager; choose one of: {managers}",
        ),
        (
            "mlrun.toml",
            "jobs = 0\n",
            "{file}: jobs = 0: jobs is a number of at least 1, or auto",
        ),
        (
            "mlrun.toml",
            'backend = "k8s"\n',
            "{file}: backend = 'k8s' is not a known backend; choose one of: {backends}",
        ),
        ("mlrun.toml", "jobs = [\n", "{file}: not valid TOML ({toml_error})"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(
    isolated: Path, project: Path, file: str, text: str, message: str
) -> None:
    from mlrun_cli.backends import backend_names
    from mlrun_cli.envs import manager_names

    path = write(isolated / file, text)
    toml_error = ""
    if "TOML" in message:
        import tomllib

        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            toml_error = str(exc)
    want = message.format(
        file=path,
        backends=", ".join(backend_names()),
        managers=", ".join(manager_names()),
        toml_error=toml_error,
    )
    for args in (["run", str(project)], ["config"], ["runs", "list"]):
        proc = mlrun(*args)
        assert (proc.returncode, proc.stderr) == (2, f"error: {want}\n"), args
    assert not (isolated / ".mlrun").exists()


def test_a_bad_environment_variable_is_one_line(project: Path) -> None:
    from mlrun_cli.envs import manager_names

    proc = mlrun("run", str(project), env={"MLRUN_ENV_MANAGER": "pipenv"})
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: MLRUN_ENV_MANAGER='pipenv' is not a known env manager; choose one of: "
        f"{', '.join(manager_names())}\n",
    )


def test_the_config_command_says_where_each_value_came_from(
    isolated: Path, user_config_home: Path
) -> None:
    user = write(user_config_home, 'backend = "local"\ntracking_uri = "/srv/s"\n')
    proj = write(isolated / "mlrun.toml", 'env_manager = "uv"\n')
    proc = mlrun("config", env={"MLRUN_JOBS": "4"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "key              value                     from\n"
        f"tracking_uri     /srv/s                    {user}\n"
        "experiment_name  (the Default experiment)  default\n"
        f"env_manager      uv                        {proj}\n"
        f"backend          local                     {user}\n"
        "jobs             4                         MLRUN_JOBS\n"
        f"project config: {proj}\n"
        f"user config: {user}\n"
    )


def test_a_warm_run_with_a_config_file_stays_lean(isolated: Path, project: Path) -> None:
    write(isolated / "mlrun.toml", 'env_manager = "local"\n')
    assert mlrun("run", str(project)).returncode == 0
    argv = [sys.executable, "-X", "importtime", "-m", "mlrun_cli", "run", str(project)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "mlrun_cli.config" in imported
    for heavy in ("click", "typing", "dataclasses", "random", "rich"):
        assert heavy not in imported, f"a warm run with a config file imports {heavy}"


def test_the_minimal_parser_of_python_3_10_reads_what_settings_need() -> None:
    text = (
        '[project]\nname = "x"\ndependencies = [\n  "a",\n]\n\n'
        "[tool.mlrun]  \n# the defaults\n"
        "env_manager = 'uv'  # comment\njobs = 4\ntracking_uri = \"/srv/s\"\n"
        '\n[tool.ruff]\nselect = ["E"]\n'
    )
    assert parse_minimal(text, "pyproject.toml") == {
        "tool": {"mlrun": {"env_manager": "uv", "jobs": 4, "tracking_uri": "/srv/s"}}
    }
    assert parse_minimal('jobs = "auto"\n', "mlrun.toml") == {"jobs": "auto"}
    with pytest.raises(ConfigError) as err:
        parse_minimal("[tool.mlrun]\njobs = [1, 2]\n", "pyproject.toml")
    assert str(err.value) == (
        "pyproject.toml:2: cannot read this line without Python 3.11's TOML parser; "
        'write key = "text" or key = 123'
    )
