"""Unchanged MLflow scripts, run by mlrun on the embedded store, log into our run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_project
from tests.integration.mlflow_venvs import mlflow_venv

pytestmark = pytest.mark.slow

SCRIPTS = {
    "basic": """
        import mlflow
        mlflow.log_param("alpha", "0.5")
        mlflow.log_params({"beta": 2, "gamma": "x"})
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "a"})
    """,
    "nested": """
        import mlflow
        with mlflow.start_run() as run:
            mlflow.log_metric("outer", 1)
            with mlflow.start_run(nested=True, run_name="child-a") as child:
                mlflow.log_param("k", "v")
                mlflow.log_metric("inner", 2)
        print("OUTER", run.info.run_id)
    """,
    "artifacts": """
        import mlflow, os, pathlib
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import pandas as pd
        pathlib.Path("out").mkdir(exist_ok=True)
        pathlib.Path("out/a.txt").write_text("a")
        pathlib.Path("out/sub").mkdir(exist_ok=True)
        pathlib.Path("out/sub/b.bin").write_bytes(bytes(range(10)))
        with mlflow.start_run():
            mlflow.log_artifact("out/a.txt")
            mlflow.log_artifacts("out", artifact_path="folder")
            mlflow.log_text("hello", "notes/hello.txt")
            mlflow.log_dict({"a": 1}, "config.json")
            fig, ax = plt.subplots()
            ax.plot([1, 2, 3])
            mlflow.log_figure(fig, "figs/plot.png")
            mlflow.log_table(pd.DataFrame({"x": [1, 2]}), "tables/t.json")
            mlflow.log_table(pd.DataFrame({"x": [3]}), "tables/t.json")
    """,
    "autolog": """
        import mlflow, pandas as pd
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        mlflow.sklearn.autolog()
        X, y = load_iris(return_X_y=True, as_frame=True)
        with mlflow.start_run() as run:
            mlflow.log_input(mlflow.data.from_pandas(X, name="iris"), context="training")
            model = LogisticRegression(max_iter=300).fit(X, y)
            mlflow.sklearn.log_model(model, name="model")
        print("RUN", run.info.run_id)
    """,
    "load": """
        import sys, mlflow
        model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[1]}/model")
        from sklearn.datasets import load_iris
        X, _ = load_iris(return_X_y=True, as_frame=True)
        print("PRED", list(model.predict(X.head(3))))
    """,
    "crash": """
        import mlflow
        mlflow.log_metric("m", 1)
        raise RuntimeError("boom")
    """,
    "exit3": """
        import mlflow, sys
        mlflow.log_metric("m", 1)
        sys.exit(3)
    """,
    "killed": """
        import mlflow
        mlflow.log_metric("m", 1)
        mlflow.end_run(status="KILLED")
    """,
    "sleep": """
        import mlflow, time, pathlib
        mlflow.log_metric("m", 1)
        pathlib.Path("started").write_text("x")
        time.sleep(60)
    """,
    "changeparam": """
        import mlflow
        mlflow.log_param("alpha", "0.9")
    """,
    "intruder": """
        import json, os, urllib.request, urllib.error
        base = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/"
        def call(path, token, body=None):
            req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(req).status
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())["error_code"]
        run = os.environ["MLFLOW_RUN_ID"]
        print("WRONG", call(f"runs/get?run_id={run}", "nope"))
        print("OTHER", call("runs/log-metric", os.environ["MLFLOW_TRACKING_TOKEN"],
                            {"run_id": os.environ["OTHER_RUN"], "key": "x", "value": 1, "timestamp": 1, "step": 0}))
        print("REGISTRY", call("registered-models/create", os.environ["MLFLOW_TRACKING_TOKEN"], {"name": "m"}))
        print("OWN", call("runs/log-metric", os.environ["MLFLOW_TRACKING_TOKEN"],
                          {"run_id": run, "key": "x", "value": 1, "timestamp": 1, "step": 0}))
    """,
    "env": """
        import os
        print("URI", os.environ.get("MLFLOW_TRACKING_URI"))
    """,
}

MLPROJECT = "name: mf\nentry_points:\n" + "".join(
    f"  {name}:\n    parameters:\n      alpha: {{type: string, default: '0.5'}}\n"
    f'    command: "python {name}.py"\n'
    for name in SCRIPTS
)


@pytest.fixture(scope="session")
def full_venv() -> Path:
    return mlflow_venv("full")


@pytest.fixture(scope="session")
def skinny_venv() -> Path:
    return mlflow_venv("skinny")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {f"{name}.py": textwrap.dedent(text) for name, text in SCRIPTS.items()}
    files["load.py"] = textwrap.dedent(SCRIPTS["load"])
    root = write_project(tmp_path / "proj", MLPROJECT, files)
    # load takes the run id as an extra argument
    (root / "MLproject").write_text(
        (root / "MLproject").read_text().replace('"python load.py"', '"python load.py {alpha}"')
    )
    return root


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_with(isolated: Path) -> Callable[[Path, Path, str], subprocess.CompletedProcess[str]]:
    def call(
        venv: Path, project: Path, entry: str, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mlrun_cli",
                "run",
                str(project),
                "-e",
                entry,
                "--env-manager",
                "local",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PATH": path, **(env or {})},
        )

    return call


def show(run_id: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "runs", "show", run_id, "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def listing() -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "runs", "list", "--json"],
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout)["runs"]


def last_id(proc: subprocess.CompletedProcess[str]) -> str:
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("run ")][-1]
    return line.split()[1]


@pytest.mark.parametrize("kind", ["skinny", "full"])
def test_params_metrics_tags(
    request: pytest.FixtureRequest, project: Path, run_with: Any, kind: str
) -> None:
    venv = request.getfixturevalue(f"{kind}_venv")
    proc = run_with(venv, project, "basic")
    assert proc.returncode == 0, proc.stderr
    assert "View run" not in proc.stdout + proc.stderr
    data = show(last_id(proc))
    assert data["status"] == "FINISHED"
    assert data["params"] == {"alpha": "0.5", "beta": "2", "gamma": "x"}
    assert [(p["value"], p["step"]) for p in data["metric_history"]["loss"]] == [(1.0, 0), (0.5, 1)]
    assert data["metrics"]["acc"]["value"] == 0.9
    assert data["tags"]["stage"] == "dev" and data["tags"]["team"] == "a"


@pytest.mark.parametrize("kind", ["skinny", "full"])
def test_start_run_resumes_and_nested_runs(
    request: pytest.FixtureRequest, project: Path, run_with: Any, kind: str
) -> None:
    venv = request.getfixturevalue(f"{kind}_venv")
    proc = run_with(venv, project, "nested")
    assert proc.returncode == 0, proc.stderr
    parent = last_id(proc)
    assert f"OUTER {parent}" in proc.stdout
    runs = {r["name"]: r for r in listing()}
    child = runs["child-a"]
    assert child["tags"]["mlflow.parentRunId"] == parent
    assert child["status"] == "FINISHED"
    assert child["params"] == {"k": "v"}
    assert (
        runs[f"nested-{parent[:8]}"] if False else show(parent)["metrics"]["outer"]["value"] == 1.0
    )


def test_artifacts_land_in_the_run(project: Path, run_with: Any, full_venv: Path) -> None:
    proc = run_with(full_venv, project, "artifacts")
    assert proc.returncode == 0, proc.stderr
    data = show(last_id(proc))
    paths = {a["path"] for a in data["artifacts"]}
    assert {
        "a.txt",
        "folder/a.txt",
        "folder/sub/b.bin",
        "notes/hello.txt",
        "config.json",
        "figs/plot.png",
        "tables/t.json",
    } <= paths
    root = Path(data["artifact_uri"])
    assert (root / "folder" / "sub" / "b.bin").read_bytes() == bytes(range(10))
    table = json.loads((root / "tables" / "t.json").read_text())
    assert table["data"] == [[1], [2], [3]]  # the second log_table appended


def test_autolog_log_model_and_load_it_back(
    project: Path, run_with: Any, full_venv: Path, isolated: Path
) -> None:
    proc = run_with(full_venv, project, "autolog")
    assert proc.returncode == 0, proc.stderr
    run_id = last_id(proc)
    data = show(run_id)
    assert data["status"] == "FINISHED"
    assert "training_accuracy_score" in data["metrics"]
    assert data["params"]["max_iter"] == "300"
    names = {m["name"] for m in data["logged_models"]}
    assert "model" in names
    model = next(m for m in data["logged_models"] if m["name"] == "model")
    assert model["status"] == "LOGGED_MODEL_READY"
    assert (Path(model["artifact_location"]) / "MLmodel").is_file()
    assert "iris" in [d["name"] for d in data["inputs"]]
    loaded = run_with(full_venv, project, "load", "-P", f"alpha={run_id}")
    assert loaded.returncode == 0, loaded.stderr
    assert "PRED [" in loaded.stdout


@pytest.mark.parametrize(
    ("entry", "status", "code"),
    [("crash", "FAILED", 1), ("exit3", "FAILED", 3), ("killed", "KILLED", 0)],
)
def test_final_status_is_ours(
    project: Path, run_with: Any, skinny_venv: Path, entry: str, status: str, code: int
) -> None:
    proc = run_with(skinny_venv, project, entry)
    assert proc.returncode == code
    data = show(last_id(proc))
    assert (data["status"], data["exit_code"]) == (status, code)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_end_killed(
    project: Path, skinny_venv: Path, isolated: Path, sig: int, code: int
) -> None:
    path = f"{skinny_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlrun_cli",
            "run",
            str(project),
            "-e",
            "sleep",
            "--env-manager",
            "local",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": path},
    )
    deadline = time.monotonic() + 120
    while not (project / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    data = show(last_id(subprocess.CompletedProcess([], code, "", err)))
    assert data["status"] == "KILLED"
    assert data["metrics"]["m"]["value"] == 1.0


def test_changed_param_is_refused_like_mlflow(
    project: Path, run_with: Any, skinny_venv: Path
) -> None:
    proc = run_with(skinny_venv, project, "changeparam")
    assert proc.returncode == 1
    assert "INVALID_PARAMETER_VALUE" in proc.stderr
    data = show(last_id(proc))
    assert data["params"]["alpha"] == "0.5"
    assert data["status"] == "FAILED"


def test_token_ownership_and_registry(project: Path, run_with: Any, skinny_venv: Path) -> None:
    first = run_with(skinny_venv, project, "env")
    other = last_id(first)
    proc = run_with(skinny_venv, project, "intruder", env={"OTHER_RUN": other})
    assert proc.returncode == 0, proc.stderr
    assert "WRONG (401, 'UNAUTHENTICATED')" in proc.stdout
    assert "OTHER (403, 'PERMISSION_DENIED')" in proc.stdout
    assert "REGISTRY 200" in proc.stdout
    assert "OWN 200" in proc.stdout
    assert "x" not in show(other)["metrics"]


def test_two_runs_at_once_each_with_its_own_endpoint(
    project: Path, skinny_venv: Path, isolated: Path
) -> None:
    path = f"{skinny_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlrun_cli",
                "run",
                str(project),
                "-e",
                "basic",
                "--env-manager",
                "local",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PATH": path},
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = listing()
    assert len(runs) == 2
    assert all(r["status"] == "FINISHED" and r["metrics"]["loss"]["value"] == 0.5 for r in runs)


def test_no_mlflow_endpoint_leaves_the_environment(
    project: Path, run_with: Any, skinny_venv: Path
) -> None:
    served = run_with(skinny_venv, project, "env")
    assert "URI http://127.0.0.1:" in served.stdout
    plain = run_with(
        skinny_venv, project, "env", "--no-mlflow-endpoint", env={"MLFLOW_TRACKING_URI": "file:/x"}
    )
    assert "URI file:/x" in plain.stdout
    overridden = run_with(
        skinny_venv, project, "env", env={"MLFLOW_TRACKING_URI": "sqlite:///m.db"}
    )
    assert "URI http://127.0.0.1:" in overridden.stdout


def test_mlflow_autolog_example(isolated: Path) -> None:
    from tests.conftest import REPO

    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(REPO / "examples" / "mlflow-autolog")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = show(last_id(proc))
    assert data["status"] == "FINISHED"
    assert data["metrics"]["test_accuracy"]["value"] > 0.8
    assert data["params"]["C"] == "1.0"
    assert any(m["name"] == "model" for m in data["logged_models"])
