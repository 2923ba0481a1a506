"""How commands open the store: one place, so every command finds and refreshes it alike."""

from __future__ import annotations

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.store import open_store, resolve_tracking_uri
from mlrun_cli.store.base import Store


def open_cli_store(tracking_uri: str | None) -> Store:
    """The store named by --tracking-uri (or the environment, or ./.mlrun)."""
    return open_store(resolve_tracking_uri(tracking_uri))


def open_runs_store(tracking_uri: str | None) -> Store:
    """The store, brought up to date for reading runs: this host's lost runs are recorded
    (and said), and what cluster nodes wrote for submitted runs is read in."""
    from mlrun_cli.run.lost import record_lost_runs

    store = open_cli_store(tracking_uri)
    for run_id in record_lost_runs(store):
        console.warn(f"run {run_id[:8]} was RUNNING but its runner is gone; recorded KILLED")
    index = store.index()
    # Cheap: the cluster code is imported only when a submitted run is still active.
    if index is not None and (
        index.any_active_with_tag(T.JOB_ID) or index.any_active_with_tag(T.LEGACY_OF[T.JOB_ID])
    ):
        from mlrun_cli.cluster.reconcile import refresh

        refresh(store)
    return store
