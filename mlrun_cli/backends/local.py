"""Run the command as a process group on this machine: stream, copy, forward signals.

The child runs in its own process group (`start_new_session`), so a terminal's Ctrl-C
reaches only `mlrun`, which decides what the child gets: the same signal forwarded to the
whole group, then SIGTERM, then SIGKILL, each after a grace period (a second Ctrl-C moves
to the next step at once). When the group leader exits, anything it left in its group is
ended too, so chained and backgrounded commands never outlive the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, BinaryIO

from mlrun_cli.backends import JobSpec, JobState, Submitted

_signals = signal  # the module, where a parameter is called `signal`

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def grace_period() -> float:
    """Seconds between escalation steps (``MLRUN_KILL_GRACE``, default 10)."""
    try:
        return max(0.0, float(os.environ.get("MLRUN_KILL_GRACE", "10")))
    except ValueError:
        return 10.0


@dataclass(frozen=True)
class Outcome:
    exit_code: int  # what mlrun exits with: the child's code, 128+N for a signal
    signal: int | None  # the signal that ended mlrun's wait (ours), if any
    child_signal: int | None  # the signal that killed the child, if it died of one

    def status(self, child_said: str | None = None) -> str:
        """The run's status: KILLED by a signal, else FINISHED on exit 0, else FAILED.

        The child's own word (`child_said`, from its MLflow client) counts only for an
        explicit KILLED or FAILED on a clean exit: its atexit hook says FINISHED even after a
        crash.
        """
        from mlrun_cli.store.base import FAILED, FINISHED, KILLED

        if self.signal is not None or self.child_signal is not None:
            return KILLED
        if self.exit_code != 0:
            return FAILED
        return child_said if child_said in (KILLED, FAILED) else FINISHED


class SignalRelay:
    """Installs handlers that record a signal and forward it to the child's group."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0
        self.pgid: int | None = None
        self.step = 0  # 0: nothing sent, 1: forwarded, 2: SIGTERM sent, 3: SIGKILL sent
        self.deadline: float | None = None
        self._old: dict[int, object] = {}

    def install(self) -> None:
        for sig in FORWARDED:
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.received is None:
            self.received = signum
        self.escalate(now=True)

    def attach(self, pgid: int) -> None:
        self.pgid = pgid
        if self.received is not None:
            self.escalate(now=True)

    def forward(self, signum: int) -> None:
        """Send `signum` to the child's group as it is, without escalating (an early warning)."""
        if self.pgid is not None:
            _killpg(self.pgid, signum)

    def escalate(self, now: bool = False) -> None:
        """Send the next signal if one is due (a repeated Ctrl-C makes it due at once)."""
        if self.pgid is None or self.received is None:
            return
        if not now and (self.deadline is None or time.monotonic() < self.deadline):
            return
        if self.step == 0:
            sig = self.received if self.received != signal.SIGHUP else signal.SIGTERM
        elif self.step == 1:
            sig = signal.SIGTERM
        elif self.step == 2:
            sig = signal.SIGKILL
        else:
            return
        self.step += 1
        self.deadline = time.monotonic() + grace_period()
        _killpg(self.pgid, sig)


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _alive(ident: int, group: bool = True) -> bool:
    """Signal 0 to a process group (or one process): does it exist?"""
    try:
        (os.killpg if group else os.kill)(ident, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def execute(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    relay: SignalRelay,
    on_tick: Callable[[], None] | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    tick_interval: float = 0.5,
    on_output: Callable[[bytes], None] | None = None,
) -> Outcome:
    """Run `command` with ``bash -c`` and wait for it, streaming its output live.

    Output goes to `stdout`/`stderr` (default: ours) byte for byte, and a copy to `log_path`.
    `relay` must already be installed; `on_tick` runs about every `tick_interval` seconds;
    `on_output` sees every chunk of output after it was written.
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    sys.stdout.flush()
    sys.stderr.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        relay.attach(proc.pid)
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        next_tick = time.monotonic() + tick_interval
        reaped_at: float | None = None
        leftovers_step = 0
        while sel.get_map():
            for key, _ in sel.select(timeout=0.1):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                sink: BinaryIO = key.data
                sink.write(data)
                sink.flush()
                log.write(data)
                if on_output is not None:
                    on_output(data)
            relay.escalate()
            now = time.monotonic()
            if proc.poll() is not None:
                # The leader is gone; whatever it left in its group (background jobs holding
                # our pipes open) is ended: SIGTERM now, SIGKILL after a short grace.
                if reaped_at is None:
                    reaped_at = now
                if leftovers_step == 0 and _alive(proc.pid):
                    _killpg(proc.pid, signal.SIGTERM)
                    leftovers_step = 1
                elif leftovers_step == 1 and now - reaped_at > min(2.0, grace_period() + 0.5):
                    _killpg(proc.pid, signal.SIGKILL)
                    leftovers_step = 2
            if on_tick is not None and now >= next_tick:
                next_tick = now + tick_interval
                on_tick()
        sel.close()
        returncode = proc.wait()
        # A group member that closed its pipes but still runs is ended as well.
        if _alive(proc.pid):
            _killpg(proc.pid, signal.SIGKILL)
    child_signal = -returncode if returncode < 0 else None
    if relay.received is not None:
        exit_code = 128 + relay.received
    elif child_signal is not None:
        exit_code = 128 + child_signal
    else:
        exit_code = returncode
    return Outcome(exit_code, relay.received, child_signal)


class LocalBackend:
    """Jobs as process groups on this machine: the `Backend` protocol for local runs and trials.

    A job is a process in its own session; its id is its pid. The process itself (an `mlrun`
    command) handles the signal it is sent: it forwards it to its command's group and escalates.
    """

    name = "local"

    def __init__(self, stdout: IO[Any] | int | None = None) -> None:
        self.stdout = stdout  # where jobs' output goes; None: this process's
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, job: JobSpec) -> Submitted:
        indices: list[int | None] = [*job.indices] or [None]
        ids: dict[int, str] = {}
        for index in indices:
            argv = [a.replace("{index}", str(index)) for a in job.argv]
            proc = subprocess.Popen(
                argv,
                cwd=job.workdir,
                stdout=self.stdout,
                stderr=self.stdout,
                start_new_session=True,
            )
            self.procs[str(proc.pid)] = proc
            if index is not None:
                ids[index] = str(proc.pid)
        first = next(iter(ids.values()), None) or str(proc.pid)
        return Submitted(first, ids)

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        states = {}
        for job_id in job_ids:
            proc = self.procs.get(job_id)
            if proc is None:
                if _alive(int(job_id), group=False):
                    states[job_id] = JobState(job_id, "RUNNING")
                continue
            code = proc.poll()
            if code is None:
                states[job_id] = JobState(job_id, "RUNNING")
            else:
                state = "COMPLETED" if code == 0 else ("CANCELLED" if code < 0 else "FAILED")
                states[job_id] = JobState(job_id, state, reason=f"exit code {code}")
        return states

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        sig = getattr(_signals, f"SIG{signal}") if signal else _signals.SIGTERM
        for job_id in job_ids:
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(job_id), sig)

    def log_path(self, run_dir: Path) -> Path:
        return run_dir / "artifacts" / "mlrun-output.log"

    def forget(self, job_id: str) -> int | None:
        """Stop tracking a job that has ended; its exit code."""
        proc = self.procs.pop(job_id, None)
        return None if proc is None else proc.wait()
