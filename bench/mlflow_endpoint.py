"""The loopback MLflow endpoint: what it costs, and how fast it takes a child's logging.

1. Start-up overhead of a no-op entry point with the endpoint on vs off (target: < 5 ms).
2. A child making 2,000 `mlflow.log_metric` calls: wall against our endpoint vs against a real
   `mlflow server` (SQLite backend) on this machine, in the same run (target: >= 2x faster).

Needs a virtualenv with mlflow: MLFLOW_VENV=/path/to/venv (default: the test suite's).

    python bench/mlflow_endpoint.py [--repeat 15] [--metrics 2000]
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
    compile_package,
    median,
    mlflow_venv_dir,
    report,
    start_mlflow_server,
    stop_server,
    time_command,
)

CHILD = """
import mlflow, time, sys
t = time.perf_counter()
for i in range(int(sys.argv[1])):
    mlflow.log_metric("m", i, step=i)
print(f"LOGGED {time.perf_counter() - t:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--metrics", type=int, default=2000)
    args = parser.parse_args()
    compile_package()
    venv = mlflow_venv_dir()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = root / "proj"
        proj.mkdir()
        (proj / "MLproject").write_text(
            "entry_points:\n  noop:\n    command: 'true'\n"
            "  log:\n    parameters: {n: {type: int, default: 2000}}\n    command: 'python child.py {n}'\n"
        )
        (proj / "child.py").write_text(CHILD)
        os.environ["MLRUN_CACHE_DIR"] = str(root / "cache")
        os.environ["MLRUN_TRACKING_URI"] = str(root / "store")
        run = [sys.executable, "-m", "mlrun_cli", "run", str(proj), "--env-manager", "local"]
        on = time_command([*run, "-e", "noop"], repeat=args.repeat, cwd=root)
        off = time_command(
            [*run, "-e", "noop", "--no-mlflow-endpoint"], repeat=args.repeat, cwd=root
        )
        on2 = time_command([*run, "-e", "noop"], repeat=args.repeat, cwd=root)
        on = sorted(on + on2)
        report("noop, endpoint on", on)
        report("noop, endpoint off", off)
        print(
            f"endpoint start-up cost: {(median(on) - median(off)) * 1000:+.1f} ms (target < 5 ms)"
        )

        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}

        def child_seconds(proc: subprocess.CompletedProcess[str]) -> float:
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            return float(proc.stdout.split("LOGGED")[1].split()[0])

        ours = []
        for _ in range(3):
            proc = subprocess.run(
                [*run, "-e", "log", "-P", f"n={args.metrics}"],
                capture_output=True,
                text=True,
                env=env,
                cwd=root,
            )
            ours.append(child_seconds(proc))
        server, uri = start_mlflow_server(venv, root)
        try:
            theirs = []
            for _ in range(3):
                script = (
                    "import mlflow, subprocess, sys\n"
                    f"mlflow.set_tracking_uri('{uri}')\n"
                    "with mlflow.start_run() as r:\n"
                    "    pass\n"
                    "print(r.info.run_id)\n"
                )
                rid = (
                    subprocess.run(
                        [str(venv / "bin" / "python"), "-c", script],
                        capture_output=True,
                        text=True,
                        env=env,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                proc = subprocess.run(
                    [str(venv / "bin" / "python"), str(proj / "child.py"), str(args.metrics)],
                    capture_output=True,
                    text=True,
                    env={
                        **env,
                        "MLFLOW_TRACKING_URI": uri,
                        "MLFLOW_RUN_ID": rid,
                    },
                )
                theirs.append(child_seconds(proc))
        finally:
            stop_server(server)
        report(f"{args.metrics} log_metric calls, our endpoint", ours)
        report(f"{args.metrics} log_metric calls, mlflow server", theirs)
        print(f"our endpoint is {median(theirs) / median(ours):.1f}x faster (target >= 2x)")


if __name__ == "__main__":
    main()
