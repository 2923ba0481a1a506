"""Prepare a container run: the engine, the image (or the derived image), the project's
variables; and the tags that record them with the run."""

from __future__ import annotations

import os
from pathlib import Path

from mlrun_cli import tags as T
from mlrun_cli.containers.command import declared_environment
from mlrun_cli.containers.engine import ContainerError, Engine, find_engine
from mlrun_cli.containers.image import Image, derived_image, inspect_image
from mlrun_cli.errors import ProjectError
from mlrun_cli.values import valueclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.project.mlproject import Project


@valueclass
class Prepared:
    engine: Engine
    image: Image
    build_image: bool
    environment: dict[str, str]  # docker_env.environment, resolved
    volumes: tuple[str, ...]

    def tags(self) -> dict[str, str]:
        """The run's container provenance: MLflow's image tags, and ours."""
        tags = {
            T.DOCKER_IMAGE_URI: self.image.ref,
            T.DOCKER_IMAGE_ID: self.image.id,
            T.CONTAINER_ENGINE: self.engine.name,
            T.DOCKER_BUILD_IMAGE: "true" if self.build_image else "false",
        }
        if self.image.digest:
            tags[T.DOCKER_IMAGE_DIGEST] = self.image.digest
        if self.image.base_id:
            tags[T.DOCKER_BASE_IMAGE_ID] = self.image.base_id
        return tags


def check_project(project: Project) -> dict[str, str]:
    """What must hold before a docker_env run is recorded: an image, and every variable
    `environment` copies is set. The resolved variables."""
    docker = project.env.docker
    where = project.file or project.dir
    if docker is None or not str(docker.image or "").strip():
        raise ProjectError(f"{where}: docker_env has no image; set docker_env.image")
    return declared_environment(docker, os.environ, where)


def prepare(
    project: Project, *, build_image: bool = False, image_id: str | None = None
) -> Prepared:
    """The engine and the image to run `project` in; with `build_image`, the derived image
    (built once per project content). `image_id` (a rerun) names the exact image to use."""
    environment = check_project(project)
    docker = project.env.docker
    assert docker is not None
    engine = find_engine()
    if image_id:
        try:
            found = inspect_image(engine, image_id)
        except ContainerError as exc:
            if "does not pull" not in str(exc):
                raise
            raise ContainerError(
                f"image {image_id} (the one the recorded run used, {docker.image}) is no longer "
                f"on this machine's {engine.name} daemon; load it again, or run the project "
                "with mlrun run to use the image its MLproject names now"
            ) from None
        image = Image(ref=docker.image, id=found.id, digest=found.digest)
        if build_image:  # the recorded image is the derived one: it holds the project already
            return Prepared(engine, image, True, environment, docker.volumes)
    else:
        image = inspect_image(engine, docker.image)
    if build_image:
        image = derived_image(engine, image, project.name, Path(project.dir))
    return Prepared(engine, image, build_image, environment, docker.volumes)
