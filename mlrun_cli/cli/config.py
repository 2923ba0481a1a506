"""`mlrun config`: the defaults in effect here, and where each comes from; and the helper that
lets a config file set an option's default."""

from __future__ import annotations

from typing import Any, TypeVar

import click
from click.core import ParameterSource

from mlrun_cli import console
from mlrun_cli.cli.options import Command, json_option

T = TypeVar("T")

# What a command does when nothing sets the key.
BUILT_IN = {
    "tracking_uri": None,  # the nearest .mlrun, else ./.mlrun
    "experiment_name": None,  # the Default experiment
    "env_manager": None,  # what the project declares
    "backend": "local",
    "jobs": "1",
}
SAID = {
    "tracking_uri": "(the nearest .mlrun, else ./.mlrun)",
    "experiment_name": "(the Default experiment)",
    "env_manager": "(what the project declares)",
}


def configured_default(key: str, value: T) -> T:
    """The option `key`'s value; when the command line did not give it (click used its
    default), the value of its environment variable or a config file, if one is set."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source(key) in (ParameterSource.DEFAULT, None):
        from mlrun_cli.config import configured

        found = configured(key)
        if found is not None:
            return found
    return value


def effective() -> dict[str, dict[str, Any]]:
    """Each key's value (below any flag) and where it comes from."""
    from mlrun_cli.config import KEYS, lookup

    out = {}
    for key in KEYS:
        value, origin = lookup(key)
        if value is None:
            value = BUILT_IN[key]
            if key == "tracking_uri":
                from mlrun_cli.paths import default_store_dir

                value = str(default_store_dir())
        out[key] = {"value": value, "source": origin}
    return out


@click.command("config", cls=Command)
@json_option
def config(as_json: bool) -> None:
    """Show the defaults in effect here and where each comes from.

    A flag wins over its environment variable (MLRUN_TRACKING_URI, MLRUN_EXPERIMENT_NAME,
    MLRUN_ENV_MANAGER, MLRUN_BACKEND, MLRUN_JOBS), which wins over the project's config
    (mlrun.toml, or [tool.mlrun] in pyproject.toml, in this directory or the nearest parent
    with one), which wins over the user's (~/.config/mlrun/config.toml, or under
    $XDG_CONFIG_HOME), which wins over the built-in default.

    Examples:

    \b
      mlrun config
      mlrun config --json | jq .settings.tracking_uri
      MLRUN_JOBS=4 mlrun config
    """
    from mlrun_cli.config import settings, user_config_path

    found = settings()
    values = effective()
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.config/1",
                "settings": values,
                "files": {
                    "project": str(found.project) if found.project else None,
                    "user": str(found.user) if found.user else None,
                },
            }
        )
        return
    rows = []
    for key, item in values.items():
        value = item["value"]
        if value is None:
            value = SAID[key]
        rows.append((key, value, item["source"]))
    console.table(None, ["key", "value", "from"], rows)
    console.out(f"project config: {found.project or 'none found (mlrun.toml or pyproject.toml)'}")
    console.out(f"user config: {found.user or f'none ({user_config_path()})'}")
