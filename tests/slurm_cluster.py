"""A one-node Slurm cluster on the loopback address, for tests and benchmarks.

The daemons are started directly (no systemd) from the Debian `slurm-wlm` and `munge`
packages with a minimal configuration in a private directory, and stopped by pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NODE = "mlrun-node"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be started here; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()), None
    )


def _munge_running() -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(MUNGE_SOCKET))
        return True
    except OSError:
        return False


class LocalSlurm:
    """`slurmctld` and `slurmd` with their config, state and logs under `root`."""

    def __init__(self, root: Path, *, cpus: int = 4, min_job_age: int = 10) -> None:
        self.root = root
        self.cpus = cpus
        self.min_job_age = min_job_age
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: list[int] = []
        self.munged: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        missing = [n for n in ("munged", "slurmctld", "slurmd", "sbatch") if not _which(n)]
        if missing:
            raise ClusterUnavailable(
                f"{', '.join(missing)} not found; install with: apt-get install -y slurm-wlm munge"
            )
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting slurmd needs root")
        self._start_munge()
        for d in ("state", "spool", "log"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=mlrun-test",
                    f"SlurmctldHost={host}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "SchedulerType=sched/builtin",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU",
                    "SlurmdParameters=config_overrides",
                    "ReturnToService=2",
                    f"MinJobAge={self.min_job_age}",
                    "KillWait=5",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=30",
                    "MessageTimeout=10",
                    "SchedulerParameters=sched_interval=1",
                    f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} "
                    "RealMemory=1000 State=UNKNOWN",
                    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        ctld = _which("slurmctld")
        slurmd = _which("slurmd")
        assert ctld and slurmd
        self._daemon([ctld, "-i", "-c"])
        self._daemon([slurmd, "-N", NODE])
        self.wait_ready()

    def _start_munge(self) -> None:
        if _munge_running():
            return
        munged = _which("munged")
        assert munged
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
            shutil.chown(key, "munge", "munge")
        self.munged = subprocess.Popen(
            ["runuser", "-u", "munge", "--", munged, "--foreground"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _munge_running():
            if self.munged.poll() is not None or time.monotonic() > deadline:
                raise ClusterUnavailable("munged did not start (see /var/log/munge/munged.log)")
            time.sleep(0.05)

    def _daemon(self, argv: list[str]) -> None:
        with open(self.root / "log" / (Path(argv[0]).name + ".stderr"), "wb") as err:
            proc = subprocess.Popen(
                [*argv, "-D", "-f", str(self.conf)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.pids.append(proc.pid)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = subprocess.run(
                ["sinfo", "--noheader", "-N", "-o", "%T"],
                env=self.env,
                capture_output=True,
                text=True,
            )
            last = (r.stdout + r.stderr).strip()
            if r.returncode == 0 and last.split() and last.split()[0] in ("idle", "mixed"):
                return
            time.sleep(0.2)
        logs = "".join(
            p.read_text(errors="replace")[-1500:] for p in sorted((self.root / "log").glob("*"))
        )
        self.stop()
        raise ClusterUnavailable(f"the node did not become idle ({last}); logs:\n{logs}")

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True)

    def stop(self) -> None:
        for pid in reversed(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                for _ in range(100):
                    if os.waitpid(pid, os.WNOHANG) != (0, 0):
                        break
                    time.sleep(0.05)
                else:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
        self.pids.clear()
        if self.munged is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.munged.pid, signal.SIGTERM)
            self.munged.wait(timeout=10)
            self.munged = None


@contextlib.contextmanager
def local_slurm(root: Path, **kwargs: int) -> Iterator[LocalSlurm]:
    cluster = LocalSlurm(root, **kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
