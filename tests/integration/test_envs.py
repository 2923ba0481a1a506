"""Real environments built from the package registry (a tiny pure-Python package: six)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.envs import bytecode
from mlrun_cli.envs.interpreters import find_uv
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import REPO, write_project

pytestmark = pytest.mark.slow

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

MLPROJECT = """
entry_points:
  main:
    command: "python -c 'import six, sys; print(\\"six\\", six.__version__, sys.prefix)'"
  noop:
    command: "true"
  verbose:
    command: "python -v -c 'import six'"
"""

PYTHON_ENV = """
python: "{py}"
dependencies:
  - -r requirements.txt
"""

CURRENT = "{}.{}".format(*sys.version_info[:2])


def needs_uv() -> str:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (pip install 'mlrun-cli[uv]')")
    return uv


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "p",
        MLPROJECT,
        {"python_env.yaml": PYTHON_ENV.format(py=CURRENT), "requirements.txt": "six==1.16.0\n"},
    )


def alive(pid: int, timeout: float = 30.0) -> bool:
    """True if `pid` is still a live process (zombies awaiting a reaper do not count)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            state = stat[stat.rindex(")") + 2]
        except (OSError, ValueError):
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.1)


def runs(cwd: Path) -> list:  # type: ignore[type-arg]
    return SqliteStore(cwd / ".mlrun").search_runs()


def env_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


@pytest.mark.parametrize("manager", ["virtualenv", "uv"])
def test_build_reuse_and_record(
    mlrun: Mlrun, project: Path, isolated: Path, tmp_path: Path, manager: str
) -> None:
    if manager == "uv":
        needs_uv()
    proc = mlrun("run", str(project), "--env-manager", manager)
    assert proc.returncode == 0, proc.stderr
    assert "six 1.16.0" in proc.stdout
    (env_dir,) = env_dirs(tmp_path / "envs")
    assert proc.stdout.split()[-1] == str(env_dir)  # the child ran inside the env
    assert f"building environment {env_dir.name}" in proc.stderr
    # The env was ready before its bytecode: that is compiled in the background.
    assert "  compiling bytecode in the background" in proc.stderr
    assert bytecode.wait(env_dir, timeout=120)
    (pyc,) = env_dir.glob("lib/python*/site-packages/__pycache__/six.*.pyc")
    # A run that may not write bytecode loads it, compiled, from the second run on.
    verbose = mlrun(
        "run", str(project), "--env-manager", manager, "-e", "verbose",
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert verbose.returncode == 0, verbose.stderr
    assert f"# code object from '{pyc}'" in verbose.stderr
    run = runs(isolated)[0]
    assert run.tags["mlflow.project.env"] == manager
    assert run.tags["mlrun.env.key"] == env_dir.name
    assert run.tags["mlrun.env.python"].startswith(CURRENT)
    frozen = Path(run.artifact_uri or "") / "environment" / "requirements.frozen.txt"
    # Only package lines: a rerun installs exactly this file (uv's "Using Python ..." note
    # once landed in it, and the rerun of a uv-built run failed).
    pins = frozen.read_text().splitlines()
    assert "six==1.16.0" in pins
    assert all("==" in pin for pin in pins), pins  # pip freeze --all adds pip, setuptools
    # Warm: reused silently.
    again = mlrun("run", str(project), "--env-manager", manager, "-e", "noop")
    assert again.returncode == 0
    assert again.stderr.startswith("run ")  # only the closing line; nothing about envs
    assert env_dirs(tmp_path / "envs") == [env_dir]


# What a cold build prints, per installer (build dependencies included): pip installs them
# in a run of their own and names each package it collects; uv resolves everything at once.
COLD_BUILD = {
    "virtualenv": (
        r"building environment (?P<name>virtualenv-\w+) \(python {py}\.\d+\) with virtualenv \+ pip\n"
        r"  installing 1 build requirement\n"
        r"(    collected 1 packages\n)?"
        r"  installing 1 requirement\n"
        r"    collected 1 packages\n"
        r"  installed \d+ packages in \d+\.\ds; log: (?P<log>\S+)\n"
        r"  compiling bytecode in the background \(mlrun envs list shows it\)\n"
    ),
    "uv": (
        r"building environment (?P<name>uv-\w+) \(python {py}\.\d+\) with uv \d+\.\d+\.\d+\S*\n"
        r"  installing 2 requirements\n"
        r"    resolved 2 packages\n"
        r"(    prepared \d+ packages?\n)?"
        r"  installed 2 packages in \d+\.\ds; log: (?P<log>\S+)\n"
        r"  compiling bytecode in the background \(mlrun envs list shows it\)\n"
    ),
}


@pytest.mark.parametrize("manager", ["virtualenv", "uv"])
def test_a_cold_build_says_what_it_installs(
    mlrun: Mlrun, project: Path, tmp_path: Path, manager: str
) -> None:
    if manager == "uv":
        needs_uv()
    (project / "python_env.yaml").write_text(
        PYTHON_ENV.format(py=CURRENT) + "build_dependencies:\n  - setuptools\n"
    )
    proc = mlrun("run", str(project), "--env-manager", manager, "-e", "noop")
    assert proc.returncode == 0, proc.stderr
    (env_dir,) = env_dirs(tmp_path / "envs")
    match = re.match(COLD_BUILD[manager].format(py=re.escape(CURRENT)), proc.stderr)
    assert match, proc.stderr
    assert match["name"] == env_dir.name
    assert match["log"] == str(tmp_path / "envs" / ".logs" / f"{env_dir.name}.log")
    assert re.fullmatch(r"run \w+ FINISHED \(exit code 0\)\n", proc.stderr[match.end() :])
    freeze = (env_dir / "mlrun-freeze.txt").read_text().splitlines()
    assert "six==1.16.0" in freeze
    assert any(line.startswith("setuptools==") for line in freeze)


def test_requirements_change_builds_a_new_env_and_says_why(
    mlrun: Mlrun, project: Path, tmp_path: Path
) -> None:
    uv = needs_uv()
    del uv
    assert mlrun("run", str(project), "--env-manager", "uv").returncode == 0
    (project / "requirements.txt").write_text("six==1.15.0\n")
    proc = mlrun("run", str(project), "--env-manager", "uv")
    assert proc.returncode == 0, proc.stderr
    assert "six 1.15.0" in proc.stdout
    assert "environment changed (requirements.txt changed); building uv-" in proc.stderr
    assert len(env_dirs(tmp_path / "envs")) == 2


def test_four_concurrent_runs_build_once(mlrun: Mlrun, project: Path, tmp_path: Path) -> None:
    needs_uv()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlrun_cli", "run", str(project), "--env-manager", "uv"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    building = [line for _, err in outs for line in err.splitlines()]
    assert sum(line.startswith("building environment ") for line in building) == 1
    assert sum(line.startswith("waiting for another process building") for line in building) >= 1
    assert all("six 1.16.0" in out for out, _ in outs)
    assert len(env_dirs(tmp_path / "envs")) == 1


SLOW_BACKEND = """
import os, time, zipfile, base64, hashlib

def _sleep():
    open(os.environ["SLOW_MARK"], "w").write(str(os.getpid()))
    time.sleep(120)

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _sleep()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _sleep()
"""

SLOW_PYPROJECT = """
[build-system]
requires = []
build-backend = "slowbackend"
backend-path = ["."]
[project]
name = "slowpkg"
version = "1.0"
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_nothing_usable(
    project: Path, isolated: Path, tmp_path: Path, sig: int
) -> None:
    needs_uv()
    slow = tmp_path / "slowpkg"
    slow.mkdir()
    (slow / "slowbackend.py").write_text(SLOW_BACKEND)
    (slow / "pyproject.toml").write_text(SLOW_PYPROJECT)
    (project / "requirements.txt").write_text(f"{slow}\n")
    mark = tmp_path / "building"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "--env-manager", "uv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLOW_MARK": str(mark)},
    )
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert time.monotonic() < deadline, "the build never reached the slow package"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    builder_pid = int(mark.read_text())
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "interrupted while the environment was being built" in err
    assert not alive(builder_pid)
    assert env_dirs(tmp_path / "envs") == []  # nothing half-built is left to reuse
    (run,) = runs(isolated)
    assert run.status == "KILLED"


def test_broken_env_is_rebuilt_with_a_reason(mlrun: Mlrun, project: Path, tmp_path: Path) -> None:
    needs_uv()
    assert mlrun("run", str(project), "--env-manager", "uv").returncode == 0
    (env_dir,) = env_dirs(tmp_path / "envs")
    (env_dir / "bin" / "python").unlink()
    proc = mlrun("run", str(project), "--env-manager", "uv")
    assert proc.returncode == 0, proc.stderr
    assert (
        f"environment {env_dir.name} is broken (its interpreter is missing); rebuilding it"
        in proc.stderr
    )
    assert "six 1.16.0" in proc.stdout


def test_half_built_env_is_never_used(mlrun: Mlrun, project: Path, tmp_path: Path) -> None:
    needs_uv()
    assert mlrun("run", str(project), "--env-manager", "uv").returncode == 0
    (env_dir,) = env_dirs(tmp_path / "envs")
    (env_dir / ".mlrun-env.json").unlink()  # as if the build died before its marker
    proc = mlrun("run", str(project), "--env-manager", "uv")
    assert proc.returncode == 0
    assert f"environment {env_dir.name} was not completely built; rebuilding it" in proc.stderr


def test_conda_yaml_through_a_virtualenv(mlrun: Mlrun, tmp_path: Path) -> None:
    needs_uv()
    conda = f"name: x\ndependencies:\n  - python={CURRENT}\n  - numpy=1.26\n  - pip\n  - pip:\n    - six==1.16.0\n"
    root = write_project(
        tmp_path / "c", "conda_env: conda.yaml\n" + MLPROJECT, {"conda.yaml": conda}
    )
    proc = mlrun("run", str(root), "--env-manager", "uv")
    assert proc.returncode == 0, proc.stderr
    assert "six 1.16.0" in proc.stdout
    assert "conda-only packages are not installed in a virtualenv: numpy=1.26" in proc.stderr


def test_missing_python_version_is_one_clear_error(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    (project / "python_env.yaml").write_text('python: "3.99"\n')
    proc = mlrun("run", str(project), "--env-manager", "virtualenv")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: no Python 3.99 on this machine (found: ")
    assert "uv python install 3.99" in lines[0]
    (run,) = runs(isolated)
    assert run.status == "FAILED"


def test_frozen_pins_replace_the_dependencies(project: Path, tmp_path: Path) -> None:
    needs_uv()
    from mlrun_cli.envs import get_manager
    from mlrun_cli.project.mlproject import load_project

    pins = tmp_path / "pins.txt"
    pins.write_text("six==1.15.0\n")
    env = get_manager("uv").prepare(load_project(project), frozen=pins)
    assert env.freeze_file is not None
    assert "six==1.15.0" in env.freeze_file.read_text().splitlines()


def test_envs_list_prune_build(mlrun: Mlrun, project: Path, tmp_path: Path) -> None:
    needs_uv()
    proc = mlrun("envs", "build", str(project), "--json")
    assert proc.returncode == 0, proc.stderr
    built = json.loads(proc.stdout)
    assert built["reused"] is False and built["manager"] == "uv"
    assert json.loads(mlrun("envs", "build", str(project), "--json").stdout)["reused"] is True
    listing = json.loads(mlrun("envs", "list", "--json").stdout)
    assert [e["name"] for e in listing["envs"]] == [built["key"]]
    assert listing["envs"][0]["size"] > 0
    assert listing["envs"][0]["bytecode"] in ("compiling", "incomplete", "complete")
    assert bytecode.wait(tmp_path / "envs" / built["key"], timeout=120)
    listing = json.loads(mlrun("envs", "list", "--json").stdout)
    assert listing["envs"][0]["bytecode"] == "complete"
    assert (
        mlrun("envs", "prune", "--older-than", "1").stderr == "removed 0 environments, freed 0 B\n"
    )
    pruned = mlrun("envs", "prune", "--all")
    assert pruned.stderr.startswith("removed 1 environment, freed ")
    assert env_dirs(tmp_path / "envs") == []


def test_iris_example_with_the_default_manager(mlrun: Mlrun, isolated: Path) -> None:
    proc = mlrun("run", str(REPO / "examples" / "iris-classification"), "-P", "C=0.5", timeout=600)
    assert proc.returncode == 0, proc.stderr
    (run,) = runs(isolated)
    assert run.status == "FINISHED"
    assert run.tags["mlflow.project.env"] == ("uv" if find_uv() else "virtualenv")
    assert 0.8 < run.metrics["accuracy"].value <= 1.0


def test_virtualenv_and_pip_where_uv_cannot_run(project: Path, tmp_path: Path) -> None:
    # An mlrun whose uv is a binary for another machine: the interpreter running mlrun is a
    # virtualenv of its own, with the dev environment's packages and a broken uv beside it.
    runner = tmp_path / "runner"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runner)], check=True)
    (site,) = runner.glob("lib/python*/site-packages")
    paths = [p for p in sys.path if p.endswith("site-packages")] + [str(REPO)]
    (site / "dev.pth").write_text("\n".join(paths) + "\n")
    (runner / "bin" / "uv").write_bytes(b"\x7fELF\x02\x01\x01 built for another machine")
    (runner / "bin" / "uv").chmod(0o755)
    proc = subprocess.run(
        [str(runner / "bin" / "python"), "-m", "mlrun_cli", "run", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "six 1.16.0" in proc.stdout
    first = proc.stderr.splitlines()[0]
    assert re.fullmatch(
        r"building environment virtualenv-\w+ \(python [\d.]+\) with virtualenv \+ pip "
        r"\(uv cannot run here: \S+/runner/bin/uv does not start \(Exec format error\)\)",
        first,
    ), first
    # Said at build time only: the warm run says nothing about environments.
    again = subprocess.run(
        [str(runner / "bin" / "python"), "-m", "mlrun_cli", "run", str(project), "-e", "noop"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert again.returncode == 0 and again.stderr.startswith("run "), again.stderr


def test_build_wait_bytecode_returns_with_every_file_compiled(
    mlrun: Mlrun, project: Path, tmp_path: Path
) -> None:
    needs_uv()
    proc = mlrun("envs", "build", str(project), "--wait-bytecode", "--json")
    assert proc.returncode == 0, proc.stderr
    built = json.loads(proc.stdout)
    assert built["bytecode"] == "complete"
    env_dir = tmp_path / "envs" / built["key"]
    state = bytecode.state(env_dir)
    assert state["complete"] is True  # already, not eventually
    files = f"{state['files']} file" + ("s" if state["files"] != 1 else "")
    assert re.search(rf"\n  bytecode complete \({files}, waited \d+\.\ds\)\n$", proc.stderr), (
        proc.stderr
    )
    assert list(env_dir.glob("lib/python*/site-packages/__pycache__/six.*.pyc"))
    listing = mlrun("envs", "list")
    assert listing.stdout.splitlines()[1].split()[-2:] == ["ready", "done"]
    # Built and complete already: it says so and waits for nothing.
    again = mlrun("envs", "build", str(project), "--wait-bytecode")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("  bytecode complete ("), again.stderr
    assert again.stdout == f"{built['key']} reused ({env_dir / 'bin' / 'python'})\n"
