"""The local manager: the command runs in the caller's environment as it is."""

from __future__ import annotations

import sys

from mlrun_cli.envs import Environment
from mlrun_cli.project import Project


class LocalManager:
    name = "local"

    def prepare(self, project: Project) -> Environment:
        return Environment(manager="local", python_version="{}.{}.{}".format(*sys.version_info[:3]))
