"""`mlrun runs ...`: find, inspect, compare, delete and restore recorded runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.cli.options import Group, json_option, read_tracking_option, tracking_option
from mlrun_cli.cli.render import (
    ENVIRONMENT,
    EXPORT_FORMATS,
    column_value,
    default_columns,
    fmt_duration,
    fmt_time,
    fmt_value,
    parse_columns,
    run_to_dict,
)
from mlrun_cli.cli.stores import open_runs_store
from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import Run


@click.group(cls=Group)
def runs() -> None:
    """Find, inspect and compare recorded runs.

    Examples:

    \b
      mlrun runs list --filter "metrics.accuracy > 0.9"
      mlrun runs show 3f2a9c1b
      mlrun runs compare 3f2a9c1b 77d0e412
    """


def _experiment_ids(store: Any, ids: Sequence[str], name: str | None) -> list[str]:
    found = list(ids)
    if name:
        exp = store.get_experiment_by_name(name)
        if exp is None:
            raise TrackingError(f"no experiment named {name!r}; see 'mlrun experiments list'")
        found.append(exp.experiment_id)
    return found


@runs.command("list")
@click.option("--experiment-id", "experiment_ids", multiple=True, help="Only these experiments.")
@click.option("--experiment-name", help="Only this experiment.")
@click.option(
    "--status", "statuses", multiple=True, help="Only runs with this status (repeatable)."
)
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    help="e.g. \"metrics.accuracy > 0.9 and params.kernel = 'linear'\".",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="KEY [ASC|DESC]",
    help="e.g. 'metrics.accuracy DESC' (repeatable).",
)
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1), help="Show at most this many."
)
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted runs.")
@click.option(
    "--columns",
    metavar="KEYS",
    help="Comma-separated columns after the fixed ones, e.g. params.C,metrics.accuracy,tags.x "
    "(default: the metrics most runs share, the params that differ).",
)
@click.option(
    "--no-children", is_flag=True, help="Hide sweep trials and nested runs (show their parents)."
)
@read_tracking_option
@json_option
def runs_list(
    experiment_ids: Sequence[str],
    experiment_name: str | None,
    statuses: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str],
    limit: int,
    include_deleted: bool,
    columns: str | None,
    no_children: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first.

    \b
    --filter takes MLflow's search syntax, clauses joined by AND (no OR):
      metrics.<key> = != < <= > >= a number (the latest value)
      params.<key>, tags.<key> = != LIKE ILIKE IN NOT IN 'a string' or ('a', 'b')
      attributes.status, run_name, run_id, user_id, lifecycle_stage: as params
      attributes.start_time, end_time, exit_code, experiment_id: as metrics (times in ms)
    Keys with other characters are quoted with backticks. LIKE is case-sensitive (% and _).
    --order-by takes metrics.<key>, params.<key>, tags.<key> or attributes.<name>, then ASC
    (default) or DESC; runs without the key come last.

    Examples:

    \b
      mlrun runs list --limit 20
      mlrun runs list --filter "params.C = '0.5' and status = 'FINISHED'" --order-by metrics.accuracy
      mlrun runs list --json | jq '.runs[].run_id'
    """
    from mlrun_cli.store.base import STATUSES

    for s in statuses:
        if s.upper() not in STATUSES:
            raise click.BadParameter(
                f"{s!r}; use one of {', '.join(STATUSES)}", param_hint="--status"
            )
    extra = parse_columns(columns)
    store = open_runs_store(tracking_uri)
    found = store.search_runs(
        _experiment_ids(store, experiment_ids, experiment_name) or None,
        [s.upper() for s in statuses] or None,
        limit + 1,  # one more says whether the limit cut the list
        include_deleted=include_deleted,
        filter_string=filter_string,
        order_by=order_by,
    )
    more = len(found) > limit
    found = found[:limit]
    if no_children:
        found = [r for r in found if T.SWEEP_ID not in r.tags and T.PARENT_RUN not in r.tags]
    if as_json:
        console.json_out({"schema": "mlrun.runs/1", "runs": [run_to_dict(r) for r in found]})
        return
    if not found:
        narrowed = filter_string or statuses or experiment_ids or experiment_name or no_children
        console.info(
            f"no runs match the filter in {store.shown}"
            if narrowed
            else f"no runs in {store.shown}"
        )
        return
    _print_runs(found, extra, limit if more else None)


def _print_runs(found: Sequence[Run], extra: list[str] | None, cut_at: int | None) -> None:
    """The runs table; `cut_at`: the limit that cut the list."""
    keys = extra if extra is not None else default_columns(found)
    rows = [
        (
            r.run_id[:8],
            r.name + (" (deleted)" if r.lifecycle_stage == "deleted" else ""),
            r.status,
            fmt_time(r.start_time),
            fmt_duration(r.start_time, r.end_time),
            r.tags.get(T.ENTRY_POINT, ""),
            *(column_value(r, k) for k in keys),
        )
        for r in found
    ]
    header = ["run", "name", "status", "started", "duration", "entry"]
    console.table(None, [*header, *(k.split(".", 1)[1] for k in keys)], rows, keep=4)
    if cut_at is not None:
        console.info(f"{cut_at} runs shown, more match; raise --limit to see them")


@runs.command("export")
@click.option("--experiment-id", "experiment_ids", multiple=True, help="Only these experiments.")
@click.option("--experiment-name", help="Only this experiment.")
@click.option("--filter", "filter_string", metavar="EXPR", help="As for 'mlrun runs list'.")
@click.option(
    "--order-by", "order_by", multiple=True, metavar="KEY [ASC|DESC]", help="As for 'runs list'."
)
@click.option(
    "--limit", default=100_000, show_default=True, type=click.IntRange(1), help="At most this many."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="csv",
    show_default=True,
    help="csv, tsv, json (one object a run, in a list) or parquet (needs pyarrow).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
@read_tracking_option
def runs_export(
    experiment_ids: Sequence[str],
    experiment_name: str | None,
    filter_string: str | None,
    order_by: Sequence[str],
    limit: int,
    fmt: str,
    output: Path | None,
    tracking_uri: str | None,
) -> None:
    """Write runs as a table for spreadsheets and data tools: one row a run, a column for
    each attribute, param, metric (latest value) and tag.

    Examples:

    \b
      mlrun runs export -o runs.csv
      mlrun runs export --filter "metrics.accuracy > 0.9" --format json -o good.json
      mlrun runs export --format parquet -o runs.parquet
    """
    from mlrun_cli.cli.render import export_runs

    store = open_runs_store(tracking_uri)
    found = store.search_runs(
        _experiment_ids(store, experiment_ids, experiment_name) or None,
        None,
        limit,
        filter_string=filter_string,
        order_by=order_by,
    )
    export_runs(found, fmt, output)
    if output is not None:
        console.info(f"{len(found)} run{'s' if len(found) != 1 else ''} written to {output}")


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all-rows", is_flag=True, help="Also show rows that are the same for every run.")
@read_tracking_option
@json_option
def runs_compare(
    run_ids: Sequence[str], all_rows: bool, tracking_uri: str | None, as_json: bool
) -> None:
    """Params, metrics and environment of runs side by side; differences marked.

    Examples:

    \b
      mlrun runs compare 3f2a9c1b 77d0e412
      mlrun runs compare 3f2a9c1b 77d0e412 --all-rows --json
    """
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids to compare")
    store = open_runs_store(tracking_uri)
    found = [store.get_run(r) for r in run_ids]
    rows: list[tuple[str, list[str]]] = []
    for key in sorted({k for r in found for k in r.params}):
        rows.append((f"params.{key}", [r.params.get(key, "") for r in found]))
    for key in sorted({k for r in found for k in r.metrics}):
        rows.append(
            (
                f"metrics.{key}",
                [fmt_value(r.metrics[key].value) if key in r.metrics else "" for r in found],
            )
        )
    for label, tag in (
        *ENVIRONMENT,
        ("commit", "mlflow.source.git.commit"),
        ("dirty", "mlrun.git.dirty"),
    ):
        rows.append((label, [r.tags.get(tag, "") for r in found]))
    rows.append(("status", [r.status for r in found]))
    differing = [(k, v) for k, v in rows if len(set(v)) > 1]
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.compare/1",
                "runs": [r.run_id for r in found],
                "rows": [{"key": k, "values": v, "differs": len(set(v)) > 1} for k, v in rows],
            }
        )
        return
    shown = rows if all_rows else differing
    table_rows = [("*" if len(set(v)) > 1 else "", k, *v) for k, v in shown]
    console.table(None, ["", "", *(r.run_id[:8] for r in found)], table_rows)
    same = len(rows) - len(differing)
    if same and not all_rows:
        console.out(
            f"({same} identical row{'s' if same != 1 else ''} folded; --all-rows shows them)"
        )


def _set_stage(run_ids: Sequence[str], stage: str, tracking_uri: str | None, as_json: bool) -> None:
    store = open_runs_store(tracking_uri)
    ids = [store.get_run(r).run_id for r in run_ids]  # all resolved before any change
    for rid in ids:
        store.set_lifecycle(rid, stage)
    if as_json:
        console.json_out({"schema": "mlrun.lifecycle/1", "lifecycle_stage": stage, "runs": ids})
    else:
        verb = "deleted" if stage == "deleted" else "restored"
        console.info(
            f"{verb} {len(ids)} run{'s' if len(ids) != 1 else ''}: {', '.join(i[:8] for i in ids)}"
        )


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@tracking_option
@json_option
def runs_delete(run_ids: Sequence[str], tracking_uri: str | None, as_json: bool) -> None:
    """Hide runs from lists (their records and artifacts are kept; see restore).

    Examples:

    \b
      mlrun runs delete 3f2a9c1b
      mlrun runs list --all
    """
    _set_stage(run_ids, "deleted", tracking_uri, as_json)


@runs.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@tracking_option
@json_option
def runs_restore(run_ids: Sequence[str], tracking_uri: str | None, as_json: bool) -> None:
    """Bring deleted runs back.

    Examples:

    \b
      mlrun runs restore 3f2a9c1b
      mlrun runs list --all
    """
    _set_stage(run_ids, "active", tracking_uri, as_json)


@runs.command("sync")
@tracking_option
@json_option
def runs_sync(tracking_uri: str | None, as_json: bool) -> None:
    """Send what could not reach the MLflow server during runs (kept on disk meanwhile).

    Examples:

    \b
      mlrun runs sync --tracking-uri http://mlflow.example:5000
      MLRUN_TRACKING_URI=http://mlflow.example:5000 mlrun runs sync
    """
    store = open_runs_store(tracking_uri)
    server = store.server()
    if server is None:
        console.info(f"{store.uri} is a local store; nothing to sync")
        if as_json:
            console.json_out({"schema": "mlrun.sync/1", "store": store.shown, "synced": []})
        return
    done = server.sync()
    if as_json:
        console.json_out({"schema": "mlrun.sync/1", "store": store.shown, "synced": done})
        return
    console.info(
        f"synced {len(done)} run{'s' if len(done) != 1 else ''}"
        + (f": {', '.join(d[:8] for d in done)}" if done else "")
    )


def _attach() -> None:
    from mlrun_cli.cli.jobs import runs_status
    from mlrun_cli.cli.runs_show import runs_show

    runs.add_command(runs_show)
    runs.add_command(runs_status)


_attach()
