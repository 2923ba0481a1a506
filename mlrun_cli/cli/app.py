"""The command line: parse arguments, call the core, render results, choose exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from mlrun_cli import __version__, console
from mlrun_cli.cli.edge import error_json, report, wants_json
from mlrun_cli.cli.options import Group

F = TypeVar("F", bound=Callable[..., Any])


# Subcommands that live in their own modules, imported only when invoked (or listed in
# --help), so `mlrun run` does not pay for them: name -> "module:attribute".
LAZY_COMMANDS: dict[str, str] = {
    "run": "mlrun_cli.cli.run:run",
    "validate": "mlrun_cli.cli.validate:validate",
    "runs": "mlrun_cli.cli.runs:runs",
    "envs": "mlrun_cli.cli.envs:envs",
    "rerun": "mlrun_cli.cli.rerun:rerun",
    "experiments": "mlrun_cli.cli.experiments:experiments",
    "sweep": "mlrun_cli.cli.sweep:sweep",
    "_trial": "mlrun_cli.cli.sweep:trial",
    "_exec": "mlrun_cli.cli.jobs:exec_",
    "logs": "mlrun_cli.cli.jobs:logs",
    "cancel": "mlrun_cli.cli.jobs:cancel",
    "backend": "mlrun_cli.cli.jobs:backend",
    "store": "mlrun_cli.cli.store:store",
    "completion": "mlrun_cli.cli.completion:completion",
    "artifacts": "mlrun_cli.cli.artifacts:artifacts",
    "models": "mlrun_cli.cli.models:models",
    "config": "mlrun_cli.cli.config:config",
    "ui": "mlrun_cli.cli.ui:ui",
    "report": "mlrun_cli.cli.report:report",
}


class MlrunGroup(Group):
    """Maps errors to exit codes in one place: user errors 2, unexpected errors 3.

    Also loads the subcommands named in LAZY_COMMANDS on first use.
    """

    as_json = False  # the command line asked for --json: errors are JSON on stdout too

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Click's own usage errors are printed as one line too, like ours (and as JSON too
        # under --json).
        self.as_json = wants_json(list(sys.argv[1:] if args is None else args))
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
            message = exc.format_message().rstrip(".") + hint
            console.error(message)
            if self.as_json:
                error_json(message, 2)
            sys.exit(2)
        except click.ClickException as exc:
            console.error(exc.format_message())
            if self.as_json:
                error_json(exc.format_message(), exc.exit_code)
            sys.exit(exc.exit_code)
        except click.Abort:
            console.error("aborted")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            ctx.exit(
                report(exc, as_json=getattr(self, "as_json", False))
            )  # one line and its exit code; a crash log for the unexpected


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """`mlrun run . -q` means `mlrun -q run .`: global flags given after the subcommand (where a
    user types them last) move in front of it. Values of the subcommand's own options are
    skipped, so `-P -q` stays a parameter, and nothing after `--` moves."""
    hoisted: list[str] = []
    rest: list[str] = []
    command: click.Command | None = None
    takes_value: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if command is not None and arg in GLOBAL_FLAGS:
            hoisted.append(arg)
        elif arg.startswith("-") or (command is None and arg in GLOBAL_FLAGS):
            rest.append(arg)
            if arg in takes_value and i + 1 < len(args):
                rest.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
            found = (
                (command if isinstance(command, click.Group) else group)
                if (command is None or isinstance(command, click.Group))
                else None
            )
            if found is not None and isinstance(found, click.Group):
                sub = found.get_command(ctx, arg)
                if sub is not None:
                    command = sub
                    takes_value = {
                        opt
                        for param in sub.params
                        if isinstance(param, click.Option) and not param.is_flag and not param.count
                        for opt in param.opts
                    }
        i += 1
    return hoisted + rest


@click.group(cls=MlrunGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlrun")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.option("-v", "--verbose", is_flag=True, help="Say more (environment reuse, commands).")
def cli(quiet: bool, verbose: bool) -> None:
    """Run MLproject projects fast and record every run exactly."""
    console.configure(quiet=quiet, verbose=verbose)


def main() -> None:
    cli(prog_name="mlrun")
