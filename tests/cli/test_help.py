"""Every option of every command has help, and every command's help ends with examples."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import click
from click.testing import Result

from mlrun_cli.cli.app import cli


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[str, click.Command]]:
        if path:
            yield " ".join(path), cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, [*path, name])

    yield from walk(cli, [])


def test_every_option_has_help() -> None:
    missing = [
        f"mlrun {path} {param.opts[0]}"
        for path, cmd in _commands()
        for param in cmd.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert missing == []


def test_every_command_ends_with_two_or_three_examples(
    cli_run: Callable[..., Result],
) -> None:
    for path, _cmd in _commands():
        result = cli_run(*path.split(), "--help")
        assert result.exit_code == 0, path
        tail = result.output.rstrip().split("\n\n  Examples:\n\n")
        assert len(tail) == 2, f"mlrun {path} --help does not end with examples"
        examples = [line.strip() for line in tail[1].splitlines()]
        assert 2 <= len(examples) <= 3, path
        assert all(line.startswith("mlrun ") or "mlrun " in line for line in examples), path
