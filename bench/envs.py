"""Environment builds: the first run against uv's floor, cold builds, and the warm overhead.

- first runs (`_env_floor.py`): for a project needing scikit-learn and pandas, package cache
  warm and then cold: the floor (`uv venv` + `uv pip install` + the import), our first and
  second `mlrun run`, and `mlflow run --env-manager uv` first and second where mlflow is
  there. Targets: our first <= 1.3x the floor, our second <= 0.5x our first, ours at least
  2x faster than mlflow's, first and second. `--floor small` uses requests instead (what
  bench/all.py --quick does), `--floor none` skips these rows.
- cold: `mlrun envs build` of a copy of examples/iris-classification (outside any git work
  tree) into an empty env root, against the
  bare installer doing the same (`uv venv` + `uv pip install`, or `virtualenv` + `pip
  install`, of the project's python_env.yaml), alternated in the same run after one
  unmeasured build has filled the installers' package caches (unless --no-fill-cache).
- warm: median wall of `mlrun run examples/iris-classification -e noop` with the env built,
  minus `python -c pass`, interleaved.
With `mlflow` (MLFLOW_BIN, PATH, or a ready MLflow virtualenv) and --mlflow, `mlflow run` of
the same project is measured too. Targets: warm overhead <= 0.10 s; cold iris env with
uv <= 6 s.

    python bench/envs.py [--repeat 10] [--cold-repeat 2] [--managers uv,virtualenv]
                         [--no-fill-cache] [--no-mlflow] [--floor full|small|none]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    CommandFailed,
    Figure,
    compile_package,
    figure,
    median,
    mlflow_bin,
    python_pass,
    report,
    scratch_dir,
    standalone,
    time_command,
    time_interleaved,
    wait_quiet,
)

IRIS = REPO / "examples" / "iris-classification"
QUICK = {
    "repeat": 3,
    "cold_repeat": 1,
    "managers": "uv",
    "fill_cache": False,
    "mlflow": False,
    "floor": "small",
}
TARGET_WARM_S = 0.10
TARGET_COLD_UV_S = 6.0


def requirements() -> list[str]:
    """The python_env's build dependencies and dependencies, as the bare installer gets them."""
    import yaml

    doc = yaml.safe_load((IRIS / "python_env.yaml").read_text())
    return [*(doc.get("build_dependencies") or []), *(doc.get("dependencies") or [])]


def bare_install(manager: str, env_dir: Path) -> list[list[str]]:
    """The installer's own commands for the same env, as a person would type them (with the
    installer's defaults: uv compiles no bytecode, pip does)."""
    python = str(env_dir / "bin" / "python")
    if manager == "uv":
        from mlrun_cli.envs.interpreters import find_uv

        uv = find_uv()
        assert uv is not None
        return [
            [uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)],
            [uv, "pip", "install", "--quiet", "--python", python, *requirements()],
        ]  # fmt: skip
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    build, deps = requirements()[:1], requirements()[1:]
    return [
        [sys.executable, "-m", "virtualenv", "--no-periodic-update", "--quiet",
         "-p", sys.executable, str(env_dir)],
        [*pip, *build],
        [*pip, *deps],
    ]  # fmt: skip


def timed_steps(steps: list[list[str]], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    for argv in steps:
        time_command(argv, repeat=1, warmup=0, env=env)
    return time.perf_counter() - t0


def cold(
    project: Path, manager: str, root: Path, repeat: int, fill_cache: bool, env: dict[str, str]
) -> tuple[list[float], list[float], Path]:
    """Cold builds by mlrun and by the bare installer, alternated; the last mlrun env is kept."""
    cmd = [sys.executable, "-m", "mlrun_cli", "-q", "envs", "build", str(project),
           "--env-manager", manager]  # fmt: skip
    ours, bare = [], []
    env_root: Path | None = None
    for i in range(repeat + fill_cache):
        if env_root is not None:
            shutil.rmtree(env_root, ignore_errors=True)
        env_root = root / f"envs-{manager}-{i}"
        took = timed_steps([cmd], {**env, "MLRUN_ENV_ROOT": str(env_root)})
        waited = wait_quiet(env_root)  # work left running in the background is not timed
        if waited > 0.5:
            print(f"  (waited {waited:.1f} s for background work in the new env)")
        bare_dir = root / f"bare-{manager}-{i}"
        bare_took = timed_steps(bare_install(manager, bare_dir), env)
        shutil.rmtree(bare_dir, ignore_errors=True)
        if i or not fill_cache:  # the first build fills the package cache
            ours.append(took)
            bare.append(bare_took)
    assert env_root is not None
    return ours, bare, env_root


def run_mlflow(
    mlflow: str, project: Path, root: Path, base: float, ours_warm: float
) -> list[Figure]:
    """`mlflow run` of the same project: a cold env per manager, then warm with uv."""
    figures = []
    real_home = Path.home()
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        # The same package caches as the builds above: only the env is cold.
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(real_home / ".cache" / "uv"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(real_home / ".cache" / "pip"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    noop = [mlflow, "run", str(project), "-e", "noop", "--env-manager"]
    for manager in ("uv", "virtualenv"):
        # mlflow keeps its envs under ~/.mlflow/envs; a fresh HOME makes the build cold.
        home = root / f"mlflow-home-{manager}"
        home.mkdir()
        try:
            took = timed_steps([[*noop, manager]], {**env, "HOME": str(home)})
        except CommandFailed as exc:
            print(f"mlflow run --env-manager {manager} failed: {str(exc).splitlines()[0]}")
            continue
        print(f"{'mlflow run cold iris env, ' + manager:<52} {took:8.1f} s", flush=True)
        figures.append(figure(f"mlflow run, cold iris env, {manager}", took, "s"))
    if not (root / "mlflow-home-uv" / ".mlflow").exists():
        return figures
    theirs = time_command(
        [*noop, "uv"],
        repeat=3,
        warmup=1,
        cwd=root,
        env={**env, "HOME": str(root / "mlflow-home-uv")},
    )
    report("mlflow run iris -e noop (warm env)", theirs)
    figures.append(
        figure(
            "mlrun run iris -e noop (warm env): overhead vs mlflow run's",
            ours_warm - base,
            "s",
            "mlflow run iris -e noop (warm env), overhead",
            median(theirs) - base,
            head_to_head=True,
        )
    )
    return figures


def run(
    repeat: int = 10,
    cold_repeat: int = 2,
    managers: str = "uv,virtualenv",
    fill_cache: bool = True,
    mlflow: bool = True,
    floor: str = "full",
) -> list[Figure]:
    from mlrun_cli.envs.interpreters import find_uv

    compile_package()
    figures: list[Figure] = []
    if floor != "none":
        import _env_floor

        figures += _env_floor.figures(small=floor == "small", with_mlflow=mlflow)
    names = [m for m in managers.split(",") if m and (m != "uv" or find_uv())]
    with scratch_dir() as root:
        env = {"MLRUN_CACHE_DIR": str(root / "cache"), "MLRUN_TRACKING_URI": str(root / "store")}
        # A copy outside any git work tree: what the checkout holds (its size, its changes)
        # would otherwise be measured too (bench/git_source.py measures that separately).
        project = Path(shutil.copytree(IRIS, root / "iris-classification"))
        kept: Path | None = None
        for manager in names:
            ours, bare, kept_root = cold(project, manager, root, cold_repeat, fill_cache, env)
            kept = kept or kept_root
            installer = "uv venv + uv pip install" if manager == "uv" else "virtualenv + pip"
            report(f"cold iris env, {manager} (package cache warm)", ours)
            report(f"bare {installer}", bare)
            figures.append(
                figure(
                    f"cold iris env, {manager} (package cache warm)",
                    median(ours),
                    "s",
                    f"bare {installer}",
                    median(bare),
                    at_most=TARGET_COLD_UV_S if manager == "uv" else None,
                )
            )
        warm_env = {**env, "MLRUN_ENV_ROOT": str(kept or root / "warm-envs")}
        manager_flag = ["--env-manager", names[0]] if names else []
        times = time_interleaved(
            {
                "python -c pass": python_pass(),
                "mlrun run iris -e noop (warm env)": [
                    sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", "noop",
                    *manager_flag,
                ],
            },
            repeat=repeat,
            cwd=root,
            env=warm_env,
        )  # fmt: skip
        for label, values in times.items():
            report(label, values)
        base, warm = (median(v) for v in times.values())
        figures.append(
            figure(
                "mlrun run iris -e noop (warm env): overhead",
                warm - base,
                "s",
                "python -c pass",
                base,
                at_most=TARGET_WARM_S,
            )
        )
        exe = mlflow_bin() if mlflow else None
        if exe:
            figures += run_mlflow(exe, project, root, base, warm)
        elif mlflow:
            print("mlflow not found (set MLFLOW_BIN or MLFLOW_VENV to compare)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--cold-repeat", type=int, default=2)
    parser.add_argument("--managers", default="uv,virtualenv")
    parser.add_argument("--no-fill-cache", dest="fill_cache", action="store_false")
    parser.add_argument("--no-mlflow", dest="mlflow", action="store_false")
    parser.add_argument("--floor", choices=("full", "small", "none"), default="full")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {
        "repeat": args.repeat,
        "cold_repeat": args.cold_repeat,
        "managers": args.managers,
        "fill_cache": args.fill_cache,
        "mlflow": args.mlflow,
        "floor": args.floor,
    }
    standalone("envs", run, sizes, json_file=args.json)


if __name__ == "__main__":
    main()
