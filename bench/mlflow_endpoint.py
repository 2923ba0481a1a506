"""The loopback MLflow endpoint: what it costs, and how fast it takes a child's logging.

1. Start-up overhead of a no-op entry point with the endpoint on vs off, interleaved
   (target: < 5 ms).
2. A child making 2,000 `mlflow.log_metric` calls: wall against our endpoint vs against a real
   `mlflow server` (SQLite backend) on this machine, alternated in the same run
   (target: >= 2x faster, i.e. at most 0.5x the server's time).

Needs a virtualenv with mlflow: MLFLOW_VENV=/path/to/venv (default: the test suite's, built
on first use except under bench/all.py --quick).

    python bench/mlflow_endpoint.py [--repeat 15] [--metrics 2000] [--log-repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CommandFailed,
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    mlflow_server,
    mlflow_venv_dir,
    report,
    standalone,
    time_interleaved,
    write_project,
)

REQUIRES = ("mlflow",)
QUICK = {"repeat": 5, "metrics": 200, "log_repeat": 1}
TARGET_STARTUP_MS = 5.0
TARGET_RATIO = 0.5

CHILD = """
import mlflow, time, sys
t = time.perf_counter()
for i in range(int(sys.argv[1])):
    mlflow.log_metric("m", i, step=i)
print(f"LOGGED {time.perf_counter() - t:.3f}")
"""
MLPROJECT = (
    "entry_points:\n  noop:\n    command: 'true'\n"
    "  log:\n    parameters: {n: {type: int, default: 2000}}\n    command: 'python child.py {n}'\n"
)
NEW_RUN = """import mlflow
mlflow.set_tracking_uri({uri!r})
with mlflow.start_run() as r:
    pass
print(r.info.run_id)
"""


def child_seconds(proc: subprocess.CompletedProcess[str]) -> float:
    """The logging time the child measured itself (its start-up is not part of it)."""
    if proc.returncode != 0 or "LOGGED" not in proc.stdout:
        raise CommandFailed(f"the logging child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return float(proc.stdout.split("LOGGED")[1].split()[0])


def log_to_server(venv: Path, proj: Path, uri: str, metrics: int, env: dict[str, str]) -> float:
    python = str(venv / "bin" / "python")
    made = subprocess.run(
        [python, "-c", NEW_RUN.format(uri=uri)], capture_output=True, text=True, env=env
    )
    if made.returncode != 0:
        raise CommandFailed(f"creating a run on the mlflow server failed: {made.stderr[-2000:]}")
    rid = made.stdout.strip().splitlines()[-1]
    proc = subprocess.run(
        [python, str(proj / "child.py"), str(metrics)],
        capture_output=True,
        text=True,
        env={**env, "MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": rid},
    )
    return child_seconds(proc)


def run(repeat: int = 15, metrics: int = 2000, log_repeat: int = 3) -> list[Figure]:
    compile_package()
    venv = mlflow_venv_dir()
    if venv is None:
        raise Skip("no MLflow virtualenv")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = write_project(root / "proj", MLPROJECT, **{"child.py": CHILD})
        env = {
            **os.environ,
            "MLRUN_CACHE_DIR": str(root / "cache"),
            "MLRUN_TRACKING_URI": str(root / "store"),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }
        mlrun = [sys.executable, "-m", "mlrun_cli", "run", str(proj), "--env-manager", "local"]
        times = time_interleaved(
            {
                "noop, endpoint on": [*mlrun, "-e", "noop"],
                "noop, endpoint off": [*mlrun, "-e", "noop", "--no-mlflow-endpoint"],
            },
            repeat=repeat,
            cwd=root,
            env=env,
        )
        for label, values in times.items():
            report(label, values)
        on, off = (median(v) * 1000 for v in times.values())
        ours, theirs = [], []
        with mlflow_server(venv) as uri:
            for _ in range(log_repeat):
                proc = subprocess.run(
                    [*mlrun, "-e", "log", "-P", f"n={metrics}"],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=root,
                )
                ours.append(child_seconds(proc))
                theirs.append(log_to_server(venv, proj, uri, metrics, env))
    report(f"{metrics} log_metric calls, our endpoint", ours)
    report(f"{metrics} log_metric calls, mlflow server", theirs)
    return [
        figure(
            "loopback MLflow endpoint: start-up cost (noop run)",
            on - off,
            "ms",
            "noop run with --no-mlflow-endpoint",
            off,
            below=TARGET_STARTUP_MS,
        ),
        figure(
            f"{metrics:,} mlflow.log_metric calls to our endpoint",
            median(ours),
            "s",
            "the same calls to a local mlflow server",
            median(theirs),
            at_most=TARGET_RATIO,
            on="ratio",
            head_to_head=True,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--metrics", type=int, default=2000)
    parser.add_argument("--log-repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"repeat": args.repeat, "metrics": args.metrics, "log_repeat": args.log_repeat}
    standalone("mlflow_endpoint", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
