"""Running the steps of an environment build: output to the build log, stopped on cancellation.

Every manager builds through a `BuildLog`: one log file per build (kept beside the env, also
when the build fails, so the error can point at it), each step's command line as a heading,
and the step's output as it comes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.envs import BuildInterrupted
from mlrun_cli.errors import EnvError

Cancelled = Callable[[], bool]

# Printed by the env's interpreter once, at the end of a build, for the marker.
_VERSION_SCRIPT = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


class BuildLog:
    """Runs build steps with their output in the build log, and stops them on cancellation."""

    def __init__(self, path: Path, cancelled: Cancelled | None) -> None:
        self.path = path
        self.cancelled = cancelled
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by close()

    def close(self) -> None:
        """Close the log file (it stays on disk)."""
        self._fh.close()

    def note(self, text: str) -> None:
        """Write a heading line into the log."""
        self._fh.write(f"\n## {text}\n".encode())
        self._fh.flush()

    def run(
        self,
        argv: Sequence[str],
        *,
        step: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> str:
        """Run one build step; its output goes to the log. Returns the output.

        The step runs in a session of its own, so only we decide when it stops: on
        cancellation its whole group gets SIGTERM, then SIGKILL. `on_line` sees each
        complete output line as it arrives, and `on_idle` is called at least every 0.1 s
        while the step runs (both for live progress).
        """
        self.note(f"{step}: {' '.join(argv)}")
        console.detail(f"  {step}: {' '.join(argv)}")
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise EnvError(
                f"{step}: {argv[0]} not found; install it or choose another --env-manager"
            ) from None
        output = self._drain(proc, on_line, on_idle)
        if proc.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-12:])
            raise EnvError(
                f"{step} failed (exit code {proc.returncode}); the full log is {self.path}\n{tail}"
            )
        return output

    def _drain(
        self,
        proc: subprocess.Popen[bytes],
        on_line: Callable[[str], None] | None,
        on_idle: Callable[[], None] | None,
    ) -> str:
        """Copy the step's output to the log until it ends; stop it if we are cancelled."""
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        chunks: list[bytes] = []
        pending = b""
        while True:
            if self.cancelled is not None and self.cancelled():
                _stop(proc)
                raise BuildInterrupted()
            data = _read_some(proc)
            if on_idle is not None:
                on_idle()
            if data:
                chunks.append(data)
                self._fh.write(data)
                self._fh.flush()
                if on_line is not None:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace").rstrip("\r"))
            elif proc.poll() is not None:
                break  # ended, and its output is drained (EOF) or idle
            elif data is None:
                # EOF while the process is still exiting: wait for its exit, not a fixed nap
                # (a build runs four steps; 50 ms after each adds up on a first run).
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)
        return b"".join(chunks).decode("utf-8", "replace")


def check_interpreter(log: BuildLog, python: Path, env: Mapping[str, str] | None = None) -> str:
    """Run the env's interpreter once (the last build step) and return its X.Y.Z version."""
    return log.run(
        [str(python), "-c", _VERSION_SCRIPT], step="checking the interpreter", env=env
    ).strip()


def _read_some(proc: subprocess.Popen[bytes]) -> bytes | None:
    """Bytes available now; b"" when none yet; None at end of output."""
    import select

    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 0.1)
    if not ready:
        return b""
    try:
        data = os.read(proc.stdout.fileno(), 65536)
    except BlockingIOError:
        return b""
    return data or None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
