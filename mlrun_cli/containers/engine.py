"""The container engine: docker or podman, found once per run, and its errors as one line.

`MLRUN_CONTAINER_ENGINE` names the engine (``docker``, ``podman`` or a path to either);
otherwise the first of docker and podman found on PATH is used. The engine's own settings
(``DOCKER_HOST``, ``DOCKER_CONTEXT``, ``CONTAINER_HOST``) are taken from the environment as
the engine itself takes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from mlrun_cli.errors import EnvError
from mlrun_cli.values import valueclass

ENGINES = ("docker", "podman")
ENGINE_ENV = "MLRUN_CONTAINER_ENGINE"
# What the engine reads to find its daemon; kept with a running container so a finder of a
# lost run talks to the same daemon.
DAEMON_VARS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "CONTAINER_HOST")


class ContainerError(EnvError):
    """The engine is missing, its daemon unreachable, or the image not there."""


@valueclass
class Engine:
    name: str  # docker or podman
    path: str

    def argv(self, *args: str) -> list[str]:
        return [self.path, *args]

    def daemon_env(self) -> dict[str, str]:
        return {k: os.environ[k] for k in DAEMON_VARS if k in os.environ}


def find_engine() -> Engine:
    """The engine to use, or a `ContainerError` saying how to get one."""
    chosen = os.environ.get(ENGINE_ENV, "").strip()
    if chosen:
        path = shutil.which(chosen)
        if path is None:
            raise ContainerError(
                f"{ENGINE_ENV}={chosen} is not an executable on PATH; install it or set "
                f"{ENGINE_ENV} to docker or podman"
            )
        base = os.path.basename(path)
        return Engine("podman" if "podman" in base else "docker", path)
    for name in ENGINES:
        path = shutil.which(name)
        if path is not None:
            return Engine(name, path)
    raise ContainerError(
        "this project declares docker_env but no container engine is installed (docker or "
        "podman on PATH); install one, or pass --env-manager local to run the command in the "
        "current environment"
    )


def call(
    engine: Engine, args: Sequence[str], *, what: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the engine with `args`; its failure as one line naming `what` was being done."""
    env = dict(os.environ)
    if engine.name == "docker":
        # The classic builder works with any docker CLI; BuildKit needs the buildx plugin.
        env.setdefault("DOCKER_BUILDKIT", "0")
    try:
        proc = subprocess.run(
            engine.argv(*args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=env,
        )
    except OSError as exc:
        raise ContainerError(
            f"cannot run {engine.path} ({exc.strerror}); check the engine"
        ) from None
    if proc.returncode != 0:
        raise failure(engine, proc.stderr.decode(errors="replace"), what)
    return proc


def failure(engine: Engine, stderr: str, what: str) -> ContainerError:
    """The engine's error output `stderr` as one line a user can act on."""
    text = stderr.strip()
    low = text.lower()
    where = engine.daemon_env().get("DOCKER_HOST") or engine.daemon_env().get("CONTAINER_HOST")
    daemon = f" at {where}" if where else ""
    if "permission denied" in low and ("sock" in low or "daemon" in low):
        return ContainerError(
            f"permission denied on the {engine.name} socket{daemon} while {what}; add your user "
            f"to the {engine.name} group (then log in again) or point DOCKER_HOST at a socket "
            "you may use"
        )
    if (
        "cannot connect" in low
        or "is the docker daemon running" in low
        or "connection refused" in low
    ):
        return ContainerError(
            f"the {engine.name} daemon{daemon} is not running (while {what}); start it "
            "(systemctl start docker) or point DOCKER_HOST at one that runs"
        )
    last = text.splitlines()[-1] if text else "no output"
    return ContainerError(f"{engine.name} failed while {what}: {last[:300]}")


CONTAINER_FILE = "container.json"  # in the run's folder: which container performs the run


def remember(run_dir: Path, engine: Engine, name: str) -> None:
    """Write down the run's container, so a finder of the run, if its runner dies, can stop it."""
    data = {"engine": engine.path, "name": name, "env": engine.daemon_env()}
    with contextlib.suppress(OSError):
        (run_dir / CONTAINER_FILE).write_text(json.dumps(data))


def remove_left(run_dir: Path) -> bool:
    """Stop and remove the container a run's folder names, if it still exists (a runner
    killed with SIGKILL cannot); True if there was one."""
    try:
        data = json.loads((run_dir / CONTAINER_FILE).read_text())
        argv = [str(data["engine"]), "rm", "-f", str(data["name"])]
        env = {**os.environ, **{str(k): str(v) for k, v in dict(data.get("env") or {}).items()}}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and b"no such container" not in proc.stderr.lower()


class Sender:
    """Delivers a run's signals to its container through the engine: the signal itself
    (``kill --signal``), then SIGTERM as ``stop`` (the image's stop signal, then SIGKILL after
    the grace period), then ``kill``. Each is started without waiting: the runner keeps
    copying output meanwhile."""

    def __init__(self, engine: Engine, name: str, grace: float) -> None:
        self.engine = engine
        self.name = name
        self.grace = grace
        self.sent = 0
        self.pending: list[subprocess.Popen[bytes]] = []

    def __call__(self, sig: int) -> None:
        self.sent += 1
        if sig == signal.SIGKILL:
            args = ["kill", self.name]
        elif sig == signal.SIGTERM and self.sent > 1:
            args = ["stop", "--time", str(max(0, int(self.grace))), self.name]
        else:
            args = ["kill", "--signal", signal.Signals(sig).name, self.name]
        with contextlib.suppress(OSError):
            self.pending.append(
                subprocess.Popen(
                    self.engine.argv(*args),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def finish(self) -> None:
        """Once the run ended: wait for what was sent, and leave no container behind."""
        for proc in self.pending:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.grace + 30)
        if self.sent:
            # The engine's --rm removes an exited container, but not one whose engine client
            # was killed first; after a signal, make sure.
            subprocess.run(
                self.engine.argv("rm", "-f", self.name),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
