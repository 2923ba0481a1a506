"""A no-op entry point recorded on a real `mlflow server`: `mlrun run` vs `mlflow run`.

Both run the same project against the same server (SQLite backend), in the same run; the
baseline of the overhead is `python -c pass`. No target is set (the figure says how much
faster than `mlflow run` a run recorded on a server is). Needs a virtualenv with mlflow:
MLFLOW_VENV=/path (default: the test suite's, built on first use except under --quick).

    python bench/mlflow_server.py [--repeat 10] [--mlflow-repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    mlflow_server,
    mlflow_venv_dir,
    python_pass,
    report,
    standalone,
    time_command,
    time_interleaved,
    write_project,
)

REQUIRES = ("mlflow",)
QUICK = {"repeat": 3, "mlflow_repeat": 1}
MLPROJECT = "name: b\nentry_points:\n  noop:\n    command: 'true'\n"


def run(repeat: int = 10, mlflow_repeat: int = 5) -> list[Figure]:
    compile_package()
    venv = mlflow_venv_dir()
    if venv is None:
        raise Skip("no MLflow virtualenv")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = write_project(root / "proj", MLPROJECT)
        with mlflow_server(venv) as uri:
            env = {"MLRUN_CACHE_DIR": str(root / "cache")}
            times = time_interleaved(
                {
                    "python -c pass": python_pass(),
                    "mlrun run -e noop (MLflow server store)": [
                        sys.executable, "-m", "mlrun_cli", "run", str(proj), "-e", "noop",
                        "--env-manager", "local", "--tracking-uri", uri,
                    ],
                },
                repeat=repeat,
                cwd=root,
                env=env,
            )  # fmt: skip
            theirs = time_command(
                [str(venv / "bin" / "mlflow"), "run", str(proj), "-e", "noop",
                 "--env-manager", "local"],
                repeat=mlflow_repeat,
                cwd=root,
                env={"MLFLOW_TRACKING_URI": uri},
                warmup=1 if mlflow_repeat > 1 else 0,
            )  # fmt: skip
    for label, values in times.items():
        report(label, values)
    report("mlflow run -e noop (same server)", theirs)
    base, ours = (median(v) for v in times.values())
    return [
        figure(
            "mlrun run -e noop, recorded on an mlflow server",
            ours,
            "s",
            "mlflow run -e noop, same server",
            median(theirs),
            head_to_head=True,
        ),
        figure(
            "mlrun run -e noop on an mlflow server: overhead",
            (ours - base) * 1000,
            "ms",
            "python -c pass",
            base * 1000,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--mlflow-repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"repeat": args.repeat, "mlflow_repeat": args.mlflow_repeat}
    standalone("mlflow_server", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
