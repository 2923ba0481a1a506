"""The `docker run` command line of a run, and what the project's `docker_env` adds to it.

The container shares the host's network (the loopback endpoint binds 127.0.0.1) and runs as
the calling user, so files it writes into the run's folders are the caller's. The run's
folder (events file, artifacts) and the child helper are mounted at the same absolute paths
as on the host, so the paths in MLRUN_* and ``file://`` URIs mean the same inside and out.
The checkout is mounted at the fixed working directory (MLflow's) and at its own path too,
so absolute paths resolved on the host (``path`` parameters) hold inside. Variables are
passed by name (``-e NAME``) with their values in the engine's own environment: a token
never appears on a command line other users can read.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.containers.image import WORKDIR
from mlrun_cli.errors import ProjectError
from mlrun_cli.values import valueclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.project.mlproject import DockerEnv

PASSED_PREFIXES = ("MLRUN_", "MLFLOW_")
PASSED = ("PYTHONUNBUFFERED", "PYTHONPATH")
# Options the run's supervision depends on: its name (signals, lost runs), attached, removed,
# the host's network (the loopback endpoint).
RESERVED = frozenset(
    ("--name", "-d", "--detach", "--rm", "--network", "--net", "--init", "-i", "-t")
)


def container_name(run_id: str) -> str:
    return f"mlrun-{run_id}"


def declared_environment(
    docker: DockerEnv, host: Mapping[str, str], where: object = "MLproject"
) -> dict[str, str]:
    """`docker_env.environment` as MLflow reads it: ``[NAME, VALUE]`` sets a variable,
    ``NAME`` copies it from the caller's environment, where it must be set."""
    out: dict[str, str] = {}
    missing = []
    for name, value in docker.environment:
        if value is not None:
            out[name] = value
        elif name in host:
            out[name] = host[name]
        else:
            missing.append(name)
    if missing:
        raise ProjectError(
            f"{where}: docker_env.environment copies {', '.join(missing)} from the caller's environment, "
            "but it is not set; set it before running"
        )
    return out


def docker_args(given: Sequence[str]) -> list[str]:
    """`--docker-args` as MLflow reads `-A`: ``NAME=VALUE`` is ``--NAME VALUE``, ``NAME`` is
    ``--NAME`` (one letter: ``-N``); a value starting with ``-`` is options as written."""
    out: list[str] = []
    for item in given:
        if item.startswith("-"):
            out.extend(shlex.split(item))
            continue
        name, sep, value = item.partition("=")
        if not name:
            raise ProjectError(f"--docker-args {item!r}: give NAME=VALUE, NAME or --option ...")
        flag = f"-{name}" if len(name) == 1 else f"--{name}"
        out.extend([flag, value] if sep else [flag])
    for option in out:
        if option.split("=", 1)[0] in RESERVED:
            raise ProjectError(
                f"--docker-args {option.split('=', 1)[0]} is set by mlrun (the container is "
                "named after the run, attached, removed, on the host's network); drop it"
            )
    return out


@valueclass
class ContainerRun:
    """What one container run needs, resolved."""

    image_id: str
    name: str
    command: str
    checkout: Path | None  # None: the image holds the project (--build-image)
    mounts: tuple[Path, ...]  # host folders mounted at the same path (run folder, helper)
    volumes: tuple[str, ...] = ()  # docker_env.volumes, as written
    extra: tuple[str, ...] = ()  # --docker-args, as docker options
    labels: tuple[tuple[str, str], ...] = ()


def run_argv(engine_path: str, c: ContainerRun, env: Mapping[str, str]) -> list[str]:
    """The full `docker run` argv; `env` holds the variables passed by name."""
    argv = [engine_path, "run", "--init", "--rm", "--name", c.name, "--network", "host"]
    argv += ["--user", f"{os.getuid()}:{os.getgid()}", "-w", WORKDIR]
    for key, value in c.labels:
        argv += ["--label", f"{key}={value}"]
    if c.checkout is not None:
        argv += ["-v", f"{c.checkout}:{WORKDIR}"]
        if str(c.checkout) != WORKDIR:
            argv += ["-v", f"{c.checkout}:{c.checkout}"]
            # So the child helper names a file of the working directory by its host path.
            argv += ["-e", f"MLRUN_CONTAINER_WORKDIR={WORKDIR}"]
            argv += ["-e", f"MLRUN_HOST_WORKDIR={c.checkout}"]
    for folder in c.mounts:
        argv += ["-v", f"{folder}:{folder}"]
    for volume in c.volumes:
        argv += ["-v", volume]
    for name in sorted(env):
        argv += ["-e", name]
    argv += c.extra
    argv += [c.image_id, "sh", "-c", c.command]
    return argv


def passed_environment(child: Mapping[str, str], declared: Mapping[str, str]) -> dict[str, str]:
    """What goes into the container: the tracking contract (MLRUN_*, MLFLOW_*), unbuffered
    output and the helper's PYTHONPATH, then the project's own variables."""
    out = {k: v for k, v in child.items() if k.startswith(PASSED_PREFIXES) or k in PASSED}
    # docker's init (tini) forwards a signal to the command's whole process group, as a
    # local run's relay does, not to `sh` alone (which would wait for its child).
    out["TINI_KILL_PROCESS_GROUP"] = "1"
    # The calling user has no home in the image (docker says "/", which it may not write).
    out["HOME"] = "/tmp"
    out.update(declared)
    return out
