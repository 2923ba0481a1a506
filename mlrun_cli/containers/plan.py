"""Which manager a run of a docker_env project uses, judged before anything is recorded."""

from __future__ import annotations

from collections.abc import Sequence

from mlrun_cli.errors import ProjectError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.project.mlproject import Project


def container_manager(
    project: Project,
    asked: str | None,
    build_image: bool,
    docker_args: Sequence[str],
    image_id: str | None = None,
) -> str:
    """``docker`` for a docker_env project unless another manager is asked for (``local``
    runs the command in the current environment, as before); the container options make
    sense only in docker. Bad input is refused here, before the run is recorded."""
    where = project.file or project.dir
    manager = asked or "docker"
    if project.env.kind != "docker_env":
        if manager == "docker" or build_image or docker_args:
            raise ProjectError(
                f"{where}: declares no docker_env, so it cannot run in a container "
                "(--env-manager docker, --build-image, --docker-args); add docker_env: "
                "{image: NAME} to its MLproject"
            )
        return manager
    if manager != "docker":
        if build_image or docker_args:
            raise ProjectError(
                f"--build-image and --docker-args apply to a run in docker, not with "
                f"--env-manager {manager}; drop them or the --env-manager option"
            )
        return manager
    from mlrun_cli.containers.command import docker_args as parse_args
    from mlrun_cli.containers.engine import find_engine
    from mlrun_cli.containers.image import inspect_image
    from mlrun_cli.containers.prepare import check_project

    check_project(project)
    parse_args(docker_args)  # a malformed one fails now
    engine = find_engine()  # no engine installed: nothing to record
    if not image_id and project.env.docker is not None:
        # The daemon down, its socket refused, the image missing: one line, nothing recorded
        # (one `image inspect`, ~10-40 ms; a rerun's recorded image is checked as it starts).
        inspect_image(engine, project.env.docker.image)
    return manager
