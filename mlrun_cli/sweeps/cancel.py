"""Cancel a sweep that runs on this machine: its runner and running trials are signalled."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

from mlrun_cli import tags
from mlrun_cli.store.base import KILLED, RUNNING, SCHEDULED
from mlrun_cli.sweeps.access import open_sweep_store
from mlrun_cli.sweeps.summary import find_sweep


def cancel(tracking_uri: str | None, ref: str) -> dict[str, Any]:
    """Stop a sweep: unstarted trials KILLED, running ones signalled (they record KILLED).

    Only processes of this host are signalled (a pid means nothing elsewhere), and never
    this process itself.
    """
    store = open_sweep_store(tracking_uri)
    sweep = find_sweep(store, ref)
    host = os.uname().nodename
    signalled = 0
    owners = [store.run_owner(sweep.run_id)] + [
        store.run_owner(r)
        for r in store.tagged(tags.SWEEP_ID, sweep.run_id)
        if store.get_run(r).status == RUNNING
    ]
    for pid, h in owners:
        if pid and h == host and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
                signalled += 1
    now = int(time.time() * 1000)
    for rid in store.tagged(tags.SWEEP_ID, sweep.run_id):
        if store.get_run(rid).status == SCHEDULED:
            store.set_terminated(rid, KILLED, now, None)
    if store.get_run(sweep.run_id).status == RUNNING:
        store.set_terminated(sweep.run_id, KILLED, now, None)
    return {"schema": "mlrun.sweep-cancel/1", "sweep": sweep.run_id, "signalled": signalled}
