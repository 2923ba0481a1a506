"""The first-run rows of bench/envs.py: how close `mlrun run` of a new environment gets to uv.

For a project that needs scikit-learn and pandas (small: requests), first with uv's package
cache warm (filled by one unmeasured install), then cold (a fresh cache directory for each
measured command); each taken three times in turn (once when small), medians reported:

- the floor: `uv venv` + `uv pip install` of the same requirements, then the same import in
  that env (`python -c "import sklearn, pandas"`), as a person would type them;
- our first `mlrun run` (the environment cold), and our second (the environment built);
- `mlflow run --env-manager uv`, first and second, where an `mlflow` executable is there
  (MLFLOW_BIN, PATH, or the tests' MLflow virtualenv); else skipped with the reason.

Targets: our first run <= 1.3x the floor; our second <= 0.5x our first; ours at most half
of mlflow's, first and second (2x faster). Runs are made without PYTHONDONTWRITEBYTECODE
(as most users run), so each first import writes its own bytecode; the background compile's
own time and a second run under PYTHONDONTWRITEBYTECODE=1 (after the compile) are reported
too, without targets.

A helper of bench/envs.py (the underscore keeps bench/all.py from running it twice):
`figures(small, with_mlflow)` returns the `Figure`s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CommandFailed, Figure, Skip, figure, median, mlflow_bin

FULL = {"requirements": ["scikit-learn", "pandas"], "imports": "sklearn, pandas"}
SMALL = {"requirements": ["requests"], "imports": "requests"}
TARGET_FIRST_RATIO = 1.3
TARGET_SECOND_RATIO = 0.5
TARGET_VS_MLFLOW = 0.5  # ours / mlflow's: at least 2x faster
PYVERSION = "{}.{}.{}".format(*sys.version_info[:3])

MLPROJECT = """\
name: env-floor
python_env: python_env.yaml
entry_points:
  main:
    command: "python -c 'import {imports}'"
"""


def uv_bin() -> str:
    from mlrun_cli.envs.interpreters import usable_uv

    exe = usable_uv()
    if exe is None:
        raise Skip("uv cannot run here, and the floor is uv's own install")
    return exe


def mlflow_exe() -> tuple[str | None, str]:
    """The `mlflow` to compare with (MLFLOW_BIN, PATH, the tests' venv), or None and why not."""
    found = mlflow_bin()
    if found:
        return found, ""
    return None, "no mlflow executable (set MLFLOW_BIN or MLFLOW_VENV, or put mlflow on PATH)"


def base_environ(root: Path) -> dict[str, str]:
    """The caller's environment without what would skew the comparison."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLRUN_", "MLFLOW_", "UV_", "VIRTUAL_ENV"))
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["MLRUN_TRACKING_URI"] = str(root / "store")
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one run of `argv`; a failure is the benchmark's, not a slow figure."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-2000:]
        raise CommandFailed(f"{' '.join(argv)} failed ({proc.returncode}): {tail}")
    return took


def floor(uv: str, env_dir: Path, spec: dict[str, Any], env: dict[str, str]) -> float:
    """uv venv + uv pip install + the import, timed as one."""
    python = str(env_dir / "bin" / "python")
    steps = [
        [uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)],
        [uv, "pip", "install", "--quiet", "--python", python, *spec["requirements"]],
        [python, "-c", f"import {spec['imports']}"],
    ]
    return sum(timed(argv, env, env_dir.parent) for argv in steps)


def write_project(root: Path, spec: dict[str, Any]) -> Path:
    root.mkdir(parents=True)
    (root / "MLproject").write_text(MLPROJECT.format(imports=spec["imports"]))
    deps = "".join(f"  - {r}\n" for r in spec["requirements"])
    (root / "python_env.yaml").write_text(f'python: "{PYVERSION}"\ndependencies:\n{deps}')
    return root


def ours(project: Path, root: Path, env: dict[str, str]) -> tuple[float, float, float, float]:
    """Our first and second run, the background compile's time, and a run under
    PYTHONDONTWRITEBYTECODE=1 once that compile is done."""
    from mlrun_cli.envs import bytecode

    root.mkdir(parents=True, exist_ok=True)
    env = {**env, "MLRUN_CACHE_DIR": str(root / "mlrun-cache")}
    argv = [sys.executable, "-m", "mlrun_cli", "-q", "run", str(project)]
    first = timed(argv, env, root)
    second = timed(argv, env, root)
    envs = [p for p in (root / "mlrun-cache" / "envs").iterdir() if not p.name.startswith(".")]
    bytecode.wait(envs[0], timeout=600)
    seconds = bytecode.state(envs[0]).get("seconds")
    compile_s = float(seconds) if isinstance(seconds, (int, float)) else float("nan")
    no_write = timed(argv, {**env, "PYTHONDONTWRITEBYTECODE": "1"}, root)
    return first, second, compile_s, no_write


def theirs(mlflow: str, uv: str, project: Path, root: Path, env: dict[str, str]) -> list[float]:
    """`mlflow run --env-manager uv`, first and second, with a HOME of its own (mlflow keeps
    its envs in ~/.mlflow/envs) and its tracking database made beforehand (unmeasured)."""
    home = root / "home"
    home.mkdir()
    env = {
        **env,
        "HOME": str(home),
        "MLFLOW_ENV_ROOT": str(home / ".mlflow" / "envs"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PATH": f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    timed([mlflow, "experiments", "search"], env, root)
    argv = [mlflow, "run", str(project), "--env-manager", "uv"]
    return [timed(argv, env, root), timed(argv, env, root)]


def scenario(
    label: str, cold: bool, spec: dict[str, Any], root: Path, mlflow: str | None, repeat: int
) -> list[Figure]:
    """One package-cache state: the floor, ours and mlflow's, each from a cold env, taken in
    turn `repeat` times (a load spike on a shared machine then hits each alike); medians."""
    uv = uv_bin()
    base = base_environ(root)
    warm_cache = root / "uv-cache-warm"

    def cache_env(name: str) -> dict[str, str]:
        return {**base, "UV_CACHE_DIR": str(root / f"uv-cache-{name}" if cold else warm_cache)}

    project = write_project(root / f"project-{label}", spec)
    if not cold:  # fill the shared cache once, unmeasured
        floor(uv, root / "fill", spec, cache_env("warm"))
    times: dict[str, list[float]] = {}
    for i in range(repeat):
        run = f"{label}-{i}"
        times.setdefault("floor", []).append(
            floor(uv, root / f"floor-{run}", spec, cache_env(f"floor-{run}"))
        )
        got = ours(project, root / f"ours-{run}", cache_env(f"ours-{run}"))
        for name, value in zip(("first", "second", "compile", "no_write"), got, strict=True):
            times.setdefault(name, []).append(value)
        if mlflow is not None:
            run_root = root / f"mlflow-{run}"
            run_root.mkdir()
            try:
                m_first, m_second = theirs(mlflow, uv, project, run_root, cache_env(f"m-{run}"))
            except CommandFailed as exc:
                print(f"mlflow run --env-manager uv failed: {str(exc).splitlines()[0][:300]}")
                mlflow = None
            else:
                times.setdefault("m_first", []).append(m_first)
                times.setdefault("m_second", []).append(m_second)
        shown = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
        print(f"package cache {label}, run {i + 1}/{repeat}: {shown}", flush=True)
    return _figures(f"package cache {label}", {k: median(v) for k, v in times.items()})


def _figures(tag: str, m: dict[str, float]) -> list[Figure]:
    found = [
        figure(f"floor: uv venv + uv pip install + import, {tag}", m["floor"], "s"),
        figure(
            f"mlrun run, first (cold env), {tag}",
            m["first"],
            "s",
            "the floor",
            m["floor"],
            at_most=TARGET_FIRST_RATIO,
            on="ratio",
        ),
        figure(
            f"mlrun run, second, {tag}",
            m["second"],
            "s",
            "our first run",
            m["first"],
            at_most=TARGET_SECOND_RATIO,
            on="ratio",
        ),
        figure(f"background bytecode compile, {tag}", m["compile"], "s"),
        figure(
            f"mlrun run after the compile, PYTHONDONTWRITEBYTECODE=1, {tag}", m["no_write"], "s"
        ),
    ]
    if "m_first" in m:
        found += [
            figure(
                f"mlflow run --env-manager uv, first, {tag}",
                m["m_first"],
                "s",
                "the floor",
                m["floor"],
            ),
            figure(
                f"mlflow run --env-manager uv, second, {tag}",
                m["m_second"],
                "s",
                "its first",
                m["m_first"],
            ),
            figure(
                f"mlrun run vs mlflow run, first, {tag}",
                m["first"],
                "s",
                "mlflow run",
                m["m_first"],
                at_most=TARGET_VS_MLFLOW,
                on="ratio",
                head_to_head=True,
            ),
            figure(
                f"mlrun run vs mlflow run, second, {tag}",
                m["second"],
                "s",
                "mlflow run",
                m["m_second"],
                at_most=TARGET_VS_MLFLOW,
                on="ratio",
                head_to_head=True,
            ),
        ]
    return found


def figures(small: bool = False, with_mlflow: bool = True) -> list[Figure]:
    """The floor, ours and mlflow's, package cache warm then cold."""
    spec = SMALL if small else FULL
    mlflow, why = mlflow_exe() if with_mlflow else (None, "not asked for")
    if mlflow is None:
        print(f"mlflow run --env-manager uv: skipped: {why}")
    found: list[Figure] = []
    repeat = 1 if small else 3
    with tempfile.TemporaryDirectory(prefix="env-floor-") as tmp:
        for label, cold in (("warm", False), ("cold", True)):
            found += scenario(label, cold, spec, Path(tmp), mlflow, repeat)
    return found
