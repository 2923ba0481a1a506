"""`mlrun run` end to end: a real mlrun subprocess, a real child, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import REPO, write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = """
name: t
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      data: {type: path, default: data.txt}
    command: "python train.py --alpha {alpha} --data {data}"
  fail:
    parameters:
      code: {type: int, default: 3}
    command: "python -c 'import sys; print(\\"bye\\"); sys.exit({code})'"
  progress:
    command: "printf 'a\\rb\\rc\\n'; printf 'err\\n' >&2"
"""

TRAIN = """
import argparse, os
from mlrun_cli import tracking
p = argparse.ArgumentParser()
p.add_argument("--alpha", type=float)
p.add_argument("--data")
a, _ = p.parse_known_args()
tracking.log_param("seen_alpha", a.alpha)
for step in range(3):
    tracking.log_metric("loss", 1.0 / (step + 1), step=step)
tracking.set_tag("stage", "test")
open("out.txt", "w").write("hello")
tracking.log_artifact("out.txt", artifact_path="files")
print("ENV", os.environ["MLRUN_RUN_ID"], os.environ["MLRUN_EXPERIMENT_ID"])
print("DATA", open(a.data).read())
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", PROJECT, {"train.py": TRAIN, "data.txt": "rows"})


def store(cwd: Path) -> SqliteStore:
    return SqliteStore(cwd / ".mlrun")


def only_run(cwd: Path):  # type: ignore[no-untyped-def]
    runs = store(cwd).search_runs()
    assert len(runs) == 1
    return runs[0]


def test_run_records_params_metrics_tags_artifacts(
    mlrun: Mlrun, project: Path, isolated: Path
) -> None:
    proc = mlrun("run", str(project), "-P", "alpha=0.25", "-P", "note=hi there")
    assert proc.returncode == 0, proc.stderr
    run = only_run(isolated)
    assert run.status == "FINISHED"
    assert run.exit_code == 0
    assert run.params == {
        "alpha": "0.25",
        "data": "data.txt",  # a default path is recorded as declared (the command gets it whole)
        "note": "hi there",
        "seen_alpha": "0.25",
    }
    assert (
        run.command
        == f"python train.py --alpha 0.25 --data {project / 'data.txt'} --note 'hi there'"
    )
    assert run.metrics["loss"].value == pytest.approx(1 / 3)
    assert run.metrics["loss"].step == 2
    assert [m.value for m in store(isolated).metric_history(run.run_id, "loss")] == pytest.approx(
        [1.0, 0.5, 1 / 3]
    )
    assert run.tags["stage"] == "test"
    assert run.tags["mlflow.source.type"] == "PROJECT"
    assert run.tags["mlflow.project.entryPoint"] == "main"
    assert run.tags["mlflow.project.env"] == "local"
    assert run.tags["mlflow.source.name"] == str(project)
    assert run.tags["mlflow.runName"] == run.name
    assert "mlflow.user" in run.tags
    assert "mlflow.source.git.commit" not in run.tags
    artifacts = Path(run.artifact_uri or "")
    assert (artifacts / "files" / "out.txt").read_text() == "hello"
    log = (artifacts / "mlrun-output.log").read_text()
    assert f"ENV {run.run_id} 0" in log
    assert "DATA rows" in log
    assert f"ENV {run.run_id} 0" in proc.stdout
    assert (isolated / ".mlrun" / ".gitignore").read_text().strip().endswith("*")


def test_exit_code_passes_through(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    proc = mlrun("run", str(project), "-e", "fail", "-P", "code=7")
    assert proc.returncode == 7
    assert proc.stdout == "bye\n"
    run = only_run(isolated)
    assert (run.status, run.exit_code) == ("FAILED", 7)


def test_output_is_byte_for_byte_and_kept(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", "progress"],
        capture_output=True,
    )
    assert proc.returncode == 0
    assert proc.stdout == b"a\rb\rc\n"
    assert b"\nerr\n" in proc.stderr
    log = Path(only_run(isolated).artifact_uri or "") / "mlrun-output.log"
    assert b"a\rb\rc\n" in log.read_bytes()


def test_json_sends_child_output_to_stderr(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    proc = mlrun("run", str(project), "--json", "-e", "fail", "-P", "code=0")
    summary = json.loads(proc.stdout)
    assert summary["status"] == "FINISHED"
    assert summary["exit_code"] == 0
    assert summary["params"] == {"code": "0"}
    assert "bye" in proc.stderr


def test_git_commit_recorded(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=project, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True)
    assert mlrun("run", str(project)).returncode == 0
    assert only_run(isolated).tags["mlflow.source.git.commit"] == head.stdout.strip()


def test_experiment_by_name_and_run_name(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    proc = mlrun("run", str(project), "--experiment-name", "exp A", "--run-name", "first")
    assert proc.returncode == 0, proc.stderr
    run = only_run(isolated)
    exp = store(isolated).get_experiment_by_name("exp A")
    assert exp is not None and run.experiment_id == exp.experiment_id
    assert run.name == "first"


def test_tracking_uri_option_and_env(
    mlrun: Mlrun, project: Path, isolated: Path, tmp_path: Path
) -> None:
    assert mlrun("run", str(project), "--tracking-uri", str(tmp_path / "s1")).returncode == 0
    env = {"MLRUN_TRACKING_URI": f"mlrun://{tmp_path / 's2'}"}
    assert mlrun("run", str(project), env=env).returncode == 0
    assert len(SqliteStore(tmp_path / "s1").search_runs()) == 1
    assert len(SqliteStore(tmp_path / "s2").search_runs()) == 1
    assert not (isolated / ".mlrun").exists()


def test_nothing_left_in_temp_dirs(mlrun: Mlrun, project: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    assert mlrun("run", str(project), env=env).returncode == 0
    assert mlrun("run", str(project), "-e", "fail", env=env).returncode == 3
    assert list(tmpdir.iterdir()) == []
    assert tempfile.gettempdir()  # the system temp dir is not ours to inspect: TMPDIR is


def test_script_entry_point_and_no_mlproject(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    proj = tmp_path / "plain"
    proj.mkdir()
    (proj / "go.py").write_text("import sys; print('args', sys.argv[1:])")
    (proj / "go.sh").write_text('echo shell "$@"')
    proc = mlrun("run", str(proj), "-e", "go.py", "-P", "k=v")
    assert (proc.returncode, proc.stdout) == (0, "args ['--k', 'v']\n")
    proc = mlrun("run", str(proj), "-e", "go.sh", env={"SHELL": "bash"})
    assert (proc.returncode, proc.stdout) == (0, "shell\n")


def test_dry_run_records_nothing(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    proc = mlrun("run", str(project), "--dry-run", "-P", "alpha=2")
    assert proc.returncode == 0
    assert proc.stdout == f"python train.py --alpha 2 --data {project / 'data.txt'}\n"
    proc = mlrun("run", str(project), "--dry-run", "--json")
    assert json.loads(proc.stdout) == {
        "schema": "mlrun.plan/1",
        "project_dir": str(project),
        "entry_point": "main",
        "params": {"alpha": "0.5", "data": str(project / "data.txt")},
        "command": f"python train.py --alpha 0.5 --data {project / 'data.txt'}",
        "env_manager": "local",
    }
    assert not (isolated / ".mlrun").exists()


def test_python_m_and_console_script_agree(project: Path) -> None:
    exe = Path(sys.executable).parent / "mlrun"
    if not exe.exists():
        pytest.skip(f"no console script beside {sys.executable} (package not installed)")
    a = subprocess.run([str(exe), "run", str(project), "--dry-run"], capture_output=True, text=True)
    b = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_iris_example_runs(mlrun: Mlrun, isolated: Path) -> None:
    pytest.importorskip("sklearn", reason="the iris example needs scikit-learn in this interpreter")
    pytest.importorskip("pandas", reason="the iris example needs pandas in this interpreter")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = mlrun(
        "run",
        str(REPO / "examples" / "iris-classification"),
        "--env-manager",
        "local",
        "-P",
        "C=0.5",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run(isolated)
    assert run.status == "FINISHED"
    assert run.params["kernel"] == "rbf"
    assert run.params["dataset"] == str(REPO / "examples" / "iris-classification" / "iris.csv")
    assert 0.8 < run.metrics["accuracy"].value <= 1.0
