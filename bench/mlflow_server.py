"""A no-op entry point recorded on a real `mlflow server`: `mlrun run` vs `mlflow run`.

Both run the same project against the same server (SQLite backend), in the same run; the
baseline is `python -c pass`. Needs a virtualenv with mlflow: MLFLOW_VENV=/path (default: the
test suite's).

    python bench/mlflow_server.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, report, time_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    import compileall

    import mlrun_cli

    compileall.compile_dir(Path(mlrun_cli.__file__).parent, quiet=1)
    venv = Path(os.environ.get("MLFLOW_VENV") or "")
    if not (venv / "bin" / "mlflow").exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.integration.mlflow_venvs import mlflow_venv

        venv = mlflow_venv("full")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = root / "proj"
        proj.mkdir()
        (proj / "MLproject").write_text("name: b\nentry_points:\n  noop:\n    command: 'true'\n")
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
                str(root / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(uri + "/health", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("mlflow server did not start") from None
                    time.sleep(0.3)
            env = {"MLRUN_CACHE_DIR": str(root / "cache")}
            base = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
            ours = time_command(
                [
                    sys.executable,
                    "-m",
                    "mlrun_cli",
                    "run",
                    str(proj),
                    "-e",
                    "noop",
                    "--env-manager",
                    "local",
                    "--tracking-uri",
                    uri,
                ],
                repeat=args.repeat,
                cwd=root,
                env=env,
            )
            theirs = time_command(
                [
                    str(venv / "bin" / "mlflow"),
                    "run",
                    str(proj),
                    "-e",
                    "noop",
                    "--env-manager",
                    "local",
                ],
                repeat=max(3, args.repeat // 2),
                cwd=root,
                env={"MLFLOW_TRACKING_URI": uri},
                warmup=1,
            )
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        report("python -c pass", base)
        report("mlrun run -e noop (MLflow server store)", ours)
        report("mlflow run -e noop (same server)", theirs)
        print(
            f"mlrun is {median(theirs) / median(ours):.1f}x faster end to end; overhead "
            f"{(median(ours) - median(base)) * 1000:.0f} ms vs {(median(theirs) - median(base)) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
