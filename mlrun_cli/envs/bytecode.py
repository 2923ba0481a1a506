"""Bytecode off the critical path: an env's `.pyc` files are compiled in the background.

An env is ready as soon as its installer is done. Then, and on any later run that finds the
compile unfinished, `start` launches `bytecode_worker.py` with the env's interpreter: in a
session of its own (no terminal signal or process-group cleanup of the run reaches it), at
nice 19, its output appended to the env's build log, detached (nothing waits for it). The
worker takes the env's compile lock, so two never run at once, and writes the env's
bytecode state file (`.mlrun-bytecode.json`), `complete` last. The reasons it is safe to
interrupt and to run beside runs of the env are in the worker's docstring.

On a warm run this costs a read of the small state file once the bytecode is complete; while
it is not, a lock probe (and, when no compile is running, one process spawn).

An env records `"bytecode": "background"` in its completion marker when its bytecode is
compiled this way; envs built before (whose installer compiled everything) have no such
entry and are complete as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.paths import tool_path

STATE = ".mlrun-bytecode.json"
BACKGROUND = "background"  # the marker's "bytecode" entry for envs compiled by `start`
WORKER = Path(__file__).with_name("bytecode_worker.py")

COMPLETE = "complete"
COMPILING = "compiling"
INCOMPLETE = "incomplete"


def state(env_dir: Path) -> dict[str, object]:
    """The env's bytecode state file, or {} (no compile has finished or reported yet)."""
    try:
        data = json.loads((env_dir / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_path(name: str) -> Path:
    """The compile lock of env `name` (held by the running compile, which writes its pid)."""
    return tool_path("envs") / ".locks" / f"{name}.bytecode.lock"


def compiling(name: str) -> bool:
    """True while a compile of env `name` holds its lock."""
    import fcntl

    try:
        fd = os.open(lock_path(name), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False  # nobody holds it (closing the descriptor releases it again)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _holder(name: str) -> int | None:
    """The pid the running compile wrote into its lock file (None before it has)."""
    try:
        return int(lock_path(name).read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def status(env_dir: Path, name: str, marker: dict[str, object] | None) -> str:
    """complete, compiling or incomplete: whether the env's bytecode is all there."""
    if marker is not None and marker.get("bytecode") != BACKGROUND:
        return COMPLETE  # built before bytecode moved to the background: compiled at build
    if state(env_dir).get("complete"):
        return COMPLETE
    return COMPILING if compiling(name) else INCOMPLETE


def progress(env_dir: Path) -> tuple[int, int] | None:
    """(files done, files in all) as the running compile last reported it, if it has."""
    data = state(env_dir)
    done, total = data.get("done"), data.get("total")
    if isinstance(done, int) and isinstance(total, int) and not data.get("complete"):
        return done, total
    return None


def start(env_dir: Path, name: str, log_path: Path, project_dir: Path | None = None) -> bool:
    """Start compiling the env's bytecode in the background, unless it is complete or a
    compile is already running. True if a compile was started."""
    if state(env_dir).get("complete") or compiling(name):
        return False
    lock = lock_path(name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    python = env_dir / "bin" / "python"
    argv = [str(python), "-I", "-S"]
    # -I ignores PYTHON* variables; a pycache prefix the runs use must be where we write.
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    if prefix:
        argv += ["-X", f"pycache_prefix={prefix}"]
    argv += [str(WORKER), str(env_dir), str(lock)]
    if project_dir is not None:
        argv.append(str(project_dir))
    try:
        _spawn_detached(argv, log_path, env_dir)
    except OSError:
        return False  # no bytecode ahead of time; imports still compile what they use
    return True


def _spawn_detached(argv: list[str], log_path: Path, cwd: Path) -> None:
    """Start `argv` in a new session, output appended to `log_path`, and forget it.

    posix_spawn leaves no Popen object behind to warn that it is still running; the exited
    worker is reaped with the process that started it.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    env = dict(os.environ)  # -I makes the worker ignore PYTHON* variables
    if hasattr(os, "posix_spawn"):
        with contextlib.suppress(NotImplementedError):
            os.posix_spawn(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, str(log_path), flags, 0o644),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
            )
            return
    import subprocess

    with open(log_path, "ab") as log:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )


def stop(name: str, timeout: float = 10.0) -> None:
    """Stop the compile running for env `name`, if any, and wait until it has let go.

    Called before an env is removed (a rebuild, a prune): a compile must not write into a
    directory being deleted, nor into the new env built at the same path.
    """
    import signal
    import time

    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while compiling(name):
        pid = _holder(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)  # the worker leads its own session: its pool goes too
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL:
                return  # not ours to end, apparently; the worker checks the env itself
            sig, deadline = signal.SIGKILL, time.monotonic() + 5.0
        time.sleep(0.05)


def follow(
    env_dir: Path,
    name: str,
    log_path: Path,
    on_progress: Callable[[int, int], None],
    project_dir: Path | None = None,
) -> bool:
    """Wait until the env's bytecode is complete, calling `on_progress(done, total)` as the
    compile reports. A compile that ends without finishing (stopped, killed) is started again,
    once; False if the bytecode is still incomplete after that."""
    import time

    restarts = 0
    idle_since: float | None = None
    while not state(env_dir).get("complete"):
        counts = progress(env_dir)
        if counts is not None:
            on_progress(*counts)
        if compiling(name):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()  # it may be between its start and its lock
        elif time.monotonic() - idle_since > 2.0:
            if restarts or not start(env_dir, name, log_path, project_dir):
                return bool(state(env_dir).get("complete"))
            restarts, idle_since = 1, None
        time.sleep(0.1)
    return True


def wait(env_dir: Path, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the env's bytecode to be complete (tests, benches)."""
    import time

    deadline = time.monotonic() + timeout
    while not state(env_dir).get("complete"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
