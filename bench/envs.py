"""Environment builds: cold (package cache warm) with uv and with pip, and the warm overhead.

- cold: `mlrun envs build examples/iris-classification` into an empty env root, after one
  unmeasured build has filled the installers' package caches.
- warm: median wall of `mlrun run examples/iris-classification -e noop` with the env built,
  minus `python -c pass`.
With `mlflow` (MLFLOW_BIN or PATH), `mlflow run` of the same project is measured too.
Targets: warm overhead <= 0.10 s; cold iris env with uv <= 6 s.

    python bench/envs.py [--repeat 10] [--cold-repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, report, time_command

REPO = Path(__file__).resolve().parent.parent
IRIS = REPO / "examples" / "iris-classification"


def cold(manager: str, root: Path, repeat: int) -> list[float]:
    cmd = [
        sys.executable,
        "-m",
        "mlrun_cli",
        "-q",
        "envs",
        "build",
        str(IRIS),
        "--env-manager",
        manager,
    ]
    times = []
    for i in range(repeat + 1):
        env_root = root / f"envs-{manager}-{i}"
        t0 = time.perf_counter()
        time_command(cmd, repeat=1, warmup=0, env={"MLRUN_ENV_ROOT": str(env_root)})
        if i:  # the first build fills the package cache
            times.append(time.perf_counter() - t0)
        shutil.rmtree(env_root, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--cold-repeat", type=int, default=2)
    args = parser.parse_args()
    import compileall

    import mlrun_cli
    from mlrun_cli.envs.interpreters import find_uv

    compileall.compile_dir(Path(mlrun_cli.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MLRUN_CACHE_DIR"] = str(root / "cache")
        os.environ["MLRUN_TRACKING_URI"] = str(root / "store")
        managers = (["uv"] if find_uv() else []) + ["virtualenv"]
        for manager in managers:
            report(
                f"cold iris env, {manager} (package cache warm)",
                cold(manager, root, args.cold_repeat),
            )
        base = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
        os.environ["MLRUN_ENV_ROOT"] = str(root / "warm-envs")
        warm = time_command(
            [sys.executable, "-m", "mlrun_cli", "run", str(IRIS), "-e", "noop"],
            repeat=args.repeat,
            cwd=root,
        )
        report("python -c pass", base)
        report("mlrun run iris -e noop (warm env)", warm)
        overhead = median(warm) - median(base)
        print(f"warm overhead: {overhead * 1000:.1f} ms (target <= 100 ms)")
        mlflow = os.environ.get("MLFLOW_BIN") or shutil.which("mlflow")
        if not mlflow:
            print("mlflow not found (set MLFLOW_BIN to compare)")
            return
        mlflow_env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
        for manager in ("uv", "virtualenv"):
            # mlflow keeps its envs under ~/.mlflow/envs; a fresh HOME makes the build cold.
            home = root / f"mlflow-home-{manager}"
            home.mkdir()
            t0 = time.perf_counter()
            try:
                time_command(
                    [mlflow, "run", str(IRIS), "-e", "noop", "--env-manager", manager],
                    repeat=1,
                    warmup=0,
                    cwd=root,
                    env={**mlflow_env, "HOME": str(home)},
                )
                print(
                    f"{'mlflow run cold iris env, ' + manager:<48} {time.perf_counter() - t0:8.1f} s"
                )
            except SystemExit as exc:
                print(f"mlflow run --env-manager {manager} failed: {str(exc).splitlines()[0]}")
        theirs = time_command(
            [mlflow, "run", str(IRIS), "-e", "noop", "--env-manager", "uv"],
            repeat=3,
            warmup=1,
            cwd=root,
            env={**mlflow_env, "HOME": str(root / "mlflow-home-uv")},
        )
        report("mlflow run iris -e noop (warm env)", theirs)
        print(
            f"mlflow warm overhead: {(median(theirs) - median(base)):.2f} s; "
            f"ratio mlflow/mlrun overhead: {(median(theirs) - median(base)) / overhead:.0f}x"
        )


if __name__ == "__main__":
    main()
