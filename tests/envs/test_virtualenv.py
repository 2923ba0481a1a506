"""The virtualenv manager with a stand-in installer: real subprocesses, no package index.

The stand-in creates the env with `python -m venv --without-pip` and "installs" by printing
what an installer prints, so the whole build flow (key, steps, progress, freeze file,
marker, reuse) runs in a second. Real pip and uv builds: tests/integration/test_envs.py.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mlrun_cli import console
from mlrun_cli.envs import bytecode, cache
from mlrun_cli.envs.installers.pip import PipInstaller
from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine
from mlrun_cli.envs.installers.uv import UvInstaller
from mlrun_cli.envs.spec import PythonEnvSpec
from mlrun_cli.envs.virtualenv import (
    VirtualenvManager,
    check_health,
    project_spec,
    write_freeze,
    write_requirements,
)
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import Project, load_project
from tests.conftest import write_project

ENTRY = "entry_points: {main: {command: 'true'}}\n"
VERSION = "{}.{}.{}".format(*sys.version_info[:3])


def echo(text: str, exit_code: int = 0) -> tuple[str, ...]:
    return (sys.executable, "-c", f"import sys; print({text!r}); sys.exit({exit_code})")


class StandIn:
    """An installer that prints `output` for each install step (the Protocol's shape)."""

    name = "stand-in"

    def __init__(
        self,
        output: str,
        parse: Callable[[str], ProgressLine | None],
        *,
        exit_code: int = 0,
        missing: bool = False,
    ) -> None:
        self.output = output
        self.parse = parse
        self.exit_code = exit_code
        self.missing = missing
        self.calls: list[tuple[Path, Sequence[str], Path | None, int]] = []

    def check(self) -> None:
        if self.missing:
            raise EnvError("stand-in is not installed")

    def describe(self) -> str:
        return "stand-in 1.0"

    def create_command(self, interpreter: Path, env_dir: Path) -> list[str]:
        return [str(interpreter), "-m", "venv", "--without-pip", str(env_dir)]

    def install_steps(
        self,
        python: Path,
        build_dependencies: Sequence[str],
        requirements: Path | None,
        count: int,
    ) -> list[InstallStep]:
        self.calls.append((python, tuple(build_dependencies), requirements, count))
        total = len(build_dependencies) + count
        return (
            [InstallStep("requirements", echo(self.output, self.exit_code), total)] if total else []
        )

    def freeze_command(self, python: Path) -> list[str]:
        return list(echo("# a comment\n\nsix==1.16.0"))

    def parse_line(self, line: str) -> ProgressLine | None:
        return self.parse(line)


def python_project(root: Path, env_yaml: str = "dependencies: [six==1.16.0, attrs]\n") -> Project:
    return load_project(write_project(root, ENTRY, {"python_env.yaml": env_yaml}))


def normalised(err: str) -> str:
    return re.sub(r"in \d+\.\ds;", "in T;", err)


def test_a_cold_build_then_a_silent_reuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uv_output = (
        "Resolved 2 packages in 3ms\nPrepared 2 packages in 9ms\nInstalled 2 packages in 1ms"
    )
    installer = StandIn(uv_output, UvInstaller().parse_line)
    manager = VirtualenvManager("uv", installer)
    project = python_project(tmp_path / "p")
    env = manager.prepare(project)
    env_dir = tmp_path / "envs" / str(env.key)
    log = tmp_path / "envs" / ".logs" / f"{env.key}.log"
    assert normalised(capsys.readouterr().err) == (
        f"building environment {env.key} (python {VERSION}) with stand-in 1.0\n"
        "  installing 2 requirements\n"
        "    resolved 2 packages\n"
        "    prepared 2 packages\n"
        f"  installed 2 packages in T; log: {log}\n"
        "  compiling bytecode in the background (mlrun envs list shows it)\n"
    )
    assert str(env.key).startswith("uv-")
    assert (env.manager, env.python, env.bin_dir) == (
        "uv",
        str(env_dir / "bin/python"),
        env_dir / "bin",
    )
    assert (env.python_version, env.reused) == (VERSION, False)
    assert env.freeze_file == env_dir / cache.FREEZE
    assert env.freeze_file.read_text() == "six==1.16.0\n"  # comments and blank lines dropped
    assert (env_dir / "mlrun-requirements.txt").read_text() == "six==1.16.0\nattrs\n"
    assert installer.calls == [(env_dir / "bin/python", (), env_dir / "mlrun-requirements.txt", 2)]
    marker = cache.read_marker(env_dir)
    assert marker is not None
    assert marker["inputs"]["installer"] == "stand-in"
    assert marker["installer"] == "stand-in 1.0"
    assert marker["interpreter"] == marker["inputs"]["interpreter"]
    assert marker["bytecode"] == "background"
    assert bytecode.wait(env_dir, timeout=60)  # the background compile finishes

    again = manager.prepare(project)
    assert (again.key, again.reused) == (env.key, True)
    assert capsys.readouterr().err == ""
    console.configure(verbose=True)
    manager.prepare(project)
    assert capsys.readouterr().err == f"reusing environment {env.key}\n"


def test_pip_progress_counts_what_it_collected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_output = (
        "Collecting six==1.16.0\nCollecting attrs\nSuccessfully installed attrs-1 six-1.16.0"
    )
    manager = VirtualenvManager("virtualenv", StandIn(pip_output, PipInstaller().parse_line))
    env = manager.prepare(python_project(tmp_path / "p"))
    lines = normalised(capsys.readouterr().err).splitlines()
    assert lines[1:4] == [
        "  installing 2 requirements",
        "    collected 2 packages",  # the live "resolving 2" line needs a terminal
        f"  installed 2 packages in T; log: {tmp_path / 'envs' / '.logs' / f'{env.key}.log'}",
    ]


def test_a_project_without_dependencies_installs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installer = StandIn("", PipInstaller().parse_line)
    env = VirtualenvManager("virtualenv", installer).prepare(
        python_project(tmp_path / "p", "dependencies: []\n")
    )
    err = normalised(capsys.readouterr().err).splitlines()
    assert err[0] == f"building environment {env.key} (python {VERSION}) with stand-in 1.0"
    assert err[1].startswith("  installed 0 packages in T; log: ")
    assert err[2] == "  compiling bytecode in the background (mlrun envs list shows it)"
    assert len(err) == 3
    assert installer.calls[0][2:] == (None, 0)


def test_recorded_pins_replace_the_dependencies(tmp_path: Path) -> None:
    pins = tmp_path / "pins.txt"
    # A freeze recorded with an installer's note in it (uv's, before freezes were cleaned).
    pins.write_text("Using Python 3.11.7 environment at: /e\nsix==1.15.0\n")
    installer = StandIn("", PipInstaller().parse_line)
    manager = VirtualenvManager("virtualenv", installer)
    project = python_project(tmp_path / "p")
    plain = manager.prepare(project)
    pinned = manager.prepare(project, frozen=pins)
    assert pinned.key != plain.key  # the pins are part of the key
    env_dir = tmp_path / "envs" / str(pinned.key)
    assert (env_dir / "mlrun-frozen.txt").read_text() == "six==1.15.0\n"
    requirements = env_dir / "mlrun-requirements.txt"
    assert requirements.read_text() == f"-r {env_dir / 'mlrun-frozen.txt'}\n"
    assert installer.calls[-1][2:] == (requirements, 1)


def test_a_missing_installer_fails_before_anything_is_built(tmp_path: Path) -> None:
    manager = VirtualenvManager("uv", StandIn("", PipInstaller().parse_line, missing=True))
    with pytest.raises(EnvError, match="stand-in is not installed"):
        manager.prepare(python_project(tmp_path / "p"))
    assert not (tmp_path / "envs").exists()


def test_a_failed_install_leaves_no_env(tmp_path: Path) -> None:
    installer = StandIn("ERROR: No matching distribution", PipInstaller().parse_line, exit_code=1)
    with pytest.raises(EnvError) as err:
        VirtualenvManager("virtualenv", installer).prepare(python_project(tmp_path / "p"))
    first, tail = str(err.value).splitlines()
    assert re.fullmatch(
        r"installing requirements failed \(exit code 1\); the full log is .*/\.logs/virtualenv-\w+\.log",
        first,
    )
    assert tail == "ERROR: No matching distribution"
    assert [p.name for p in (tmp_path / "envs").iterdir() if not p.name.startswith(".")] == []


def test_project_spec_of_each_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    python = python_project(tmp_path / "py", 'python: "3.11"\ndependencies: [six]\n')
    assert project_spec(python) == PythonEnvSpec("3.11", (), ("six",))
    conda = load_project(
        write_project(
            tmp_path / "c",
            ENTRY,
            {"conda.yaml": "dependencies:\n  - python=3.10\n  - numpy\n  - pip:\n    - six\n"},
        )
    )
    assert project_spec(conda) == PythonEnvSpec("3.10", (), ("six",))
    assert capsys.readouterr().err == (
        "warning: conda.yaml: conda-only packages are not installed in a virtualenv: numpy; "
        "use --env-manager conda for them\n"
    )
    assert project_spec(load_project(write_project(tmp_path / "n", ENTRY))) == PythonEnvSpec(None)


def test_write_requirements(tmp_path: Path) -> None:
    spec = PythonEnvSpec(None, ("setuptools",), ("six", "-r /abs/r.txt"))
    assert write_requirements(tmp_path, spec, None) == (tmp_path / "mlrun-requirements.txt", 2)
    assert (tmp_path / "mlrun-requirements.txt").read_text() == "six\n-r /abs/r.txt\n"
    assert write_requirements(tmp_path, PythonEnvSpec(None), None) == (None, 0)
    assert (tmp_path / "mlrun-requirements.txt").read_text() == "\n"


def test_write_freeze_keeps_only_the_package_lines(tmp_path: Path) -> None:
    output = (
        "Using Python 3.11.7 environment at: /envs/uv-1\n# uv\nsix==1.16.0\n\n"
        "WARNING: something\nattrs==23.2.0\n-e git+https://h/r.git@abc#egg=r\n"
    )
    write_freeze(tmp_path, output)
    assert (tmp_path / cache.FREEZE).read_text() == (
        "six==1.16.0\nattrs==23.2.0\n-e git+https://h/r.git@abc#egg=r\n"
    )


def fake_env(root: Path, version: str = VERSION) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    (root / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}\n")
    return root


def test_health_of_a_good_env(tmp_path: Path) -> None:
    env = fake_env(tmp_path / "e")
    assert check_health(env, {"python_version": VERSION}) is None
    assert check_health(env, {"python_version": ".".join(VERSION.split(".")[:2])}) is None
    assert check_health(env, {}) is None


def test_health_problems(tmp_path: Path) -> None:
    wrong = fake_env(tmp_path / "wrong", "3.9.1")
    assert check_health(wrong, {"python_version": "3.11.7"}) == (
        "its interpreter is 3.9.1, expected 3.11.7"
    )
    dangling = fake_env(tmp_path / "dangling")
    (dangling / "bin" / "python").unlink()
    (dangling / "bin" / "python").symlink_to(tmp_path / "removed-python")
    assert check_health(dangling, {}) == "its interpreter is missing"
    no_cfg = fake_env(tmp_path / "no-cfg")
    (no_cfg / "pyvenv.cfg").unlink()
    assert check_health(no_cfg, {}) == "pyvenv.cfg is missing"
    not_exec = fake_env(tmp_path / "not-exec")
    (not_exec / "bin" / "python").unlink()
    (not_exec / "bin" / "python").write_text("")
    os.chmod(not_exec / "bin" / "python", 0o644)
    assert check_health(not_exec, {}) == "its interpreter is not executable"
