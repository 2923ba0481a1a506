"""The model registry for unchanged MLflow scripts, run by mlrun: on the embedded store
(through the loopback endpoint) and on a real MLflow server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_project
from tests.integration.mlflow_venvs import mlflow_venv

pytestmark = pytest.mark.slow

TRAIN = """
import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
with mlflow.start_run() as run:
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.sklearn.log_model(model, name="model", registered_model_name="iris",
                             input_example=X.head(2))
MlflowClient().set_registered_model_alias("iris", "champion", 1)
print("RUN", run.info.run_id)
"""

LOAD = """
import mlflow
from sklearn.datasets import load_iris
X, _ = load_iris(return_X_y=True, as_frame=True)
for uri in ("models:/iris@champion", "models:/iris/1"):
    print("PRED", uri, [int(p) for p in mlflow.pyfunc.load_model(uri).predict(X.head(3))])
source = mlflow.MlflowClient().get_model_version("iris", "1").source
print("PRED id", [int(p) for p in mlflow.pyfunc.load_model(source).predict(X.head(3))])
"""

SHARED = """
import mlflow
from sklearn.dummy import DummyClassifier
with mlflow.start_run():
    mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="model",
                             registered_model_name="shared")
"""

MLPROJECT = """
name: reg
entry_points:
  train:
    command: "python train.py"
  load:
    command: "python load.py"
  shared:
    command: "python shared.py"
"""


def needs(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sklearn_venv() -> Path:
    """MLflow's full client venv, with scikit-learn (which mlflow installs)."""
    venv = mlflow_venv("full")
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sklearn, pandas"], capture_output=True
    )
    if proc.returncode != 0:
        needs(f"scikit-learn is not importable in {venv}: {proc.stderr.decode()[-200:]}")
    return venv


class Trained:
    """A store with the iris model registered by an unchanged script, and how to run mlrun
    against it."""

    def __init__(self, root: Path, venv: Path) -> None:
        self.root, self.venv = root, venv
        self.store = root / "store"
        self.project = write_project(
            root / "proj",
            MLPROJECT,
            {"train.py": TRAIN, "load.py": LOAD, "shared.py": SHARED},
        )
        home = root / "home"
        home.mkdir(exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLRUN_"))},
            "HOME": str(home),
            "MLRUN_CACHE_DIR": str(root / "cache"),
            "MLRUN_TRACKING_URI": str(self.store),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "NO_COLOR": "1",
        }
        self.run_id = ""

    def mlrun(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlrun_cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.root,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "mlrun_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.root,
        )

    def show(self, name: str) -> dict[str, Any]:
        proc = self.mlrun("models", "show", name, "--json")
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))


# test_serve.py uses the same fixture: one training for the session, whichever module asks.
_TRAINED: dict[str, Trained] = {}


@pytest.fixture(scope="session")
def trained(sklearn_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    if "iris" not in _TRAINED:
        t = Trained(tmp_path_factory.mktemp("registry"), sklearn_venv)
        proc = t.mlrun("run", str(t.project), "-e", "train", "--env-manager", "local")
        assert proc.returncode == 0, proc.stderr[-3000:]
        t.run_id = next(ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("RUN "))
        _TRAINED["iris"] = t
    yield _TRAINED["iris"]


def test_registered_by_the_script_then_loaded_by_alias_in_a_later_run(trained: Trained) -> None:
    data = trained.show("iris")
    (v1,) = data["versions"]
    assert (v1["version"], v1["aliases"], v1["run_id"]) == ("1", ["champion"], trained.run_id)
    assert v1["source"].startswith("models:/m-")
    text = trained.mlrun("models", "show", "iris").stdout
    assert "champion" in text and trained.run_id[:8] in text
    run = json.loads(trained.mlrun("runs", "show", trained.run_id, "--json").stdout)
    assert [(v["name"], v["version"]) for v in run["registered_models"]] == [("iris", "1")]
    assert [m["name"] for m in run["logged_models"]] == ["model"]
    proc = trained.mlrun("run", str(trained.project), "-e", "load", "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PRED models:/iris@champion [0, 0, 0]" in proc.stdout
    assert "PRED models:/iris/1 [0, 0, 0]" in proc.stdout
    assert "PRED id [0, 0, 0]" in proc.stdout


def test_four_runs_registering_one_name_at_once_get_versions_1_to_4(trained: Trained) -> None:
    procs = [
        trained.popen("run", str(trained.project), "-e", "shared", "--env-manager", "local")
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    versions = trained.show("shared")["versions"]
    assert sorted(int(v["version"]) for v in versions) == [1, 2, 3, 4]
    assert len({v["run_id"] for v in versions}) == 4


def test_on_an_mlflow_server_the_registry_is_the_servers(
    sklearn_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.integration.test_mlflow_server import Server

    root = tmp_path_factory.mktemp("registry-server")
    server = Server(sklearn_venv, root / "server")
    server.start()
    try:
        t = Trained(root, sklearn_venv)
        t.env["MLRUN_TRACKING_URI"] = server.uri
        proc = t.mlrun("run", str(t.project), "-e", "train", "--env-manager", "local")
        assert proc.returncode == 0, proc.stderr[-3000:]
        run_id = next(ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("RUN "))
        (v1,) = t.show("iris")["versions"]
        assert (v1["version"], v1["aliases"]) == ("1", ["champion"])
        reg = t.mlrun("models", "register", f"runs:/{run_id}/model", "iris", "--json")
        assert reg.returncode == 0, reg.stderr
        assert json.loads(reg.stdout)["model_version"]["version"] == "2"
        assert t.mlrun("models", "alias", "iris", "next", "2").returncode == 0
        rows = t.root / "rows.csv"
        rows.write_text(
            "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
            "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
        )
        for uri in ("models:/iris@champion", "models:/iris@next"):
            out = t.mlrun("models", "predict", uri, "-i", str(rows), "--env-manager", "local")
            assert out.returncode == 0, out.stderr[-2000:]
            assert json.loads(out.stdout) == {"predictions": [0, 2]}
        assert t.mlrun("models", "delete", "iris", "--version", "2").returncode == 0
        assert [v["version"] for v in t.show("iris")["versions"]] == ["1"]
    finally:
        server.stop()
