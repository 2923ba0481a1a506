"""`mlrun backend check NAME`: a one-task job that checks the shared-filesystem contract.

The contract: the stage directory, the environment cache and the store's run folders are the
same paths on the nodes as here, readable and writable from both sides, and the node can
start the same mlrun. The probe checks each from the node and reports what it saw.

A backend whose nodes share no folder with us (Ray's working_dir) gets another probe: its
folder is uploaded with the job, and the node says, in the output the scheduler keeps, that
the upload arrived, that it can start mlrun, and that it reaches the MLflow server store.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

from mlrun_cli.backends import ClusterBackend, JobSpec, JobState, JobStatus
from mlrun_cli.values import valueclass


@valueclass
class _Paths:
    token: str
    folder: Path  # in the stage directory
    runs: Path  # where run folders go, for either store
    envs: Path
    result: Path
    log: Path


def probe(
    name: str, config_text: str | None, tracking_uri: str | None, timeout: float
) -> dict[str, Any]:
    """Submit the probe to backend `name`, wait up to `timeout` s, and report each check."""
    from mlrun_cli.backends import configure
    from mlrun_cli.cluster.submit import cluster_store
    from mlrun_cli.paths import tool_path

    backend = configure(name, config_text)
    store = cluster_store(tracking_uri)
    if not backend.shares_folder():
        backend.check_store(store.server() is not None)
        return _probe_uploaded(backend, name, store.shown, timeout)
    token = os.urandom(8).hex()
    folder = backend.stage_root() / f"probe-{token}"
    paths = _Paths(
        token=token,
        folder=folder,
        runs=Path(store.run_dir("probe")).parent,
        envs=tool_path("envs"),
        result=folder / "result.txt",
        log=folder / "probe.log",
    )
    folder.mkdir(parents=True)
    (folder / "token").write_text(token)
    for d in (paths.runs, paths.envs):
        d.mkdir(parents=True, exist_ok=True)
    (paths.envs / f".probe-{token}").write_text(token)
    paths.log.touch()
    submitted_at = time.monotonic()
    sub = backend.submit(
        JobSpec(
            name=f"mlrun-probe-{token[:6]}",
            argv=["bash", "-c", _script(paths, backend)],
            workdir=folder,
            log=paths.log,
            script=folder / "probe.sh",
            export=backend.export(),
        )
    )
    state = _wait(backend, sub.job_id, paths.result, submitted_at + timeout, submitted_at)
    seen: dict[str, str] = {}
    if paths.result.exists():
        for line in paths.result.read_text().splitlines():
            key, _, value = line.partition("=")
            seen[key] = value
    else:
        backend.cancel([sub.job_id])
    checks = _checks(paths, seen, sub.job_id, state, time.monotonic() - submitted_at)
    checks.insert(0, _check("backend", True, backend.describe()))
    for leftover in (paths.runs / f".probe-{token}", paths.envs / f".probe-{token}"):
        leftover.unlink(missing_ok=True)
    return {
        "schema": "mlrun.backend-check/1",
        "backend": name,
        "ok": all(c["ok"] for c in checks),
        "job_id": sub.job_id,
        "node": seen.get("node"),
        "checks": checks,
    }


def _probe_uploaded(
    backend: ClusterBackend, name: str, tracking_uri: str, timeout: float
) -> dict[str, Any]:
    """The probe of a job that shares no folder with us: what the node printed says it all."""
    import shutil

    token = os.urandom(8).hex()
    folder = backend.stage_root() / f"probe-{token}"
    folder.mkdir(parents=True)
    (folder / "token").write_text(token)
    q = shlex.quote
    mlrun = " ".join(q(a) for a in backend.node_command())
    script = "\n".join(
        [
            'echo "probe.node=$(hostname)"',
            f'[ "$(cat token 2>/dev/null)" = {token} ] && echo "probe.upload=ok" '
            '|| echo "probe.upload=fail"',
            f'v=$({mlrun} --version 2>&1) && echo "probe.mlrun=ok $v" || echo "probe.mlrun=fail $v"',
            f"e=$({mlrun} experiments list --json --tracking-uri {q(tracking_uri)} 2>&1) "
            '&& echo "probe.store=ok" || echo "probe.store=fail $(echo "$e" | tail -n 1)"',
        ]
    )
    submitted_at = time.monotonic()
    try:
        sub = backend.submit(
            JobSpec(
                name=f"mlrun-probe-{token[:6]}",
                argv=["bash", "-c", script],
                workdir=folder,
                log=folder / "probe.log",
                script=folder / "probe.sh",
                export=backend.export(),
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    state = None
    while time.monotonic() < submitted_at + timeout:
        state = backend.poll([sub.job_id]).get(sub.job_id)
        if state is None or state.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            break
        time.sleep(0.5)
    else:
        backend.cancel([sub.job_id])
    output = (backend.job_output(sub.job_id) or b"").decode("utf-8", "replace")
    seen = dict(
        line.removeprefix("probe.").partition("=")[::2]
        for line in output.splitlines()
        if line.startswith("probe.")
    )
    checks = _uploaded_checks(backend, sub.job_id, seen, state, submitted_at, tracking_uri)
    return {
        "schema": "mlrun.backend-check/1",
        "backend": name,
        "ok": all(c["ok"] for c in checks),
        "job_id": sub.job_id,
        "node": seen.get("node"),
        "checks": checks,
    }


def _uploaded_checks(
    backend: ClusterBackend,
    job_id: str,
    seen: dict[str, str],
    state: JobState | None,
    submitted_at: float,
    tracking_uri: str,
) -> list[dict[str, Any]]:
    """The checks of the uploaded probe, from what its node printed (`seen`)."""
    waited = time.monotonic() - submitted_at
    checks = [_check("backend", True, backend.describe())]
    checks.append(
        _check(
            "job ran",
            bool(seen),
            f"job {job_id} printed its result in {waited:.1f}s"
            if seen
            else f"no result from job {job_id} after {waited:.0f}s (last state "
            f"{state.state if state else 'unknown'}; ray job logs {job_id})",
        )
    )
    if seen:
        checks.append(
            _check("upload", seen.get("upload") == "ok", "the job's folder arrived on the node")
        )
        checks.append(_version_check(seen))
        store_seen = seen.get("store", "fail")
        checks.append(
            _check(
                "store",
                store_seen == "ok",
                f"{tracking_uri} reached from the node"
                + ("" if store_seen == "ok" else f" ({store_seen.removeprefix('fail ')})"),
            )
        )
        checks.append(_check("job output", True, "kept by the scheduler and read here"))
    return checks


def _script(paths: _Paths, backend: ClusterBackend) -> str:
    mlrun = " ".join(shlex.quote(a) for a in backend.node_command())
    q = shlex.quote
    token = paths.token
    return "\n".join(
        [
            f"cd {q(str(paths.folder))} 2>/dev/null || true",
            "{",
            'echo "node=$(hostname)"',
            f'[ "$(cat {q(str(paths.folder / "token"))} 2>/dev/null)" = {token} ] '
            '&& echo "stage=ok" || echo "stage=fail"',
            f'[ "$(cat {q(str(paths.envs / f".probe-{token}"))} 2>/dev/null)" = {token} ] '
            '&& echo "envs=ok" || echo "envs=fail"',
            f"echo {token} > {q(str(paths.runs / f'.probe-{token}'))} 2>/dev/null "
            '&& echo "store=ok" || echo "store=fail"',
            f'v=$({mlrun} --version 2>&1) && echo "mlrun=ok $v" || echo "mlrun=fail $v"',
            f"}} > {q(str(paths.result))}.tmp 2>&1",
            f"mv {q(str(paths.result))}.tmp {q(str(paths.result))}",
        ]
    )


def _wait(
    backend: ClusterBackend, job_id: str, result: Path, deadline: float, submitted_at: float
) -> JobState | None:
    """Poll until the result file appears, the job ends, or the deadline; its last state."""
    state = None
    while not result.exists() and time.monotonic() < deadline:
        state = backend.poll([job_id]).get(job_id)
        if state is not None and state.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            time.sleep(1)  # the result file may lag on a network filesystem
            break
        if state is None and time.monotonic() - submitted_at > 5:
            break
        time.sleep(0.5)
    return state


def _checks(
    paths: _Paths, seen: dict[str, str], job_id: str, state: JobState | None, waited: float
) -> list[dict[str, Any]]:

    checks = [
        _check(
            "job ran",
            bool(seen),
            f"job {job_id} wrote its result in {waited:.1f}s"
            if seen
            else f"no result from job {job_id} after {waited:.0f}s "
            f"(last state {state.state if state else 'unknown'}; see {paths.log})",
        ),
    ]
    if not seen:
        return checks
    checks += [
        _check(
            "stage dir", seen.get("stage") == "ok", f"{paths.folder.parent} readable from the node"
        ),
        _check("env cache", seen.get("envs") == "ok", f"{paths.envs} readable from the node"),
        _check(
            "store",
            seen.get("store") == "ok" and (paths.runs / f".probe-{paths.token}").exists(),
            f"{paths.runs} writable from the node and visible here",
        ),
    ]
    checks.append(_version_check(seen))
    checks.append(_check("job output", paths.log.exists(), f"{paths.log} visible here"))
    return checks


def _version_check(seen: dict[str, str]) -> dict[str, Any]:
    from mlrun_cli import __version__

    version = seen.get("mlrun", "fail")
    ok = version.startswith("ok") and __version__ in version
    return _check(
        "mlrun on the node",
        ok,
        version.removeprefix("ok ").removeprefix("fail ")
        + ("" if ok else f" (here: {__version__}; set python or mlrun in the config)"),
    )


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}
