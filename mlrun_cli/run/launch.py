"""The steps a run takes once it is recorded, the same on this machine and on a cluster node:
prepare its environment, then launch its command under supervision with a recorder."""

from __future__ import annotations

from pathlib import Path

from mlrun_cli.envs import BuildInterrupted, Environment, get_manager
from mlrun_cli.errors import Interrupted
from mlrun_cli.project.mlproject import Project
from mlrun_cli.run.recorder import Recorder
from mlrun_cli.run.signals import Signals
from mlrun_cli.run.supervise import Outcome, SignalRelay, execute

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import BinaryIO

if TYPE_CHECKING:
    from mlrun_cli.run.capture import MetricCapture


def prepare_environment(
    project: Project, manager: str, *, frozen: Path | None, signals: Signals
) -> Environment:
    """The project's environment, built or reused; a signal during a build interrupts it
    (`Interrupted`, exit 128 + the signal) and the half-built environment is never reused."""
    try:
        return get_manager(manager).prepare(
            project, frozen=frozen, cancelled=lambda: signals.received is not None
        )
    except BuildInterrupted:
        raise Interrupted(signals.received or 2, "while the environment was being built") from None


def launch(
    command: str,
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    relay: SignalRelay,
    recorder: Recorder,
    capture: MetricCapture | None = None,
    stdout: BinaryIO | None = None,
    group_file: Path | None = None,
) -> Outcome:
    """Run `command` in its own process group until it ends, recording as it goes."""
    recorder.point(env)
    outcome = execute(
        command,
        cwd=cwd,
        env=env,
        log_path=log_path,
        relay=relay,
        on_tick=recorder.tick,
        stdout=stdout,
        on_output=capture.feed if capture is not None else None,
        group_file=group_file,
    )
    if capture is not None:
        capture.flush()
    recorder.tick()
    return outcome
