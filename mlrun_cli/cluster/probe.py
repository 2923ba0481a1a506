"""`mlrun backend check slurm`: a one-task job that checks the shared-filesystem contract.

The contract: the stage directory, the environment cache and the store's run folders are the
same paths on the nodes as here, readable and writable from both sides, and the node can
start the same mlrun. The probe checks each from the node and reports what it saw.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any


def probe(
    name: str, config_text: str | None, tracking_uri: str | None, timeout: float
) -> dict[str, Any]:
    from mlrun_cli import __version__
    from mlrun_cli.backends import JobSpec, get_backend
    from mlrun_cli.backends.slurm.backend import node_command, stage_root
    from mlrun_cli.cluster.submit import cluster_store, target
    from mlrun_cli.paths import tool_path

    tgt = target(name, config_text)
    store = cluster_store(tracking_uri)
    backend = get_backend(tgt.name, tgt.config)
    token = os.urandom(8).hex()
    folder = stage_root(tgt.config) / f"probe-{token}"
    folder.mkdir(parents=True)
    (folder / "token").write_text(token)
    runs = Path(store.run_dir("probe")).parent  # where run folders go, for either store
    envs = tool_path("envs")
    for d in (runs, envs):
        d.mkdir(parents=True, exist_ok=True)
    (envs / f".probe-{token}").write_text(token)
    result = folder / "result.txt"
    mlrun = " ".join(shlex.quote(a) for a in node_command(tgt.config))
    q = shlex.quote
    script = "\n".join(
        [
            f"cd {q(str(folder))} 2>/dev/null || true",
            "{",
            'echo "node=$(hostname)"',
            f'[ "$(cat {q(str(folder / "token"))} 2>/dev/null)" = {token} ] '
            '&& echo "stage=ok" || echo "stage=fail"',
            f'[ "$(cat {q(str(envs / f".probe-{token}"))} 2>/dev/null)" = {token} ] '
            '&& echo "envs=ok" || echo "envs=fail"',
            f"echo {token} > {q(str(runs / f'.probe-{token}'))} 2>/dev/null "
            '&& echo "store=ok" || echo "store=fail"',
            f'v=$({mlrun} --version 2>&1) && echo "mlrun=ok $v" || echo "mlrun=fail $v"',
            f"}} > {q(str(result))}.tmp 2>&1",
            f"mv {q(str(result))}.tmp {q(str(result))}",
        ]
    )
    log = folder / "probe.log"
    log.touch()
    submitted_at = time.monotonic()
    sub = backend.submit(
        JobSpec(
            name=f"mlrun-probe-{token[:6]}",
            argv=["bash", "-c", script],
            workdir=folder,
            log=log,
            script=folder / "probe.sh",
            export=list(tgt.config.get("export") or []),
        )
    )
    state = None
    deadline = submitted_at + timeout
    while not result.exists() and time.monotonic() < deadline:
        states = backend.poll([sub.job_id])
        state = states.get(sub.job_id)
        if state is not None and state.state not in (
            "PENDING",
            "RUNNING",
            "CONFIGURING",
            "COMPLETING",
        ):
            time.sleep(1)  # the result file may lag on a network filesystem
            break
        if state is None and time.monotonic() - submitted_at > 5:
            break
        time.sleep(0.5)
    seen: dict[str, str] = {}
    if result.exists():
        for line in result.read_text().splitlines():
            key, _, value = line.partition("=")
            seen[key] = value
    else:
        backend.cancel([sub.job_id])
    waited = time.monotonic() - submitted_at
    checks = [
        _check(
            "job ran",
            bool(seen),
            f"job {sub.job_id} wrote its result in {waited:.1f}s"
            if seen
            else f"no result from job {sub.job_id} after {waited:.0f}s "
            f"(last state {state.state if state else 'unknown'}; see {log})",
        ),
    ]
    if seen:
        checks += [
            _check(
                "stage dir", seen.get("stage") == "ok", f"{folder.parent} readable from the node"
            ),
            _check("env cache", seen.get("envs") == "ok", f"{envs} readable from the node"),
            _check(
                "store",
                seen.get("store") == "ok" and (runs / f".probe-{token}").exists(),
                f"{runs} writable from the node and visible here",
            ),
        ]
        version = seen.get("mlrun", "fail")
        ok = version.startswith("ok") and __version__ in version
        checks.append(
            _check(
                "mlrun on the node",
                ok,
                version.removeprefix("ok ").removeprefix("fail ")
                + ("" if ok else f" (here: {__version__}; set python or mlrun in the config)"),
            )
        )
        log_ok = log.exists()
        checks.append(_check("job output", log_ok, f"{log} visible here"))
    for leftover in (runs / f".probe-{token}", envs / f".probe-{token}"):
        leftover.unlink(missing_ok=True)
    return {
        "schema": "mlrun.backend-check/1",
        "backend": name,
        "ok": all(c["ok"] for c in checks),
        "job_id": sub.job_id,
        "node": seen.get("node"),
        "checks": checks,
    }


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}
