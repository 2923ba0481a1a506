"""Build steps are real subprocesses here; cancellation stops their whole process group."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mlrun_cli.envs import BuildInterrupted
from mlrun_cli.envs.buildlog import BuildLog, check_interpreter
from mlrun_cli.errors import EnvError


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def gone(pid: int, timeout: float = 30.0) -> bool:
    """True once `pid` is no longer a live process (a zombie awaiting its reaper counts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rindex(")") + 2] == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_step_output_goes_to_the_log_and_is_returned(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "logs" / "b.log", None)
    lines: list[str] = []
    out = log.run(
        py("print('one'); print('two\\r'); print('tail', end='')"),
        step="stepping",
        on_line=lines.append,
    )
    log.close()
    assert out == "one\ntwo\r\ntail"
    assert lines == ["one", "two"]  # complete lines only, without the carriage return
    text = (tmp_path / "logs" / "b.log").read_bytes()
    assert text.startswith(f"\n## stepping: {sys.executable} -c ".encode())
    assert text.endswith(b"one\ntwo\r\ntail")


def test_a_step_sees_its_cwd_and_env(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "b.log", None)
    out = log.run(
        py("import os; print(os.getcwd(), os.environ['X'])"),
        step="s",
        cwd=tmp_path,
        env={"X": "42"},
    )
    assert out.split() == [str(tmp_path), "42"]


def test_a_failed_step_shows_its_exit_code_log_and_tail(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "b.log", None)
    with pytest.raises(EnvError) as err:
        log.run(py("import sys\nfor i in range(20): print(i)\nsys.exit(3)"), step="installing x")
    lines = str(err.value).splitlines()
    assert lines[0] == f"installing x failed (exit code 3); the full log is {tmp_path / 'b.log'}"
    assert lines[1:] == [str(i) for i in range(8, 20)]  # the last 12 lines


def test_a_missing_program_is_one_clear_error(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "b.log", None)
    with pytest.raises(
        EnvError,
        match=r"^creating the virtualenv: /nonexistent/uv not found; install it or choose "
        r"another --env-manager$",
    ):
        log.run(["/nonexistent/uv", "venv"], step="creating the virtualenv")


def test_cancellation_stops_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ended = tmp_path / "ended"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
        f"open({str(ended)!r}, 'w').close()\n"
    )
    started: list[str] = []
    log = BuildLog(tmp_path / "b.log", cancelled=lambda: bool(started))
    with pytest.raises(BuildInterrupted):
        log.run(py(script), step="slow", on_line=started.append)
    assert not ended.exists()  # stopped, not waited for: the step never got to its end
    for pid in pids.read_text().split():
        assert gone(int(pid)), pid


def test_check_interpreter_reports_the_exact_version(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "b.log", None)
    assert check_interpreter(log, Path(sys.executable)) == "{}.{}.{}".format(*sys.version_info[:3])
    assert "## checking the interpreter: " in (tmp_path / "b.log").read_text()
