"""Backend selection, Slurm config checks, job scripts and the status rules (no cluster)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.backends import JobSpec, JobState
from mlrun_cli.backends.slurm.backend import SlurmBackend, array_spec
from mlrun_cli.cluster.contract import _final, _ours
from mlrun_cli.store.base import Run
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

NOOP = "name: p\nentry_points:\n  main:\n    command: 'true'\n"


@pytest.fixture
def fake_slurm(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sbatch/squeue/scancel that record their call and fail: nothing may reach them."""
    bin_dir = isolated / "fake-bin"
    bin_dir.mkdir()
    for tool in ("sbatch", "squeue", "scancel"):
        script = bin_dir / tool
        script.write_text(f"#!/bin/sh\necho {tool} >> {isolated}/called\nexit 1\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return isolated / "called"


def _fails_cleanly(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _nothing_recorded(mlrun: Mlrun) -> None:
    listed = mlrun("runs", "list", "--json")
    assert json.loads(listed.stdout)["runs"] == []


def test_no_sbatch_on_path_says_how_to_get_slurm(mlrun: Mlrun, isolated: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    proc = mlrun("run", str(project), "--backend", "slurm", env={"PATH": str(isolated)})
    _fails_cleanly(proc, "sbatch not found", "apt-get install slurm-client")
    _nothing_recorded(mlrun)


def test_unknown_backend_lists_the_available_ones(mlrun: Mlrun, isolated: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    proc = mlrun("run", str(project), "--backend", "ray")
    _fails_cleanly(proc, "no backend 'ray'", "local, slurm")
    _nothing_recorded(mlrun)


def test_unknown_config_key(mlrun: Mlrun, isolated: Path, fake_slurm: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    config = isolated / "slurm.yaml"
    config.write_text("partition: gpu\npartitoin: cpu\n")
    proc = mlrun("run", str(project), "--backend", "slurm", "--backend-config", str(config))
    _fails_cleanly(proc, "slurm.yaml", "partitoin")
    assert not fake_slurm.exists()
    _nothing_recorded(mlrun)


def test_inline_json_config_is_validated(mlrun: Mlrun, isolated: Path, fake_slurm: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    proc = mlrun(
        "run", str(project), "--backend", "slurm", "--backend-config", '{"cpus_per_task": "x"}'
    )
    _fails_cleanly(proc, "--backend-config", "cpus_per_task")
    bad = mlrun("run", str(project), "--backend", "slurm", "--backend-config", "{nope")
    _fails_cleanly(bad, "not valid JSON")
    assert not fake_slurm.exists()


def test_stage_dir_not_writable(mlrun: Mlrun, isolated: Path, fake_slurm: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    blocker = isolated / "a-file"
    blocker.write_text("")
    config = json.dumps({"stage_dir": str(blocker / "stage")})
    proc = mlrun("run", str(project), "--backend", "slurm", "--backend-config", config)
    _fails_cleanly(proc, "stage_dir", "not writable")
    assert not fake_slurm.exists()
    _nothing_recorded(mlrun)


def test_export_variable_not_set(mlrun: Mlrun, isolated: Path, fake_slurm: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    config = json.dumps({"export": ["MLRUN_TEST_NOT_SET_ANYWHERE"]})
    proc = mlrun("sweep", str(project), "--backend", "slurm", "--backend-config", config)
    _fails_cleanly(proc, "MLRUN_TEST_NOT_SET_ANYWHERE", "not set")
    assert not fake_slurm.exists()
    _nothing_recorded(mlrun)


def test_sbatch_refusal_is_recorded_failed_with_its_reason(
    mlrun: Mlrun, isolated: Path, fake_slurm: Path
) -> None:
    project = write_project(isolated / "p", NOOP)
    proc = mlrun("run", str(project), "--backend", "slurm", "--env-manager", "local")
    _fails_cleanly(proc, "sbatch refused the job")
    runs = json.loads(mlrun("runs", "list", "--json").stdout)["runs"]
    assert [r["status"] for r in runs] == ["FAILED"]


def test_detach_needs_a_cluster_backend(mlrun: Mlrun, isolated: Path) -> None:
    project = write_project(isolated / "p", NOOP)
    _fails_cleanly(mlrun("run", str(project), "--detach"), "--backend local")


# -- the job script --------------------------------------------------------------------------


def test_script_passes_exports_by_name_only(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret-value")
    backend = SlurmBackend(
        {
            "partition": "gpu",
            "cpus_per_task": 4,
            "signal": "USR1@90",
            "requeue": True,
            "setup": ["module load cuda"],
            "extra": ["--mail-type=END"],
        }
    )
    text = backend.script(
        JobSpec(
            name="mlrun-abc",
            argv=["python", "-m", "mlrun_cli", "_exec", "--index", "{index}"],
            workdir=isolated,
            log=isolated / "logs",
            script=isolated / "job.sh",
            indices=[0, 1, 2, 5],
            concurrency=2,
            export=["MY_TOKEN"],
        )
    )
    assert "s3cret-value" not in text
    export = next(line for line in text.splitlines() if line.startswith("#SBATCH --export="))
    assert "MY_TOKEN" in export.split("=", 1)[1].split(",")
    assert "#SBATCH --array=0-2,5%2" in text
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --cpus-per-task=4" in text
    assert "#SBATCH --signal=B:USR1@90" in text and "#SBATCH --requeue" in text
    assert "#SBATCH --mail-type=END" in text
    assert '"${SLURM_ARRAY_TASK_ID}"' in text
    assert "module load cuda ||" in text
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # valid shell


def test_sacct_gives_the_final_state_where_accounting_works(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = isolated / "bin"
    bin_dir.mkdir()
    sacct = bin_dir / "sacct"
    sacct.write_text("#!/bin/sh\necho '7|TIMEOUT|0:15|mlrun-x'\necho '8|COMPLETED|0:0|other'\n")
    sacct.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    states = SlurmBackend({}).final(["7"])
    assert list(states) == ["7"] and states["7"].state == "TIMEOUT"
    got = _final(_run(), states["7"], None, None, 0, isolated)
    assert got is not None and got[0] == "FAILED" and got[3]["mlrun.slurm.reason"] == "TIMEOUT"
    sacct.write_text("#!/bin/sh\necho 'accounting storage is disabled' >&2\nexit 1\n")
    assert SlurmBackend({}).final(["7"]) == {}  # no accounting: the run folder decides


def test_array_spec_collapses_runs() -> None:
    assert array_spec([0, 1, 2, 3], 2) == "0-3%2"
    assert array_spec([3, 1, 7, 8, 9], None) == "1,3,7-9"
    assert array_spec([4], 1) == "4%1"


# -- the status rules ----------------------------------------------------------------------


def _run(**tags: str) -> Run:
    base = {"mlrun.slurm.job_id": "7", "mlrun.slurm.job_name": "mlrun-x", **tags}
    return Run("r", "0", "x", "RUNNING", 0, tags=base)


def _state(state: str, **kw: object) -> JobState:
    return JobState("7", state, name="mlrun-x", **kw)  # type: ignore[arg-type]


def _exit(status: str, code: int, sig: int | None = None, restart: int = 0) -> dict[str, object]:
    return {"status": status, "exit_code": code, "signal": sig, "restart": restart, "end_ms": 5}


@pytest.mark.parametrize(
    ("state", "ended", "want", "reason"),
    [
        ("COMPLETED", None, "FINISHED", None),
        ("COMPLETED", _exit("FINISHED", 0), "FINISHED", None),
        ("FAILED", _exit("FAILED", 3), "FAILED", None),
        ("TIMEOUT", _exit("KILLED", 143, 15), "FAILED", "TIMEOUT"),
        ("TIMEOUT", None, "FAILED", "TIMEOUT"),
        ("OUT_OF_MEMORY", None, "FAILED", "OUT_OF_MEMORY"),
        ("NODE_FAIL", None, "FAILED", "NODE_FAIL"),
        ("CANCELLED", None, "KILLED", "CANCELLED"),
        ("CANCELLED", _exit("KILLED", 143, 15), "KILLED", "CANCELLED"),
        ("RUNNING", _exit("FINISHED", 0), "FINISHED", None),  # the file is ahead of squeue
        ("RUNNING", _exit("KILLED", 143, 15), None, None),  # maybe a requeue: wait
        ("PENDING", _exit("KILLED", 143, 15), None, None),  # requeued: not the end
        ("RUNNING", None, None, None),
        (None, _exit("FAILED", 2), "FAILED", None),
    ],
)
def test_status_rules(
    tmp_path: Path, state: str | None, ended: dict[str, object] | None, want: str | None,
    reason: str | None,
) -> None:  # fmt: skip
    js = _state(state) if state else None
    got = _final(_run(), js, None, ended, 0, tmp_path)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == want
    assert got[3].get("mlrun.slurm.reason") == reason


def test_gone_without_exit_code_is_lost_not_finished(tmp_path: Path) -> None:
    got = _final(_run(), None, None, None, 0, tmp_path)
    assert got is not None and got[0] == "KILLED" and got[3]["mlrun.lost"] == "true"
    (tmp_path / "cancelled.json").write_text("{}")
    got = _final(_run(), None, None, None, 0, tmp_path)
    assert got is not None and got[0] == "KILLED" and "mlrun.lost" not in got[3]


def test_exit_code_of_an_earlier_attempt_does_not_count(tmp_path: Path) -> None:
    # Attempt 0 was signalled by a requeue; the job now runs again (restart 1).
    got = _final(_run(), _state("RUNNING", restarts=1), None, _exit("KILLED", 143, 15), 1, tmp_path)
    assert got is None


def test_reused_job_id_is_not_ours() -> None:
    run = _run(**{"mlrun.slurm.submit_time": str(10_000)})
    assert _ours(run, _state("RUNNING", submit_time=10_000.0)) is not None
    assert _ours(run, _state("RUNNING", submit_time=10_500.0)) is not None  # requeued later
    assert _ours(run, _state("RUNNING", submit_time=1_000.0)) is None  # an older job
    other = JobState("7", "RUNNING", name="someone-else", submit_time=10_000.0)
    assert _ours(run, other) is None
