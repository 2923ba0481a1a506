from __future__ import annotations

from pathlib import Path

from mlrun_cli.store.base import RunIndex
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep
from mlrun_cli.sweeps.submit import sweep_target


def test_a_local_sweep_has_no_target(store: RunIndex, project: Path) -> None:
    req = SweepRequest(uri=str(project), params={"x": "[1]"})
    sweep_id = record_sweep(store, req, prepare(req))
    assert sweep_target(store, sweep_id, None) is None
