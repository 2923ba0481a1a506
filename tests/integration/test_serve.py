"""`mlrun models serve` and `predict` of the iris model an unchanged script registered:
MLflow's scoring protocol, answered as `mlflow models serve` answers it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_registry import Trained, sklearn_venv, trained

pytestmark = pytest.mark.slow
__all__ = ["sklearn_venv", "trained"]  # the session fixtures, shared with test_registry

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
RECORDS = [dict(zip(COLUMNS, r, strict=True)) for r in ROWS]
CSV = ",".join(COLUMNS) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in ROWS)
JSON = "application/json"
REQUESTS: dict[str, tuple[str, bytes]] = {
    "dataframe_split": (
        JSON,
        json.dumps({"dataframe_split": {"columns": COLUMNS, "data": ROWS}}).encode(),
    ),
    "dataframe_records": (JSON, json.dumps({"dataframe_records": RECORDS}).encode()),
    "instances": (JSON, json.dumps({"instances": RECORDS}).encode()),
    "inputs": (JSON, json.dumps({"inputs": RECORDS, "params": {}}).encode()),
    "csv": ("text/csv", CSV.encode()),
    "bare list": (JSON, json.dumps(ROWS).encode()),
    "text/plain": ("text/plain", b"hello"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    port: int, path: str, body: bytes | None = None, ctype: str = JSON
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": ctype}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ping(port: int, proc: subprocess.Popen[Any], limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            if request(port, "/ping")[0] == 200:
                return time.monotonic() - start
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no /ping answer within {limit} s")


def model_dir(t: Trained) -> Path:
    source = t.show("iris")["versions"][0]["source"]
    return t.store / "models" / source.removeprefix("models:/") / "artifacts"


def stop(proc: subprocess.Popen[Any], group: bool = False) -> None:
    """SIGTERM: to mlrun (which ends its server), or to a process group of its own."""
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def ours(trained: Trained) -> Iterator[int]:
    port = free_port()
    proc = trained.popen(
        "models", "serve", "models:/iris@champion", "--port", str(port), "--env-manager", "local"
    )
    wait_ping(port, proc, 120)
    yield port
    stop(proc)


@pytest.fixture(scope="session")
def theirs(trained: Trained) -> Iterator[int]:
    """`mlflow models serve` of the same model (its uvicorn is in the same venv)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(trained.venv / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model_dir(trained)),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=trained.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_ping(port, proc, 180)
    except (AssertionError, TimeoutError) as exc:
        stop(proc, group=True)
        pytest.skip(f"mlflow models serve did not start here: {str(exc)[-300:]}")
    yield port
    stop(proc, group=True)


def test_health_and_version(ours: int, trained: Trained) -> None:
    assert request(ours, "/ping") == (200, b"\n")
    assert request(ours, "/health") == (200, b"\n")
    assert request(ours, "/version") == (200, b"3.17.2")


@pytest.mark.parametrize(
    "form", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_every_input_form_predicts(ours: int, form: str) -> None:
    ctype, body = REQUESTS[form]
    status, data = request(ours, "/invocations", body, ctype)
    assert (status, json.loads(data)) == (200, {"predictions": [0, 2, 1]})


def test_errors_are_mlflows(ours: int) -> None:
    status, data = request(ours, "/invocations", *reversed(REQUESTS["bare list"]))
    assert (status, json.loads(data)["error_code"]) == (400, "BAD_REQUEST")
    status, _ = request(ours, "/invocations", *reversed(REQUESTS["text/plain"]))
    assert status == 415


def test_same_answers_as_mlflow_models_serve(ours: int, theirs: int) -> None:
    for form, (ctype, body) in REQUESTS.items():
        mine = request(ours, "/invocations", body, ctype)
        their = request(theirs, "/invocations", body, ctype)
        assert mine[0] == their[0], form
        if mine[0] == 200 or ctype == JSON:
            a, b = json.loads(mine[1]), json.loads(their[1])
            assert (a.get("predictions"), a.get("error_code")) == (
                b.get("predictions"),
                b.get("error_code"),
            ), form
    assert request(ours, "/version") == request(theirs, "/version")


def test_sigterm_stops_it_and_a_port_in_use_is_one_line(trained: Trained, ours: int) -> None:
    busy = trained.mlrun(
        "models", "serve", "models:/iris/1", "--port", str(ours), "--env-manager", "local"
    )
    assert busy.returncode == 2
    assert (
        busy.stderr.strip()
        == f"error: port {ours} on 127.0.0.1 is in use; pass another with --port"
    )
    port = free_port()
    proc = trained.popen(
        "models",
        "serve",
        "runs:/" + trained.run_id[:8] + "/model",
        "--port",
        str(port),
        "--env-manager",
        "local",
        "--workers",
        "2",
    )
    wait_ping(port, proc, 120)
    assert json.loads(request(port, "/invocations", *reversed(REQUESTS["inputs"]))[1]) == {
        "predictions": [0, 2, 1]
    }
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_predict_in_the_models_own_env_built_with_uv(trained: Trained, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(CSV)
    out = tmp_path / "out.json"
    proc = trained.mlrun(
        "models", "predict", "models:/iris@champion", "-i", str(rows), "-o", str(out), timeout=900
    )
    if proc.returncode != 0 and "uv" in proc.stderr and "network" in proc.stderr.lower():
        pytest.skip(f"cannot build the model's environment here: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text()) == {"predictions": [0, 2, 1]}
    assert "env uv" in proc.stderr
    records = tmp_path / "rows.json"
    records.write_text(json.dumps({"dataframe_records": RECORDS}))
    again = trained.mlrun("models", "predict", "models:/iris/1", "-i", str(records))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "env uv, reused" in again.stderr
    assert json.loads(again.stdout) == {"predictions": [0, 2, 1]}


def test_a_model_folder_with_only_requirements_txt_gets_its_env_built(
    trained: Trained, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(model_dir(trained), folder)
    for name in ("python_env.yaml", "conda.yaml"):
        (folder / name).unlink()
    rows = tmp_path / "rows.csv"
    rows.write_text(CSV)
    proc = trained.mlrun("models", "predict", str(folder), "-i", str(rows), timeout=900)
    if proc.returncode != 0 and "uv" in proc.stderr and "network" in proc.stderr.lower():
        pytest.skip(f"cannot build the model's environment here: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {"predictions": [0, 2, 1]}
    assert "env uv, built" in proc.stderr
    assert "(python 3.11.7)" in proc.stderr  # the MLmodel's python version
    # Another folder with the same requirements.txt gets the same environment.
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    again = trained.mlrun("models", "predict", str(copy), "-i", str(rows))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "env uv, reused" in again.stderr
    assert json.loads(again.stdout) == {"predictions": [0, 2, 1]}


def test_a_repaired_store_still_serves_its_registered_models(
    trained: Trained, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(trained.store, store)
    for lost in store.glob("mlrun.db*"):
        lost.unlink()
    argv = ("--tracking-uri", str(store))
    proc = trained.mlrun("store", "repair", *argv)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith(" from their records")

    def models(*tracking: str) -> object:
        listed = trained.mlrun("models", "list", "--json", *tracking)
        names = [m["name"] for m in json.loads(listed.stdout)["models"]]
        shown = [trained.mlrun("models", "show", n, "--json", *tracking).stdout for n in names]
        return listed.stdout, shown

    assert models(*argv) == models()  # as the store it was copied from has them
    rows = tmp_path / "rows.csv"
    rows.write_text(CSV)
    proc = trained.mlrun(
        "models",
        "predict",
        "models:/iris@champion",
        "-i",
        str(rows),
        "--env-manager",
        "local",
        *argv,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {"predictions": [0, 2, 1]}
