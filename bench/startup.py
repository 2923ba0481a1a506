"""Start-up overhead of `mlrun run`: a no-op entry point in the local environment.

overhead = median wall of `mlrun run <proj> -e noop --env-manager local`
           - median wall of `python -c pass`, both with the same interpreter, in the same run,
reported as a multiple of `python -c pass` (overhead / base). Target: at most 5x.

`mlrun` is the console script installed beside sys.executable (what a user types);
`python -m mlrun_cli` is measured too, for comparison. The commands are interleaved (A, B, C,
A, B, C...) so machine noise hits all alike; medians are reported. With `mlflow` (MLFLOW_BIN,
PATH, or a ready MLflow virtualenv) and --mlflow-repeat > 0, `mlflow run` is measured too.

    python bench/startup.py [--repeat 20] [--mlflow-repeat 5]
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
    mlflow_bin,
    python_pass,
    report,
    standalone,
    time_command,
    time_interleaved,
    write_project,
)

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: 'true'\n"
QUICK = {"repeat": 7, "mlflow_repeat": 0}
TARGET_MULTIPLE = 5.0


def console_script() -> Path:
    """The `mlrun` command installed with this interpreter's package."""
    script = Path(sys.executable).parent / "mlrun"
    if not script.exists():
        raise Skip(f"no mlrun console script at {script}; install the package (pip install -e .)")
    return script


def run(repeat: int = 20, mlflow_repeat: int = 5) -> list[Figure]:
    compile_package()
    script = console_script()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = write_project(root / "proj", MLPROJECT)
        args = ["run", str(project), "-e", "noop", "--env-manager", "local"]
        env = {"MLRUN_CACHE_DIR": str(root / "cache"), "MLRUN_TRACKING_URI": str(root / "store")}
        times = time_interleaved(
            {
                "python -c pass": python_pass(),
                "mlrun run -e noop --env-manager local": [str(script), *args],
                "python -m mlrun_cli run -e noop --env-manager local": [
                    sys.executable,
                    "-m",
                    "mlrun_cli",
                    *args,
                ],
            },
            repeat=repeat,
            cwd=root,
            env=env,
        )
        for label, values in times.items():
            report(label, values)
        base, ours, module = (median(v) for v in times.values())
        figures = [
            figure(
                "mlrun run -e noop --env-manager local: overhead",
                (ours - base) * 1000,
                "ms",
                "python -c pass",
                base * 1000,
                at_most=TARGET_MULTIPLE,
                on="ratio",
            ),
            figure(
                "python -m mlrun_cli run -e noop: overhead",
                (module - base) * 1000,
                "ms",
                "python -c pass",
                base * 1000,
            ),
        ]
        mlflow = mlflow_bin() if mlflow_repeat > 0 else None
        if mlflow:
            theirs = time_command(
                [mlflow, "run", str(project), "-e", "noop", "--env-manager", "local"],
                repeat=mlflow_repeat,
                cwd=root,
                env={"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"},
                warmup=1,
            )
            report("mlflow run -e noop --env-manager local", theirs)
            figures.append(
                figure(
                    "mlrun run -e noop overhead vs mlflow run's",
                    (ours - base) * 1000,
                    "ms",
                    "mlflow run -e noop --env-manager local, overhead",
                    (median(theirs) - base) * 1000,
                    head_to_head=True,
                )
            )
        elif mlflow_repeat > 0:
            print("mlflow not found (set MLFLOW_BIN or MLFLOW_VENV to compare)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--mlflow-repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"repeat": args.repeat, "mlflow_repeat": args.mlflow_repeat}
    standalone("startup", run, sizes, json_file=args.json)


if __name__ == "__main__":
    main()
