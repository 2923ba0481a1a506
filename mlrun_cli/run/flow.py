"""One run on this machine, start to finish.

    plan       source -> project -> params -> command            (run.request)
    record     create the run with its provenance                 (run.provenance)
    prepare    build or reuse the environment                     (run.launch)
    launch     the command in its own process group, recorded     (run.launch, run.supervise)
    finish     the status from the outcome; the run never stays RUNNING

A cluster node performs the same prepare and launch steps (`mlrun_cli.cluster.node`); the
submitting side performs plan and record (`mlrun_cli.cluster.submit`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.envs import Environment
from mlrun_cli.errors import Interrupted, MlrunError
from mlrun_cli.paths import GROUP_FILE, OUTPUT_LOG
from mlrun_cli.run.child import child_environment
from mlrun_cli.run.launch import launch, launch_container, prepare_container, prepare_environment
from mlrun_cli.run.provenance import Record, create_record, record_env, record_source
from mlrun_cli.run.recorder import StoreRecorder
from mlrun_cli.run.request import Plan, RunRequest, plan
from mlrun_cli.run.supervise import SignalRelay
from mlrun_cli.store import open_store, resolve_tracking_uri
from mlrun_cli.store.base import FAILED, KILLED, Store
from mlrun_cli.values import valueclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.containers.prepare import Prepared
    from mlrun_cli.run.capture import MetricCapture
    from mlrun_cli.run.supervise import Outcome

__all__ = ["Plan", "RunRequest", "RunResult", "execute_run", "plan"]

# A command that exits 2 this soon after it started most likely refused its arguments
# (argparse and click exit 2 on a usage error).
REJECTED_WITHIN_S = 10.0


@valueclass
class RunResult:
    run_id: str
    experiment_id: str
    status: str
    exit_code: int
    command: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    env: Environment
    tracking_uri: str
    timings: Mapping[str, float]


def execute_run(req: RunRequest, p: Plan | None = None) -> RunResult:
    """Run `req` and record it. Returns when the child has ended and the run is recorded."""
    t0 = time.monotonic()
    # Signals are caught from the start: a Ctrl-C while the env builds or the run is being
    # created must still end in a recorded, non-RUNNING run.
    relay = SignalRelay()
    relay.install()
    try:
        p = p or plan(req)
        with p:
            store = open_store(resolve_tracking_uri(req.tracking_uri))
            record = create_record(store, req, p)
            return _perform(req, p, store, record, relay, t0)
    finally:
        relay.restore()


def _perform(
    req: RunRequest, p: Plan, store: Store, rec: Record, relay: SignalRelay, t0: float
) -> RunResult:
    run_id = rec.run_id
    status, exit_code = FAILED, 1
    recorder: StoreRecorder | None = None
    try:
        record_source(p, store.artifact_dir(run_id))
        t_env = time.monotonic()
        if req.env_manager is None and p.project.env.kind == "none":
            _say_once_local(p.project.dir)
        try:
            env, box = _prepare(req, p, store, run_id, relay)
        except Interrupted as exc:
            status, exit_code = KILLED, exc.exit_code
            raise
        t_env = time.monotonic() - t_env
        record_env(store, run_id, env)
        if relay.received is not None:
            status, exit_code = KILLED, 128 + relay.received
            raise Interrupted(relay.received)
        capture = None
        if req.captures:
            from mlrun_cli.run.capture import MetricCapture

            capture = MetricCapture(req.capture_pattern)
        recorder = StoreRecorder(
            store,
            run_id,
            rec.experiment_id,
            rec.user,
            p.project.dir,
            capture,
            endpoint=req.mlflow_endpoint,
        )
        artifacts = store.artifact_dir(run_id)
        child_env = child_environment(
            os.environ,
            run_id=run_id,
            experiment_id=rec.experiment_id,
            tracking_uri=store.shown,
            run_dir=store.run_dir(run_id),
            artifact_dir=artifacts,
            env=env,
        )
        console.detail(f"run {run_id}: {p.command}")
        t_command = time.monotonic()
        outcome = _launch(req, p, store, run_id, box, child_env, relay, recorder, capture)
        exit_code = outcome.exit_code
        status = outcome.status(recorder.child_status())
        if exit_code == 2 and time.monotonic() - t_command < REJECTED_WITHIN_S:
            # Exit 2 is also mlrun's own "bad input": say whose it was.
            console.warn(f"the command rejected its arguments (exit 2): {p.command}")
    finally:
        if recorder is not None:
            recorder.close(status)
        server = store.server()
        if server is not None:
            server.upload_artifacts(run_id)
        # Whatever happened above, the run does not stay RUNNING.
        store.set_terminated(run_id, status, int(time.time() * 1000), exit_code)
    return _result(store, rec, p, status, exit_code, env, t_env, t0)


def _launch(
    req: RunRequest,
    p: Plan,
    store: Store,
    run_id: str,
    box: Prepared | None,
    child_env: dict[str, str],
    relay: SignalRelay,
    recorder: StoreRecorder,
    capture: MetricCapture | None,
) -> Outcome:
    """The command, here in its own process group, or in a container of the prepared image."""
    log_path = store.artifact_dir(run_id) / OUTPUT_LOG
    stdout = sys.stderr.buffer if req.json else None
    group_file = store.run_dir(run_id) / GROUP_FILE if store.index() is not None else None
    if box is None:
        return launch(
            p.command,
            cwd=p.project.dir,
            env=child_env,
            log_path=log_path,
            relay=relay,
            recorder=recorder,
            capture=capture,
            stdout=stdout,
            group_file=group_file,
        )
    return launch_container(
        box,
        p.command,
        run_id=run_id,
        checkout=p.project.dir,
        run_dir=store.run_dir(run_id),
        docker_args=req.docker_args,
        env=child_env,
        log_path=log_path,
        relay=relay,
        recorder=recorder,
        capture=capture,
        stdout=stdout,
        group_file=group_file,
    )


def _prepare(
    req: RunRequest, p: Plan, store: Store, run_id: str, relay: SignalRelay
) -> tuple[Environment, Prepared | None]:
    """The run's environment; for a run in a container, also its engine and image, whose
    provenance is recorded at once (a rerun runs the same image id)."""
    if p.env_manager != "docker":
        env = prepare_environment(
            p.project, p.env_manager, frozen=req.frozen_requirements, signals=relay
        )
        return env, None
    box = prepare_container(
        p.project, build_image=req.build_image, image_id=req.docker_image_id, signals=relay
    )
    tags = box.tags()
    if req.docker_args:
        import json

        tags[T.DOCKER_ARGS] = json.dumps(list(req.docker_args))
    store.log_batch(run_id, tags=tags)
    return Environment(manager="docker"), box


def _result(
    store: Store,
    rec: Record,
    p: Plan,
    status: str,
    exit_code: int,
    env: Environment,
    t_env: float,
    t0: float,
) -> RunResult:
    try:
        run = store.get_run(rec.run_id)
        params, metrics = dict(run.params), {k: m.value for k, m in run.metrics.items()}
    except MlrunError:
        # A server store that went away: what the run recorded is spooled; report it anyway.
        params, metrics = dict(p.params.all), {}
    return RunResult(
        run_id=rec.run_id,
        experiment_id=rec.experiment_id,
        status=status,
        exit_code=exit_code,
        command=p.command,
        params=params,
        metrics=metrics,
        env=env,
        tracking_uri=store.shown,
        timings={"env_s": round(t_env, 3), "total_s": round(time.monotonic() - t0, 3)},
    )


def _say_once_local(project_dir: Path) -> None:
    """Tell once per project that it declares no environment and runs in the current one."""
    from mlrun_cli.digest import sha256
    from mlrun_cli.paths import tool_path

    marker = tool_path("cache") / "told" / sha256(str(project_dir).encode()).hexdigest()[:24]
    if marker.exists():
        return
    console.info(
        f"{project_dir} declares no environment (python_env.yaml or conda.yaml); running in "
        "the current environment (said once per project)"
    )
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
