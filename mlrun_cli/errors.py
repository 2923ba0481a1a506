"""The one exception family for problems a user can fix."""

from __future__ import annotations


class MlrunError(Exception):
    """A user-fixable problem: printed as one line at the CLI edge, exit code 2.

    The message says what is wrong, where, and what to do.
    """

    exit_code = 2


class ProjectError(MlrunError):
    """The MLproject file or the project directory is not usable."""


class ParameterError(MlrunError):
    """A parameter given with -P (or a default) is missing or not of its type."""


class SourceError(MlrunError):
    """The project URI or version cannot be resolved."""


class EnvError(MlrunError):
    """The environment cannot be found, built or used."""


class TrackingError(MlrunError):
    """The tracking store cannot be opened or does not hold what was asked for."""


class Interrupted(MlrunError):
    """mlrun was interrupted before a child started; exit 128 + the signal."""

    def __init__(self, signum: int, when: str = "before the command started") -> None:
        super().__init__(f"interrupted {when}; the run is recorded KILLED")
        self.exit_code = 128 + signum
