"""mlrun against a real `mlflow server`: runs land there, read back with mlflow's own client."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_project
from tests.integration.mlflow_venvs import mlflow_venv

pytestmark = pytest.mark.slow

TRAIN = """
import os, sys, time, pathlib, mlflow
from mlrun_cli import tracking
with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")
    for i in range(3):
        mlflow.log_metric("loss", 1 / (i + 1), step=i)
    mlflow.set_tag("stage", "server")
    mlflow.log_text("hi", "notes/hi.txt")
tracking.log_metric("helper", 7)
pathlib.Path("made.txt").write_text("made")
tracking.log_artifact("made.txt", artifact_path="files")
gate = os.environ.get("GATE")
if gate:
    pathlib.Path(gate + ".started").write_text("x")
    while not pathlib.Path(gate).exists():
        time.sleep(0.1)
print("trained")
"""

MLPROJECT = """
name: srv
entry_points:
  main:
    parameters:
      C: {type: float, default: 1.0}
    command: "python train.py --C {C}"
  noop:
    command: "true"
  touch:
    command: "python -c 'open(\\"child-ran\\", \\"w\\").close()'"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, venv: Path, root: Path, port: int | None = None) -> None:
        self.venv, self.root, self.port = venv, root, port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(self.venv / "bin" / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=open(self.root / "server.log", "ab"),  # noqa: SIM115 - the server owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.uri + "/health", timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.skip(
                        "mlflow server did not start: "
                        + (self.root / "server.log").read_text()[-500:]
                    )
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="session")
def venv() -> Path:
    return mlflow_venv("full")


@pytest.fixture(scope="session")
def server(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(venv, tmp_path_factory.mktemp("mlflow-server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", MLPROJECT, {"train.py": textwrap.dedent(TRAIN)})


def mlrun(
    *args: str, venv: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": path, "MLRUN_HTTP_BACKOFF": "0.1", **(env or {})},
    )


def read_back(venv: Path, uri: str, experiment: str) -> dict[str, Any]:
    script = textwrap.dedent(f"""
        import json, mlflow
        c = mlflow.MlflowClient("{uri}")
        e = c.get_experiment_by_name("{experiment}")
        r = c.search_runs([e.experiment_id])[0]
        def walk(path=None):
            out = []
            for a in c.list_artifacts(r.info.run_id, path):
                out += walk(a.path) if a.is_dir else [a.path]
            return out
        print(json.dumps({{"status": r.info.status, "params": r.data.params, "metrics": r.data.metrics,
                          "tags": r.data.tags, "artifacts": sorted(walk()), "run_id": r.info.run_id,
                          "loss": [(m.value, m.step) for m in c.get_metric_history(r.info.run_id, "loss")]}}))
    """)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_run_lands_on_the_server(server: Server, venv: Path, project: Path) -> None:
    proc = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "--tracking-uri",
        server.uri,
        "--experiment-name",
        "e2e",
        "-P",
        "C=0.5",
        venv=venv,
    )
    assert proc.returncode == 0, proc.stderr
    data = read_back(venv, server.uri, "e2e")
    assert data["status"] == "FINISHED"
    assert data["params"] == {"C": "0.5", "alpha": "0.5"}
    assert data["loss"] == [[1.0, 0], [0.5, 1], [1 / 3, 2]]
    assert data["metrics"]["helper"] == 7.0
    assert data["tags"]["stage"] == "server"
    assert data["tags"]["mlflow.project.entryPoint"] == "main"
    assert data["tags"]["mlflow.source.type"] == "PROJECT"
    assert data["tags"]["mlrun.exit_code"] == "0"
    assert data["artifacts"] == ["files/made.txt", "mlrun-output.log", "notes/hi.txt"]
    # runs list / show work against the server too
    listed = json.loads(
        mlrun("runs", "list", "--tracking-uri", server.uri, "--json", venv=venv).stdout
    )
    assert data["run_id"] in [r["run_id"] for r in listed["runs"]]
    shown = json.loads(
        mlrun(
            "runs", "show", data["run_id"], "--tracking-uri", server.uri, "--json", venv=venv
        ).stdout
    )
    assert shown["status"] == "FINISHED"
    assert {a["path"] for a in shown["artifacts"]} == set(data["artifacts"])


def test_mlflow_tracking_uri_selects_the_server(
    server: Server, venv: Path, project: Path, isolated: Path
) -> None:
    proc = mlrun(
        "run",
        str(project),
        "-e",
        "noop",
        "--experiment-name",
        "by-env",
        venv=venv,
        env={"MLFLOW_TRACKING_URI": server.uri},
    )
    assert proc.returncode == 0, proc.stderr
    assert read_back(venv, server.uri, "by-env")["status"] == "FINISHED"
    assert not (isolated / ".mlrun").exists()
    other = mlrun(
        "run", str(project), "-e", "noop", venv=venv, env={"MLFLOW_TRACKING_URI": "sqlite:///x.db"}
    )
    assert other.returncode == 0
    assert (isolated / ".mlrun").exists()  # a non-http MLFLOW_TRACKING_URI is not ours


def test_unreachable_server_starts_nothing(venv: Path, project: Path) -> None:
    port = free_port()
    proc = mlrun(
        "run",
        str(project),
        "-e",
        "touch",
        "--tracking-uri",
        f"http://127.0.0.1:{port}",
        venv=venv,
        env={"MLRUN_HTTP_RETRIES": "1"},
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: MLflow server http://127.0.0.1:{port} is unreachable ([Errno 111] Connection refused); "
        "check the URI and that the server runs\n"
    )
    assert not (project / "child-ran").exists()


class _Fixed(http.server.BaseHTTPRequestHandler):
    status = 401

    def _answer(self) -> None:
        body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "bad token"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def test_bad_credentials_are_one_line_without_the_secret(venv: Path, project: Path) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        uri = f"http://alice:pw-s3cret@127.0.0.1:{httpd.server_address[1]}"
        proc = mlrun(
            "run",
            str(project),
            "-e",
            "touch",
            "--tracking-uri",
            uri,
            venv=venv,
            env={"MLFLOW_TRACKING_TOKEN": "tok-s3cret"},
        )
    finally:
        httpd.shutdown()
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: MLflow server http://127.0.0.1:")
    assert "refused the credentials (401)" in proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout and "alice" not in proc.stderr
    assert not (project / "child-ran").exists()


def test_5xx_burst_is_retried(server: Server, venv: Path, project: Path) -> None:
    failures = {"left": 3}

    class Flaky(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            req = urllib.request.Request(
                server.uri + self.path,
                data=body,
                method=self.command,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            try:
                with urllib.request.urlopen(req) as resp:
                    status, data = resp.status, resp.read()
            except urllib.error.HTTPError as e:  # type: ignore[attr-defined]
                status, data = e.code, e.read()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _proxy

        def log_message(self, *args: Any) -> None:
            pass

    import urllib.error

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{httpd.server_address[1]}"
        proc = mlrun(
            "run",
            str(project),
            "-e",
            "noop",
            "--tracking-uri",
            uri,
            "--experiment-name",
            "flaky",
            venv=venv,
        )
    finally:
        httpd.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert failures["left"] == 0
    assert read_back(venv, server.uri, "flaky")["status"] == "FINISHED"


def test_server_stopped_mid_run_then_synced(venv: Path, project: Path, tmp_path: Path) -> None:
    srv = Server(venv, tmp_path / "srv2")
    srv.start()
    gate = tmp_path / "gate"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlrun_cli",
            "run",
            str(project),
            "--env-manager",
            "local",
            "--tracking-uri",
            srv.uri,
            "--experiment-name",
            "drop",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "GATE": str(gate),
            "MLRUN_HTTP_RETRIES": "1",
            "MLRUN_HTTP_BACKOFF": "0.1",
        },
    )
    try:
        deadline = time.monotonic() + 120
        while not Path(str(gate) + ".started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            time.sleep(0.1)
        srv.stop()
        gate.write_text("go")
        out, err = proc.communicate(timeout=120)
    finally:
        srv.stop()
    assert proc.returncode == 0, err  # the child kept running and its exit code is ours
    assert "trained" in out
    assert "'mlrun runs sync' sends it later" in err
    srv.start()  # back, same database and port
    try:
        before = read_back(venv, srv.uri, "drop")
        assert "mlrun.exit_code" not in before["tags"]  # the end of the run was spooled
        assert "mlrun-output.log" not in before["artifacts"]
        synced = mlrun("runs", "sync", "--tracking-uri", srv.uri, venv=venv)
        assert synced.returncode == 0, synced.stderr
        assert synced.stderr.startswith("synced 1 run")
        data = read_back(venv, srv.uri, "drop")
        assert data["status"] == "FINISHED"
        assert data["tags"]["mlrun.exit_code"] == "0"
        assert data["metrics"]["helper"] == 7.0
        assert "mlrun-output.log" in data["artifacts"]
        assert "files/made.txt" in data["artifacts"]
    finally:
        srv.stop()
