"""Options shared by several commands; their choice lists come from the registries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def tracking_option(f: F) -> F:
    return click.option(
        "--tracking-uri",
        envvar=None,
        help="Store to record into (default: MLRUN_TRACKING_URI, else ./.mlrun).",
    )(f)


def read_tracking_option(f: F) -> F:
    """--tracking-uri of a command that only reads the store."""
    return click.option(
        "--tracking-uri",
        envvar=None,
        help="Store to read (default: MLRUN_TRACKING_URI, else ./.mlrun).",
    )(f)


def backend_options(f: F) -> F:
    f = click.option(
        "--detach", is_flag=True, help="Submit, print the run and job ids, and exit (clusters)."
    )(f)
    f = click.option(
        "--backend-config",
        metavar="FILE|JSON",
        help="The backend's settings: a YAML/JSON file (slurm.yaml, ray.yaml) or a JSON object.",
    )(f)
    return click.option(
        "--backend",
        cls=_BackendOption,
        default="local",
        show_default=True,
        metavar="NAME",
        help="Where the command runs.",
    )(f)


class _BackendOption(click.Option):
    """--backend: its help names the registered backends, read only when help is shown (a
    run does not pay for importing the backend registry)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from mlrun_cli.backends import backend_names

        self.help = f"Where the command runs: {' or '.join(backend_names())}."
        return super().get_help_record(ctx)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def env_manager_option(help: str | None = None) -> Callable[[F], F]:
    """--env-manager, choosing among the registered environment managers."""
    from mlrun_cli.envs import manager_names

    return click.option("--env-manager", type=click.Choice(manager_names()), help=help)


def _examples_last(cmd: click.Command) -> None:
    """A docstring's "Examples:" section is shown after the options, as the help's last part."""
    import inspect

    help_text = inspect.cleandoc(cmd.help or "")
    head, sep, examples = help_text.partition("\n\nExamples:")
    if sep and not cmd.epilog:
        cmd.help = head
        cmd.epilog = "Examples:" + examples


class Command(click.Command):
    """A command whose help ends with its examples."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _examples_last(self)


class Group(click.Group):
    """A group whose help, and its commands' help, end with their examples."""

    command_class = Command
    group_class = type  # subgroups are of the same class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _examples_last(self)
