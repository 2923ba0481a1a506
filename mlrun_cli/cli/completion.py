"""`mlrun completion bash|zsh|fish`: the shell script that completes mlrun's commands."""

from __future__ import annotations

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Command

SHELLS = ("bash", "zsh", "fish")


@click.command("completion", cls=Command)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; load it from your shell's start-up file.

    Examples:

    \b
      eval "$(mlrun completion bash)"      # in ~/.bashrc
      mlrun completion fish > ~/.config/fish/completions/mlrun.fish
    """
    from click.shell_completion import get_completion_class

    from mlrun_cli.cli.app import cli

    cls = get_completion_class(shell)
    if cls is None:  # click knows the three shells above
        raise click.BadParameter(f"{shell!r} is not supported", param_hint="SHELL")
    console.out(cls(cli, {}, "mlrun", "_MLRUN_COMPLETE").source())
