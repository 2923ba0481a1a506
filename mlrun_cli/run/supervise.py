"""Supervise the command: a process group on this machine, streamed, copied, signalled.

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
from collections.abc import Callable, Mapping
from pathlib import Path

from mlrun_cli.process import alive, killpg
from mlrun_cli.run.signals import Signals, grace_period
from mlrun_cli.values import valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import BinaryIO


@valueclass
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


class SignalRelay(Signals):
    """Catches the ending signals and forwards them to the child's group, escalating:
    the signal itself, then SIGTERM, then SIGKILL, each after the grace period (a repeated
    signal makes the next step due at once)."""

    def __init__(self) -> None:
        super().__init__(on_signal=lambda signum, count: self.escalate(now=True))
        self.pgid: int | None = None
        self.step = 0  # 0: nothing sent, 1: forwarded, 2: SIGTERM sent, 3: SIGKILL sent
        self.deadline: float | None = None
        # Where the signals go instead of the group, if the command is not ours to signal
        # directly (a container: its engine delivers them).
        self.send: Callable[[int], None] | None = None

    def attach(self, pgid: int, send: Callable[[int], None] | None = None) -> None:
        self.pgid = pgid
        self.send = send
        if self.received is not None:
            self.escalate(now=True)

    def forward(self, signum: int) -> None:
        """Send `signum` to the child's group as it is, without escalating (an early warning)."""
        if self.send is not None:
            self.send(signum)
        elif self.pgid is not None:
            killpg(self.pgid, signum)

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
        if self.send is not None:
            self.send(sig)
        else:
            killpg(self.pgid, sig)


class _Leftovers:
    """Once the group leader is gone, whatever it left in its group (background jobs holding
    our pipes open) is ended: SIGTERM at once, SIGKILL after a short grace."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.reaped_at: float | None = None
        self.step = 0

    def end(self, now: float) -> None:
        if self.reaped_at is None:
            self.reaped_at = now
        if self.step == 0 and alive(self.pgid):
            killpg(self.pgid, signal.SIGTERM)
            self.step = 1
        elif self.step == 1 and now - self.reaped_at > min(2.0, grace_period() + 0.5):
            killpg(self.pgid, signal.SIGKILL)
            self.step = 2


# The command must not outlive its runner, even one killed with SIGKILL (which runs no code
# of ours). So the group leader starts a watcher in the command's process group first: it
# blocks reading a pipe whose only write end this process holds. When this process dies the
# kernel closes that end, the read returns, and the watcher ends the group: SIGTERM, then
# SIGKILL after the grace period. The watcher ignores the signals a run's end sends to the
# group (they are for the command); our own end SIGKILLs the group, watcher included. The
# command then runs in a fresh `bash -c` (exec), so `wait` and `$!` in it never see the watcher.
_WATCHED = (
    '( trap "" INT TERM HUP; read -r -u "$2" _; kill -TERM 0; '
    'sleep "${MLRUN_KILL_GRACE:-10}"; kill -KILL 0 ) </dev/null >/dev/null 2>&1 & '
    "eval 'exec bash -c \"$1\" '\"$2\"'<&-'"
)


def _spawn(command: str, cwd: Path, env: Mapping[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start `command` watched (see _WATCHED); the process and the lifeline's held end."""
    lifeline, held = os.pipe()  # `held` stays open exactly as long as this process lives
    try:
        proc = subprocess.Popen(
            ["bash", "-c", _WATCHED, "mlrun", command, str(lifeline)],
            cwd=cwd,
            env=dict(env),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=(lifeline,),
        )
    except BaseException:
        os.close(held)
        raise
    finally:
        os.close(lifeline)
    return proc, held


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
    group_file: Path | None = None,
    send: Callable[[int], None] | None = None,
) -> Outcome:
    """Run `command` with ``bash -c`` and wait for it, streaming its output live.

    Output goes to `stdout`/`stderr` (default: ours) byte for byte, and a copy to `log_path`.
    `relay` must already be installed; `on_tick` runs about every `tick_interval` seconds;
    `on_output` sees every chunk of output after it was written. The command's process group
    id is written to `group_file`; the group ends when this process does, however it ends.
    `send`, if given, delivers the relay's signals instead of the group (a container's engine).
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    sys.stdout.flush()
    sys.stderr.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc, held = _spawn(command, cwd, env)
        if group_file is not None:
            # Who holds the run: a finder that sees this group alive does not call it lost.
            with contextlib.suppress(OSError):
                group_file.write_text(str(proc.pid))
        relay.attach(proc.pid, send)
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        next_tick = time.monotonic() + tick_interval
        leftovers = _Leftovers(proc.pid)
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
                leftovers.end(now)
            if on_tick is not None and now >= next_tick:
                next_tick = now + tick_interval
                on_tick()
        sel.close()
        returncode = proc.wait()
        # A group member that closed its pipes but still runs is ended as well (the watcher
        # among them), before the lifeline is let go.
        if alive(proc.pid):
            killpg(proc.pid, signal.SIGKILL)
        os.close(held)
    child_signal = -returncode if returncode < 0 else None
    if relay.received is not None:
        exit_code = 128 + relay.received
    elif child_signal is not None:
        exit_code = 128 + child_signal
    else:
        exit_code = returncode
    return Outcome(exit_code, relay.received, child_signal)
