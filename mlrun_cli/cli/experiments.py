"""`mlrun experiments ...`: list, create and rename experiments."""

from __future__ import annotations

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Group, json_option, read_tracking_option, tracking_option


@click.group(cls=Group)
def experiments() -> None:
    """List, create and rename experiments.

    Examples:

    \b
      mlrun experiments list
      mlrun experiments create tuning
      mlrun experiments rename tuning tuning-2026
    """


def _store(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    from mlrun_cli.store import open_store, resolve_tracking_uri

    return open_store(resolve_tracking_uri(tracking_uri))


def _as_dict(exp) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "lifecycle_stage": exp.lifecycle_stage,
    }


@experiments.command("list")
@read_tracking_option
@json_option
def experiments_list(tracking_uri: str | None, as_json: bool) -> None:
    """Every experiment of the store.

    Examples:

    \b
      mlrun experiments list
      mlrun experiments list --json
    """
    found = _store(tracking_uri).list_experiments()
    if as_json:
        console.json_out(
            {"schema": "mlrun.experiments/1", "experiments": [_as_dict(e) for e in found]}
        )
        return
    console.table(None, ["id", "name"], [(e.experiment_id, e.name) for e in found])


@experiments.command("create")
@click.argument("name")
@tracking_option
@json_option
def experiments_create(name: str, tracking_uri: str | None, as_json: bool) -> None:
    """Create an experiment (an existing name is an error).

    Examples:

    \b
      mlrun experiments create tuning
      mlrun run . --experiment-name tuning
    """
    from mlrun_cli.errors import TrackingError

    store = _store(tracking_uri)
    if store.get_experiment_by_name(name) is not None:
        raise TrackingError(f"an experiment named {name!r} exists already")
    exp = store.create_experiment(name)
    if as_json:
        console.json_out({"schema": "mlrun.experiment/1", **_as_dict(exp)})
    else:
        console.out(f"created experiment {exp.experiment_id}: {exp.name}")


@experiments.command("rename")
@click.argument("experiment")
@click.argument("new_name")
@tracking_option
@json_option
def experiments_rename(
    experiment: str, new_name: str, tracking_uri: str | None, as_json: bool
) -> None:
    """Rename EXPERIMENT (its id or name) to NEW_NAME.

    Examples:

    \b
      mlrun experiments rename tuning tuning-2026
      mlrun experiments rename 3 baseline
    """
    from mlrun_cli.errors import TrackingError

    store = _store(tracking_uri)
    exp = store.get_experiment_by_name(experiment)
    if exp is None:
        if not experiment.isdigit():
            raise TrackingError(f"no experiment named {experiment!r}; see 'mlrun experiments list'")
        exp = store.get_experiment(experiment)
    renamed = store.rename_experiment(exp.experiment_id, new_name)
    if as_json:
        console.json_out({"schema": "mlrun.experiment/1", **_as_dict(renamed)})
    else:
        console.out(f"renamed experiment {renamed.experiment_id}: {exp.name} -> {renamed.name}")
