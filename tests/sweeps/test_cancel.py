from __future__ import annotations

from pathlib import Path

from mlrun_cli import tags
from mlrun_cli.store.base import KILLED, RunIndex
from mlrun_cli.sweeps.cancel import cancel
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep


def test_cancel_kills_the_unstarted_trials_and_never_this_process(
    store: RunIndex, project: Path, isolated: Path
) -> None:
    req = SweepRequest(uri=str(project), params={"x": "[1,2]"})
    sweep_id = record_sweep(store, req, prepare(req))  # owned by this process
    result = cancel(str(isolated / ".mlrun"), sweep_id[:8])
    assert result == {"schema": "mlrun.sweep-cancel/1", "sweep": sweep_id, "signalled": 0}
    trials = store.load_runs(store.tagged(tags.SWEEP_ID, sweep_id))
    assert {t.status for t in trials} == {KILLED}
    assert store.get_run(sweep_id).status == KILLED
