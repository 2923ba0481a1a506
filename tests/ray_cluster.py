"""A one-node Ray cluster on the loopback address, for tests and benchmarks.

`ray start --head --block` is started in its own session with free ports, a private temp
dir and the dashboard (the Jobs API) bound to 127.0.0.1, and stopped by pid: SIGTERM to
the `ray start` process (which shuts its daemons down), then SIGKILL to whatever of its
process tree is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class RayUnavailable(RuntimeError):
    """The cluster cannot be started here; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_executable() -> str | None:
    """The `ray` next to this Python (the test virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else shutil.which("ray")


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of `pid`, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[19]


def _tree(root: int) -> dict[int, str]:
    """`root` and every process descended from it (by parent pid), with their start times,
    as /proc shows now: a pid reused later by another process is not ours."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: dict[int, str] = {}
    todo = [(root, (_stat(root) or (0, ""))[1])]
    while todo:
        pid, started = todo.pop()
        found[pid] = started
        todo += children.get(pid, [])
    return found


class LocalRay:
    """A Ray head with its temp dir under a short private directory (Ray's unix sockets
    must fit in 107 characters, so not below pytest's long tmp paths)."""

    def __init__(self, cpus: int = 2, start_timeout: float = 120) -> None:
        self.cpus = cpus
        self.start_timeout = start_timeout
        self.dashboard_port = _free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.root = Path(tempfile.mkdtemp(prefix="mlrun-ray-", dir="/tmp"))
        self.log = self.root / "head.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0

    def start(self) -> None:
        exe = ray_executable()
        if exe is None:
            raise RayUnavailable("ray is not installed: pip install 'mlrun-cli[ray]'")
        # In a subprocess started elsewhere: a directory on sys.path here (bench/, a test's
        # tmp dir) must not decide what `import ray` finds.
        check = subprocess.run(
            [sys.executable, "-c", "import ray.job_submission, ray.dashboard"],
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        if check.returncode != 0:
            why = (check.stderr.strip().splitlines() or ["?"])[-1]
            raise RayUnavailable(
                f"ray[default] does not import ({why}): pip install 'ray[default]'"
            )
        argv = [
            exe, "start", "--head", "--block", f"--num-cpus={self.cpus}", "--num-gpus=0",
            "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            "--include-dashboard=true", f"--dashboard-port={self.dashboard_port}",
            f"--port={_free_port()}", f"--ray-client-server-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}", "--disable-usage-stats",
            f"--temp-dir={self.root / 'tmp'}",
        ]  # fmt: skip
        # Loopback only: on Linux Ray finds the machine's own address for its processes
        # (GCS, raylet, agents) even with --node-ip-address=127.0.0.1, unless told that
        # this is a one-machine "cluster" (the switch it uses on macOS and Windows).
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
        t0 = time.monotonic()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            self._wait_ready(t0 + self.start_timeout)
        except RayUnavailable:
            self.stop()
            raise
        self.started_in = time.monotonic() - t0

    def _wait_ready(self, deadline: float) -> None:
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RayUnavailable(
                    f"ray start exited {self.proc.returncode}: {self.tail_of_log()}"
                )
            with contextlib.suppress(OSError, ValueError):
                self.api("/api/jobs/")  # the Jobs API answers, not only the dashboard
                return
            time.sleep(0.5)
        raise RayUnavailable(f"the Ray head did not answer in time: {self.tail_of_log()}")

    def tail_of_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def api(self, path: str, method: str = "GET") -> Any:
        """One call to the Jobs REST API (tests inspect and break jobs with it)."""
        req = urllib.request.Request(self.address + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.api("/api/jobs/") if j.get("submission_id")]

    def active_jobs(self) -> list[str]:
        return [j["submission_id"] for j in self.jobs() if j["status"] in ("PENDING", "RUNNING")]

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = _tree(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)  # ray start shuts its daemons down
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        for pid, started in pids.items():  # whatever did not exit (workers, entrypoints)
            now = _stat(pid)
            if now is None or now[1] != started:
                continue  # gone, or the pid is another process's now
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def local_ray(cpus: int = 2) -> Iterator[LocalRay]:
    cluster = LocalRay(cpus)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
