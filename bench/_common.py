"""Helpers shared by the benchmarks: timing whole commands, medians, a scratch project."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def time_command(
    argv: Sequence[str],
    *,
    repeat: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    warmup: int = 2,
) -> list[float]:
    """Wall seconds of each of `repeat` runs of `argv` (after `warmup` unmeasured runs)."""
    times = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()}")
        if i >= warmup:
            times.append(elapsed)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(label: str, values: Sequence[float]) -> None:
    print(
        f"{label:<48} median {median(values) * 1000:8.1f} ms  (min {min(values) * 1000:.1f}, n={len(values)})"
    )


def compile_package() -> None:
    """Compile mlrun_cli's bytecode, as a wheel install has it (an editable checkout under
    PYTHONDONTWRITEBYTECODE would recompile every module on every start)."""
    import compileall

    import mlrun_cli

    compileall.compile_dir(Path(mlrun_cli.__file__).parent, quiet=1)


def mlflow_venv_dir() -> Path:
    """MLFLOW_VENV, else the test suite's MLflow virtualenv (built on first use)."""
    import sys

    venv = Path(os.environ.get("MLFLOW_VENV") or "")
    if (venv / "bin" / "mlflow").exists():
        return venv
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.integration.mlflow_venvs import mlflow_venv

    return mlflow_venv("full")


def start_mlflow_server(venv: Path, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `mlflow server` (SQLite backend, artifact proxy) on a free port, ready to serve."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(venv / "bin" / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "mlflow-artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(uri + "/health", timeout=2).read()
            return server, uri
        except OSError:
            if time.monotonic() > deadline:
                stop_server(server)
                raise SystemExit("mlflow server did not start") from None
            time.sleep(0.3)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    import signal

    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
