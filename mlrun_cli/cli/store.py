"""`mlrun store ...`: look after the embedded store itself (its index, `mlrun.db`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Group, json_option, tracking_option
from mlrun_cli.errors import TrackingError

if TYPE_CHECKING:
    from mlrun_cli.store.sqlite.repair import RepairReport


@click.group(cls=Group)
def store() -> None:
    """Look after the embedded store (./.mlrun).

    Examples:

    \b
      mlrun store repair
      mlrun store repair --tracking-uri /data/team/.mlrun
    """


@store.command("repair")
@tracking_option
@json_option
def store_repair(tracking_uri: str | None, as_json: bool) -> None:
    """Rebuild the store's index (mlrun.db) from its run folders and registry records.

    A missing, empty or damaged index is moved aside (never deleted) and rebuilt from every
    run folder and every registered model's record; a healthy one gets the runs and models
    it lacks. Running it again changes nothing.

    Examples:

    \b
      mlrun store repair
      mlrun store repair --tracking-uri /data/team/.mlrun --json
    """
    from mlrun_cli.store import open_store, resolve_tracking_uri
    from mlrun_cli.store.sqlite.repair import repair_store

    index = open_store(resolve_tracking_uri(tracking_uri)).index()
    if index is None:
        raise TrackingError(
            "'mlrun store repair' works on the embedded store (a directory such as ./.mlrun); "
            "an MLflow server keeps its own database"
        )
    report = repair_store(index.root)
    for problem in report.problems:
        console.warn(problem)
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.repair/1",
                "store": str(report.root),
                "damage": report.damage,
                "moved_aside": [str(p) for p in report.moved],
                "run_folders": report.folders,
                "recovered_full": report.full,
                "recovered_partial": report.partial,
                "ends_recorded": report.updated,
                "experiments": report.experiments,
                "metric_points": report.metric_points,
                "registered_models": report.models,
                "model_versions": report.versions,
                "registry_records_written": report.records,
            }
        )
        return
    for line in report_lines(report):
        console.out(line)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def report_lines(report: RepairReport) -> list[str]:
    """The report as lines for people."""
    from mlrun_cli.store.sqlite.recover import PARTIAL, RECOVERED

    db = report.db_path
    recovered = report.full + report.partial
    runs = f"{_n(recovered, 'run')} ({report.full} in full"
    if report.partial:
        runs += f", {report.partial} from the folder only, tagged {RECOVERED}={PARTIAL}"
    runs += f"), {_n(report.metric_points, 'metric point')}"
    models = f"{_n(report.models, 'registered model')} ({_n(report.versions, 'version')})"
    if report.damage is not None:
        lines = [f"the index {db} was not usable: {report.damage}"]
        if report.moved:
            lines.append("moved it aside, kept: " + ", ".join(p.name for p in report.moved))
        lines.append(
            f"rebuilt the index from {_n(report.folders, 'run folder')}: {runs}, "
            f"{_n(report.experiments, 'experiment')}"
            + (f", {models} from their records" if report.models else "")
        )
        return lines
    if report.folders == 0 and not db.exists():
        return [f"no index and no run folders in {report.root}; nothing to repair"]
    if not recovered and not report.updated and not report.models and not report.records:
        return [f"the index {db} is healthy and holds every run folder; nothing to do"]
    lines = [f"the index {db} is healthy"]
    if recovered:
        lines.append(f"added the {runs} it lacked, {_n(report.experiments, 'experiment')} added")
    if report.updated:
        lines.append(f"recorded the end of {_n(report.updated, 'run')} from the run folders")
    if report.models:
        lines.append(f"added the {models} it lacked from their records")
    if report.records:
        lines.append(f"wrote the records of {_n(report.records, 'registered model')}")
    return lines
