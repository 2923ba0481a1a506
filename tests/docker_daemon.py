"""A real Docker daemon for the tests, started once per session.

`dockerd` from the distribution's packages runs with no bridge and no iptables (containers
use the host's network only), its state in a temporary folder, stopped by pid at the end.
Images cannot be pulled here, so the base image is built from the distribution's packages
(`debootstrap --variant=minbase --include=python3,python3-venv`), kept as a tarball between
test runs (`MLRUN_TEST_IMAGE_CACHE`, default /tmp/mlrun-test-images, one file per suite;
CI builds it before the tests) and `docker import`-ed into each session's daemon.

Without root, dockerd or debootstrap the tests skip with the reason; under CI=true they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrun_cli.values import valueclass

DEFAULT_CACHE = "/tmp/mlrun-test-images"


@valueclass
class Daemon:
    host: str  # DOCKER_HOST for the docker CLI
    image: str  # the base image's tag: python3 and sh, nothing else
    engine: str  # the docker CLI
    log: Path

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host, "MLRUN_CONTAINER_ENGINE": self.engine}

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.engine, *args],
            env={**os.environ, "DOCKER_HOST": self.host},
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def unavailable(reason: str) -> None:
    """Skip, or under CI=true fail: CI installs everything these tests need."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"docker tests cannot run under CI: {reason}")
    pytest.skip(reason)


def os_suite() -> str:
    """The distribution's suite (bookworm), from /etc/os-release."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def debian_mirror() -> str:
    """The Debian mirror apt uses here (its sources), else deb.debian.org."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"] or words[:1] == ["deb"]:
                    for word in words[1:]:
                        if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                            return word
    return "http://deb.debian.org/debian"


def base_tarball(suite: str) -> Path:
    """The cached root filesystem of the base image, built with debootstrap if missing."""
    cache = Path(os.environ.get("MLRUN_TEST_IMAGE_CACHE") or DEFAULT_CACHE)
    tarball = cache / f"mlrun-test-base-{suite}.tar"
    if tarball.is_file():
        return tarball
    if shutil.which("debootstrap") is None:
        unavailable(f"no cached base image ({tarball}) and no debootstrap to build one")
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / f"rootfs-{suite}.{os.getpid()}"
    proc = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv",
            suite,
            str(root),
            debian_mirror(),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"debootstrap {suite} failed: {(proc.stdout + proc.stderr)[-300:]}")
    tmp = tarball.with_name(f"{tarball.name}.{os.getpid()}.tmp")
    subprocess.run(["tar", "-C", str(root), "-cf", str(tmp), "."], check=True)
    os.replace(tmp, tarball)
    shutil.rmtree(root, ignore_errors=True)
    return tarball


def _wait_ready(engine: str, host: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        ok = subprocess.run(
            [engine, "version"], env={**os.environ, "DOCKER_HOST": host}, capture_output=True
        )
        if ok.returncode == 0:
            return True
        time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _unmount_under(root: Path) -> None:
    """What dockerd left mounted in `root` (its network namespace file, overlay mounts) is
    unmounted, so the folder can be removed."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@contextlib.contextmanager
def running_daemon(root: Path) -> Iterator[Daemon]:
    """dockerd in `root` with the base image imported; stopped by its pid at the end."""
    if os.geteuid() != 0:
        unavailable("dockerd needs root here (rootless docker is not set up)")
    dockerd, engine = shutil.which("dockerd"), shutil.which("docker")
    if dockerd is None or engine is None:
        unavailable("dockerd or docker is not installed (apt-get install docker.io)")
    assert dockerd is not None and engine is not None
    suite = os_suite() or "bookworm"
    tarball = base_tarball(suite)
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "docker.sock"
    host = f"unix://{socket}"
    reasons = []
    for driver in ("overlay2", "vfs"):
        log = root / f"dockerd-{driver}.log"
        argv = [
            dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false",
            f"--storage-driver={driver}", "--data-root", str(root / f"data-{driver}"),
            "--exec-root", str(root / "exec"), "-H", host, "--pidfile", str(root / "pid"),
        ]  # fmt: skip
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        if _wait_ready(engine, host, proc, 30):
            break
        _stop(proc)
        _unmount_under(root)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        reasons.append(f"{driver}: {' / '.join(tail)}")
    else:
        unavailable(f"dockerd cannot start here: {'; '.join(reasons)[-600:]}")
    try:
        image = f"mlrun-test-base:{suite}"
        daemon = Daemon(host=host, image=image, engine=engine, log=log)
        daemon.docker("import", str(tarball), image)
        yield daemon
    finally:
        _stop(proc)
        _unmount_under(root)
