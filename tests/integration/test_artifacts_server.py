"""A run's artifacts on a real MLflow server: listed and downloaded through its proxy."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write_project
from tests.integration.mlflow_venvs import mlflow_venv
from tests.integration.test_mlflow_server import Server, mlrun

pytestmark = pytest.mark.slow

WRITE = """
import os, pathlib
d = pathlib.Path(os.environ["MLRUN_ARTIFACT_DIR"]) / "model"
d.mkdir(parents=True, exist_ok=True)
(d / "weights.bin").write_bytes(bytes(range(256)))
print("wrote")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(mlflow_venv("full"), tmp_path_factory.mktemp("mlflow-artifacts"))
    srv.start()
    yield srv
    srv.stop()


def test_list_and_download_from_the_server(server: Server, tmp_path: Path) -> None:
    venv = mlflow_venv("full")
    project = write_project(
        tmp_path / "p",
        'name: a\nentry_points:\n  main:\n    command: "python write.py"\n',
        {"write.py": textwrap.dedent(WRITE)},
    )
    uri = ["--tracking-uri", server.uri]
    run = mlrun("run", str(project), "--env-manager", "local", "--json", *uri, venv=venv)
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    listed = mlrun("artifacts", "list", run_id, "--json", *uri, venv=venv)
    assert listed.returncode == 0, listed.stderr
    paths = [a["path"] for a in json.loads(listed.stdout)["artifacts"]]
    assert "model/weights.bin" in paths
    dest = tmp_path / "out"
    got = mlrun("artifacts", "download", run_id, "model", "-o", str(dest), *uri, venv=venv)
    assert got.returncode == 0, got.stderr
    assert (dest / "model" / "weights.bin").read_bytes() == bytes(range(256))
