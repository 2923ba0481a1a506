"""`mlrun artifacts list|download`: a run's files, on the embedded store or an MLflow server."""

from __future__ import annotations

from pathlib import Path

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Group, json_option, read_tracking_option
from mlrun_cli.cli.stores import open_cli_store


@click.group("artifacts", cls=Group)
def artifacts() -> None:
    """List and download the files a run recorded.

    Examples:

    \b
      mlrun artifacts list 3f2a9c1b
      mlrun artifacts download 3f2a9c1b model -o ./model
    """


@artifacts.command("list")
@click.argument("run_ref", metavar="RUN")
@read_tracking_option
@json_option
def artifacts_list(run_ref: str, tracking_uri: str | None, as_json: bool) -> None:
    """The run's files and their sizes.

    Examples:

    \b
      mlrun artifacts list 3f2a9c1b
      mlrun artifacts list 3f2a9c1b --json | jq '.artifacts[].path'
    """
    from mlrun_cli.store.artifacts import list_artifacts

    store = open_cli_store(tracking_uri)
    run_id = store.resolve_run_id(run_ref)
    found = list_artifacts(store, run_id)
    if as_json:
        console.json_out({"schema": "mlrun.artifacts/1", "run_id": run_id, "artifacts": found})
        return
    if not found:
        console.info(f"run {run_id[:8]} has no artifacts")
        return
    console.table(None, ["path", "size"], [(a["path"], a["size"]) for a in found])


@artifacts.command("download")
@click.argument("run_ref", metavar="RUN")
@click.argument("path", required=False)
@click.option(
    "-o",
    "--output",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Folder to copy the files into (their layout is kept).",
)
@read_tracking_option
@json_option
def artifacts_download(
    run_ref: str, path: str | None, dest: Path, tracking_uri: str | None, as_json: bool
) -> None:
    """Copy the run's artifacts (or those under PATH) into a folder.

    Examples:

    \b
      mlrun artifacts download 3f2a9c1b -o ./out
      mlrun artifacts download 3f2a9c1b model/model.pkl -o .
    """
    from mlrun_cli.store.artifacts import download

    store = open_cli_store(tracking_uri)
    run_id = store.resolve_run_id(run_ref)
    written = download(store, run_id, path, dest)
    if as_json:
        console.json_out(
            {"schema": "mlrun.download/1", "run_id": run_id, "files": [str(p) for p in written]}
        )
        return
    console.info(f"{len(written)} file{'s' if len(written) != 1 else ''} written to {dest}")
