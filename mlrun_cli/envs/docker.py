"""The `docker` environment manager: a docker_env project's environment is its image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrun_cli.envs import Environment
from mlrun_cli.project.mlproject import Project


class DockerManager:
    """Checks the engine, its daemon and the project's image; nothing is built here (the
    derived image of --build-image is built by the run, which knows it is asked for)."""

    name = "docker"

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        from mlrun_cli.containers.prepare import prepare

        prepare(project)
        return Environment(manager="docker")
