"""Backend selection, Slurm config checks, job scripts and the status rules (no cluster)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.backends import JobSpec, JobStatus
from mlrun_cli.backends.slurm.backend import SlurmBackend, array_spec
from mlrun_cli.backends.slurm.states import normalize
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
    proc = mlrun("run", str(project), "--backend", "kubernetes")
    _fails_cleanly(proc, "no backend 'kubernetes'", "local, slurm, ray")
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
    assert states["7"].status == JobStatus.ENDED  # the scheduler ended it: a time limit
    sacct.write_text("#!/bin/sh\necho 'accounting storage is disabled' >&2\nexit 1\n")
    assert SlurmBackend({}).final(["7"]) == {}  # no accounting: the run folder decides


def test_array_spec_collapses_runs() -> None:
    assert array_spec([0, 1, 2, 3], 2) == "0-3%2"
    assert array_spec([3, 1, 7, 8, 9], None) == "1,3,7-9"
    assert array_spec([4], 1) == "4%1"


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("PENDING", JobStatus.PENDING),
        ("REQUEUED", JobStatus.PENDING),
        ("PREEMPTED", JobStatus.PENDING),
        ("RUNNING", JobStatus.RUNNING),
        ("COMPLETING", JobStatus.RUNNING),
        ("COMPLETED", JobStatus.COMPLETED),
        ("FAILED", JobStatus.FAILED),
        ("TIMEOUT", JobStatus.ENDED),
        ("OUT_OF_MEMORY", JobStatus.ENDED),
        ("NODE_FAIL", JobStatus.ENDED),
        ("CANCELLED", JobStatus.CANCELLED),
        ("SOMETHING_NEW", JobStatus.UNKNOWN),
    ],
)
def test_slurm_states_in_the_common_words(word: str, status: JobStatus) -> None:
    assert normalize(word) == status
