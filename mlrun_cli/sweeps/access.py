"""The store a sweep lives in: the embedded one, brought up to date with cluster trials."""

from __future__ import annotations

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import RunIndex


def open_sweep_store(tracking_uri: str | None) -> RunIndex:
    """The embedded store's run index for `tracking_uri`; sweeps need it (claims, tags).

    Trials submitted to a cluster are synced first, so what is read is what the nodes wrote.
    """
    from mlrun_cli.store import open_store, resolve_tracking_uri

    index = open_store(resolve_tracking_uri(tracking_uri)).index()
    if index is None:
        raise TrackingError(
            "sweeps need the embedded store (a directory); MLflow servers are not supported for them yet"
        )
    from mlrun_cli.cluster.reconcile import refresh

    refresh(index)  # trials on a cluster: what their nodes wrote since the last look
    return index
