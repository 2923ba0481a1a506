"""The local manager: the command runs in the caller's environment as it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrun_cli.envs import Environment
from mlrun_cli.project.mlproject import Project


class LocalManager:
    """No environment of its own: the caller's PATH and interpreter, as they are."""

    name = "local"

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        """The caller's environment; nothing is built."""
        # `python` is whatever is first on PATH, which need not be mlrun's interpreter, so no
        # python version is claimed for it. `frozen` has no meaning here: nothing is installed.
        return Environment(manager="local")
