from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FAILED, FINISHED, RunIndex
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.resume import resume
from mlrun_cli.sweeps.start import record_sweep


def test_a_finished_sweep_has_nothing_to_resume(
    store: RunIndex, project: Path, isolated: Path
) -> None:
    req = SweepRequest(uri=str(project), params={"x": "[1,2]"})
    sweep_id = record_sweep(store, req, prepare(req))
    a, b = store.tagged(tags.SWEEP_ID, sweep_id)
    now = int(time.time() * 1000)
    store.set_terminated(a, FINISHED, now, 0)
    store.set_terminated(b, FAILED, now, 1)
    with pytest.raises(ParameterError) as err:
        resume(
            str(isolated / ".mlrun"),
            sweep_id,
            retry_failed=False,
            jobs=1,
            force=False,
            as_json=False,
        )
    assert str(err.value) == (
        f"sweep {sweep_id[:8]} is finished: nothing to resume (--retry-failed reruns FAILED trials)"
    )


def test_detach_needs_a_cluster_sweep(store: RunIndex, project: Path, isolated: Path) -> None:
    req = SweepRequest(uri=str(project), params={"x": "[1]"})
    sweep_id = record_sweep(store, req, prepare(req))
    with pytest.raises(
        ParameterError,
        match=r"--detach needs a sweep submitted to a cluster backend \(--backend slurm or ray\)",
    ):
        resume(
            str(isolated / ".mlrun"),
            sweep_id,
            retry_failed=False,
            jobs=1,
            force=False,
            as_json=False,
            detach=True,
        )
