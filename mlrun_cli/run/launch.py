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
    from collections.abc import Sequence
    from typing import BinaryIO

if TYPE_CHECKING:
    from mlrun_cli.containers.prepare import Prepared
    from mlrun_cli.run.capture import MetricCapture


def prepare_environment(
    project: Project, manager: str, *, frozen: Path | None, signals: Signals
) -> Environment:
    """The project's environment, built or reused; a signal during a build interrupts it
    (`Interrupted`, exit 128 + the signal) and the half-built environment is never reused."""
    if manager == "docker":  # a cluster node or submitter: containers start only here
        from mlrun_cli.errors import EnvError

        raise EnvError("a docker_env project runs in docker only with --backend local")
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


def prepare_container(
    project: Project, *, build_image: bool, image_id: str | None, signals: Signals
) -> Prepared:
    """The engine and image of a docker_env run (a derived image built with --build-image);
    a signal meanwhile interrupts it (the engine's client got the terminal's Ctrl-C too)."""
    from mlrun_cli.containers.prepare import prepare
    from mlrun_cli.errors import MlrunError

    try:
        prepared = prepare(project, build_image=build_image, image_id=image_id)
    except MlrunError:
        if signals.received is not None:
            raise Interrupted(signals.received, "while the image was being prepared") from None
        raise
    if signals.received is not None:
        raise Interrupted(signals.received, "while the image was being prepared")
    return prepared


def launch_container(
    prepared: Prepared,
    command: str,
    *,
    run_id: str,
    checkout: Path,
    run_dir: Path,
    docker_args: Sequence[str],
    env: dict[str, str],
    log_path: Path,
    relay: SignalRelay,
    recorder: Recorder,
    capture: MetricCapture | None = None,
    stdout: BinaryIO | None = None,
    group_file: Path | None = None,
) -> Outcome:
    """Run `command` in a container of the prepared image until it ends, recording as it
    goes: the engine's client is the supervised process, the signals go to the container."""
    import shlex

    from mlrun_cli.containers import command as C
    from mlrun_cli.containers.engine import Sender, remember
    from mlrun_cli.run.child import helper_path
    from mlrun_cli.run.signals import grace_period

    recorder.point(env)  # the loopback endpoint's address and token, as for a local run
    helper = helper_path()
    inside = C.passed_environment(env, prepared.environment)
    inside["PYTHONPATH"] = str(helper)  # the host's own entries mean nothing inside
    name = C.container_name(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)  # a missing mount source would be root's
    (run_dir / "artifacts").mkdir(exist_ok=True)
    spec = C.ContainerRun(
        image_id=prepared.image.id,
        name=name,
        command=command,
        checkout=None if prepared.build_image else checkout,
        mounts=(run_dir, helper),
        volumes=prepared.volumes,
        extra=tuple(C.docker_args(docker_args)),
        labels=(("mlrun.run_id", run_id),),
    )
    argv = C.run_argv(prepared.engine.path, spec, inside)
    remember(run_dir, prepared.engine, name)
    sender = Sender(prepared.engine, name, grace_period())
    try:
        outcome = execute(
            shlex.join(argv),
            cwd=checkout,
            env={**env, **inside},
            log_path=log_path,
            relay=relay,
            on_tick=recorder.tick,
            stdout=stdout,
            on_output=capture.feed if capture is not None else None,
            group_file=group_file,
            send=sender,
        )
    finally:
        sender.finish()
    if capture is not None:
        capture.flush()
    recorder.tick()
    return outcome
