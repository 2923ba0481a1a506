"""Start-up overhead of `mlrun run`: a no-op entry point in the local environment.

overhead = median wall of `mlrun run <proj> -e noop --env-manager local`
           - median wall of `python -c pass`, both with the same interpreter, in the same run.
Target: at most 0.08 s. With `mlflow` on PATH (or MLFLOW_BIN), `mlflow run` is measured too.

    python bench/startup.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_package, median, report, time_command

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: 'true'\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "proj"
        project.mkdir()
        (project / "MLproject").write_text(MLPROJECT)
        env = {"MLRUN_CACHE_DIR": str(root / "cache"), "MLRUN_TRACKING_URI": str(root / "store")}
        base = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
        ours = time_command(
            [
                sys.executable,
                "-m",
                "mlrun_cli",
                "run",
                str(project),
                "-e",
                "noop",
                "--env-manager",
                "local",
            ],
            repeat=args.repeat,
            cwd=root,
            env=env,
        )
        report("python -c pass", base)
        report("mlrun run -e noop --env-manager local", ours)
        overhead = median(ours) - median(base)
        print(
            f"overhead: {overhead * 1000:.1f} ms (target <= 80 ms); ratio to python -c pass: {median(ours) / median(base):.2f}x"
        )
        mlflow = os.environ.get("MLFLOW_BIN") or shutil.which("mlflow")
        if mlflow:
            theirs = time_command(
                [mlflow, "run", str(project), "-e", "noop", "--env-manager", "local"],
                repeat=max(3, args.repeat // 4),
                cwd=root,
                env={"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"},
                warmup=1,
            )
            report("mlflow run -e noop --env-manager local", theirs)
            print(
                f"mlflow overhead: {(median(theirs) - median(base)) * 1000:.0f} ms; "
                f"mlrun is {(median(theirs) - median(base)) / max(overhead, 1e-3):.0f}x less"
            )
        else:
            print("mlflow not found (set MLFLOW_BIN to compare)")


if __name__ == "__main__":
    main()
