"""A no-op entry point recorded on a real `mlflow server`: `mlrun run` vs `mlflow run`.

Both run the same project against the same server (SQLite backend), in the same run; the
baseline is `python -c pass`. Needs a virtualenv with mlflow: MLFLOW_VENV=/path (default: the
test suite's).

    python bench/mlflow_server.py [--repeat 10]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    compile_package()
    venv = mlflow_venv_dir()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = root / "proj"
        proj.mkdir()
        (proj / "MLproject").write_text("name: b\nentry_points:\n  noop:\n    command: 'true'\n")
        server, uri = start_mlflow_server(venv, root)
        try:
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
            stop_server(server)
        report("python -c pass", base)
        report("mlrun run -e noop (MLflow server store)", ours)
        report("mlflow run -e noop (same server)", theirs)
        print(
            f"mlrun is {median(theirs) / median(ours):.1f}x faster end to end; overhead "
            f"{(median(ours) - median(base)) * 1000:.0f} ms vs {(median(theirs) - median(base)) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
