"""`mlrun report`: a run, a sweep or the runs a filter matches, as one HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Command, read_tracking_option
from mlrun_cli.errors import MlrunError


class ReportUsage(MlrunError):
    """The command line names no report, or two."""


@click.command(cls=Command)
@click.argument("ref", required=False, metavar="[RUN|SWEEP]")
@click.option(
    "--filter", "filter_string", metavar="EXPR",
    help="Compare the runs matching this filter (the grammar of 'runs list', plus OR).",
)  # fmt: skip
@click.option("--experiment-name", help="With --filter: only runs of this experiment.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
    show_default=True, help="The HTML file to write.",
)  # fmt: skip
@read_tracking_option
def report(
    ref: str | None,
    filter_string: str | None,
    experiment_name: str | None,
    output: Path,
    tracking_uri: str | None,
) -> None:
    """Write one self-contained HTML file (data inlined, no network) with the view's charts.

    A run gives its page; a sweep its sweep page (trials, parallel coordinates, best so
    far, grouped curves); --filter a comparison of the matching runs (at most 100). Open it
    in any browser, attach it to a CI job, send it.

    Examples:

    \b
      mlrun report 3f2a9c1b -o run.html
      mlrun report 77d0e412 -o sweep.html
      mlrun report --filter "metrics.loss < 0.1 or params.lr = '0.01'" -o best.html
    """
    from mlrun_cli.cli.stores import open_runs_store
    from mlrun_cli.ui.report import collect_filter, collect_run, write_report

    if (ref is None) == (filter_string is None):
        raise ReportUsage(
            "give a run or sweep id, or --filter EXPR (one of the two); see 'mlrun report --help'"
        )
    store = open_runs_store(tracking_uri)
    index = store.index()
    if index is None:
        raise ReportUsage(f"the store {store.shown} is an MLflow server; use the server's own UI")
    if ref is not None:
        found = collect_run(index, ref)
    else:
        assert filter_string is not None
        experiments: list[str] = []
        if experiment_name:
            exp = index.get_experiment_by_name(experiment_name)
            if exp is None:
                raise ReportUsage(
                    f"no experiment named {experiment_name!r}; see 'mlrun experiments list'"
                )
            experiments.append(exp.experiment_id)
        found = collect_filter(index, filter_string, experiments)
    size = write_report(found, output)
    console.out(f"wrote {output} ({size / 1024:.0f} KiB): {found['title']}")
