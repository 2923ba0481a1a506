"""Serving a model: `mlrun models serve` against `mlflow models serve`, in the same run.

1. Start to the first `/ping` answer, with the environment ready (`--env-manager local`,
   the MLflow venv first on PATH) against `mlflow models serve --env-manager local`
   (target: at most 1/3 of MLflow's time).
2. Start to `/ping` with the model's environment built from its python_env.yaml by uv into
   an empty env cache (uv's own download cache is kept, as on any machine that built an env
   before), and again with that env reused. MLflow's `--env-manager virtualenv` is measured
   beside it where it can run (it needs pyenv; target: ours at least 3x faster).
3. Requests per second of `/invocations` (one row, `dataframe_split`, one keep-alive
   client) against MLflow's server (target: at least MLflow's).

The model is a scikit-learn LogisticRegression on iris saved with `mlflow.sklearn.save_model`.
Needs a virtualenv with mlflow and scikit-learn: MLFLOW_VENV=/path/to/venv (default: the test
suite's, built on first use except under bench/all.py --quick).

    python bench/models.py [--repeat 3] [--requests 2000] [--no-cold]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CommandFailed,
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    mlflow_venv_dir,
    report,
    scratch_dir,
    standalone,
)

REQUIRES = ("mlflow",)
QUICK = {"repeat": 1, "requests": 200, "cold": False}
TARGET_WARM_RATIO = 1 / 3
TARGET_COLD_RATIO = 1 / 3
TARGET_RPS_RATIO = 1.0

SAVE = """
import sys, mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
mlflow.sklearn.save_model(LogisticRegression(max_iter=300).fit(X, y), sys.argv[1],
                          input_example=X.head(2))
"""
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
BODY = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, 0.2]]}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    argv: list[str], env: dict[str, str], port: int, limit: float = 600
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; it and the seconds until /ping answered 200."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    while time.perf_counter() - t0 < limit:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise CommandFailed(f"{argv[:4]} exited {proc.returncode}: {err[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise CommandFailed(f"{argv[:4]}: no /ping answer within {limit} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def requests_per_second(ports: list[int], n: int, chunk: int = 50) -> list[float]:
    """Requests per second of each server, measured in alternating chunks, so that a change
    in the machine's load (it is shared) falls on both alike."""
    headers = {"Content-Type": "application/json"}
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in ports]
    spent = [0.0] * len(ports)

    def send(conn: http.client.HTTPConnection, count: int) -> None:
        for _ in range(count):
            conn.request("POST", "/invocations", BODY, headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise CommandFailed(f"/invocations answered {resp.status}: {data[:300]!r}")

    for conn in conns:
        send(conn, min(20, n))  # warm-up
    done = 0
    while done < n:
        count = min(chunk, n - done)
        for i, conn in enumerate(conns):
            t0 = time.perf_counter()
            send(conn, count)
            spent[i] += time.perf_counter() - t0
        done += count
    return [n / s for s in spent]


def run(repeat: int = 3, requests: int = 2000, cold: bool = True) -> list[Figure]:
    compile_package()
    venv = mlflow_venv_dir()
    if venv is None:
        raise Skip("no MLflow virtualenv")
    figures: list[Figure] = []
    with scratch_dir() as root:
        model = root / "model"
        saved = subprocess.run(
            [str(venv / "bin" / "python"), "-c", SAVE, str(model)], capture_output=True, text=True
        )
        if saved.returncode != 0:
            raise Skip(f"cannot save a scikit-learn model with {venv}: {saved.stderr[-300:]}")
        env = {
            **os.environ,
            "MLRUN_CACHE_DIR": str(root / "cache"),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }
        mlrun = [
            sys.executable,
            "-m",
            "mlrun_cli",
            "models",
            "serve",
            str(model),
            "--host",
            "127.0.0.1",
        ]
        mlflow = [
            str(venv / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model),
            "-h",
            "127.0.0.1",
        ]
        ours, theirs = [], []
        for _ in range(repeat):
            port = free_port()
            proc, seconds = start(
                [*mlrun, "--env-manager", "local", "--port", str(port)], env, port
            )
            ours.append(seconds)
            stop(proc)
            port = free_port()
            proc, seconds = start([*mlflow, "--env-manager", "local", "-p", str(port)], env, port)
            theirs.append(seconds)
            stop(proc)
        ports = [free_port(), free_port()]
        servers = [
            start([*mlrun, "--env-manager", "local", "--port", str(ports[0])], env, ports[0])[0],
            start([*mlflow, "--env-manager", "local", "-p", str(ports[1])], env, ports[1])[0],
        ]
        try:
            our_rps, their_rps = requests_per_second(ports, requests)
        finally:
            for proc in servers:
                stop(proc)
        report("mlrun models serve --env-manager local, start to /ping", ours)
        report("mlflow models serve --env-manager local, start to /ping", theirs)
        figures.append(
            figure(
                "models serve start to /ping, env ready (local)",
                median(ours),
                "s",
                "mlflow models serve --env-manager local",
                median(theirs),
                at_most=TARGET_WARM_RATIO,
                on="ratio",
                head_to_head=True,
            )
        )
        figures.append(
            figure(
                "models serve /invocations requests/s (1 row, one client)",
                our_rps,
                "req/s",
                "mlflow models serve (uvicorn)",
                their_rps,
                at_least=TARGET_RPS_RATIO,
                on="ratio",
            )
        )
        if cold:
            figures += cold_figures(mlrun, mlflow, env, root)
    return figures


def cold_figures(
    mlrun: list[str], mlflow: list[str], env: dict[str, str], root: Path
) -> list[Figure]:
    """Start with the model's env built by uv into an empty env cache, then reused."""
    fresh = {**env, "MLRUN_ENV_ROOT": str(root / "envs-cold")}
    port = free_port()
    proc, cold = start([*mlrun, "--port", str(port)], fresh, port)
    stop(proc)
    port = free_port()
    proc, warm = start([*mlrun, "--port", str(port)], fresh, port)
    stop(proc)
    print(f"  mlrun models serve, env built by uv: {cold:.2f} s; reused: {warm:.2f} s")
    baseline = None
    if shutil.which("pyenv", path=env["PATH"]) is None:
        print(
            "  mlflow models serve --env-manager virtualenv: not measured: it needs pyenv, "
            "which this machine has not (MLflow #7387)"
        )
    else:
        port = free_port()
        # MLflow keeps its virtualenvs in ~/.mlflow/envs: an empty one here, as ours is.
        mlflow_env = {**env, "MLFLOW_ENV_ROOT": str(root / "mlflow-envs")}
        try:
            proc, baseline = start(
                [*mlflow, "--env-manager", "virtualenv", "-p", str(port)],
                mlflow_env,
                port,
                limit=1800,
            )
            stop(proc)
        except CommandFailed as exc:
            print(f"  mlflow models serve --env-manager virtualenv failed here: {str(exc)[-300:]}")
    return [
        figure(
            "models serve start to /ping, env built by uv (empty env cache)",
            cold,
            "s",
            "mlflow models serve --env-manager virtualenv" if baseline else None,
            baseline,
            at_most=TARGET_COLD_RATIO if baseline else None,
            on="ratio",
            head_to_head=True,
        ),
        figure("models serve start to /ping, uv env reused", warm, "s", "env built", cold),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-cold", action="store_true", help="skip the env builds")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"repeat": args.repeat, "requests": args.requests, "cold": not args.no_cold}
    standalone("models", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
