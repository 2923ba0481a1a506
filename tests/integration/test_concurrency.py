"""Many `mlrun run` at once on a store that does not exist yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

PROJECT = """
entry_points:
  main:
    parameters:
      i: int
    command: "python log.py {i}"
"""

LOG = """
import sys
from mlrun_cli import tracking
i = int(sys.argv[1])
tracking.log_param("me", i)
for step in range(20):
    tracking.log_metric("m", i * 100 + step, step=step)
"""


def test_eight_concurrent_runs_on_a_new_store(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT, {"log.py": LOG})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlrun_cli", "run", str(project), "-P", f"i={i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, results
    store = SqliteStore(isolated / ".mlrun")
    runs = store.search_runs()
    assert len(runs) == 8
    assert sorted(int(r.params["i"]) for r in runs) == list(range(8))
    for run in runs:
        i = int(run.params["i"])
        assert run.status == "FINISHED"
        assert run.params["me"] == str(i)
        history = store.metric_history(run.run_id, "m")
        assert [m.value for m in history] == [i * 100 + s for s in range(20)]
