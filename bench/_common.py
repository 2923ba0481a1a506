"""What the benchmarks share: figures as data, timing whole commands, engines, MLflow helpers.

Every benchmark in bench/ is a module `bench/<name>.py` with

- `run(**sizes) -> list[Figure]`: measures, prints as it goes, returns its figures; the
  keyword arguments are its sizes, with the full-size defaults;
- `QUICK`: the sizes `bench/all.py --quick` passes to `run` (small, so the set stays fast);
- `REQUIRES` (optional): the engines it cannot run without (see `ENGINES`); a missing one
  skips the benchmark with the reason, and so does `Skip` raised from `run`;
- `main()`: its own command line, the sizes as flags, ending in `standalone(...)`.

`bench/all.py` finds the modules by name (none starting with `_`), so a new benchmark is one
new file. A figure's baseline is measured in the same run, never remembered from another.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class Skip(Exception):
    """The benchmark cannot run on this machine; the message says why (and how to fix it)."""


class CommandFailed(RuntimeError):
    """A measured command exited non-zero: the benchmark is broken, not slow."""


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure.

    `baseline_value` is in the same unit as `value` and measured in the same run, so
    `ratio` = value / baseline_value. The target is on the value or on the ratio; `met` is
    None when the figure has no target.
    """

    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    benchmark: str = ""
    head_to_head: bool = False  # the baseline does the same work another way: say "x faster"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figure(
    name: str,
    value: float,
    unit: str,
    baseline: str | None = None,
    baseline_value: float | None = None,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    on: str = "value",
    head_to_head: bool = False,
) -> Figure:
    """A figure with its ratio to the baseline and its target (`on` "value" or "ratio")."""
    ratio = None
    if baseline_value is not None and baseline_value > 0:
        ratio = value / baseline_value
    subject = ratio if on == "ratio" else value
    target = met = None
    for op, limit in (("<=", at_most), (">=", at_least), ("<", below)):
        if limit is None:
            continue
        target = f"{op} {limit:g}x baseline" if on == "ratio" else f"{op} {limit:g} {unit}"
        if subject is None or math.isnan(subject):
            met = False
        else:
            met = {"<=": subject <= limit, ">=": subject >= limit, "<": subject < limit}[op]
    return Figure(
        name, value, unit, baseline, baseline_value, ratio, target, met, head_to_head=head_to_head
    )


def show_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def show_ratio(ratio: float | None, head_to_head: bool = False) -> str:
    if ratio is None:
        return "-"
    text = f"{ratio:.2g}x" if ratio < 1 else f"{ratio:.3g}x"
    if head_to_head and ratio > 0:
        text += f" ({1 / ratio:.3g}x faster)" if ratio < 1 else " (slower)"
    return text


def show_met(fig: Figure) -> str:
    return {True: "met", False: "MISSED", None: "-"}[fig.met]


def print_figure(fig: Figure) -> None:
    """One line: the value, the baseline and ratio, the target and whether it is met."""
    line = f"  {fig.name:<60} {show_value(fig.value, fig.unit):>10}"
    if fig.baseline:
        line += f"   vs {fig.baseline} {show_value(fig.baseline_value, fig.unit)}"
        line += f" = {show_ratio(fig.ratio, fig.head_to_head)}"
    if fig.target:
        line += f"   target {fig.target}: {show_met(fig)}"
    print(line, flush=True)


def print_figures(figures: Sequence[Figure]) -> None:
    for fig in figures:
        print_figure(fig)


# -- timing ----------------------------------------------------------------------------------


def _run_once(
    argv: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        )
    return elapsed, proc


def time_command(
    argv: Sequence[str],
    *,
    repeat: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    warmup: int = 2,
) -> list[float]:
    """Wall seconds of each of `repeat` runs of `argv` (after `warmup` unmeasured runs)."""
    times = []
    for i in range(warmup + repeat):
        elapsed, _ = _run_once(argv, cwd, env)
        if i >= warmup:
            times.append(elapsed)
    return times


def time_interleaved(
    commands: Mapping[str, Sequence[str]],
    *,
    repeat: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    envs: Mapping[str, Mapping[str, str]] | None = None,
    warmup: int = 2,
) -> dict[str, list[float]]:
    """Wall seconds of each command, run in turn A, B, C, A, B, C...

    A load spike on a shared machine then hits every command alike instead of whichever
    happened to be measured during it; compare medians.
    """
    times: dict[str, list[float]] = {label: [] for label in commands}
    for i in range(warmup + repeat):
        for label, argv in commands.items():
            elapsed, _ = _run_once(argv, cwd, {**(env or {}), **((envs or {}).get(label) or {})})
            if i >= warmup:
                times[label].append(elapsed)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(label: str, values: Sequence[float]) -> None:
    print(
        f"{label:<52} median {median(values) * 1000:8.1f} ms  "
        f"(min {min(values) * 1000:.1f}, n={len(values)})",
        flush=True,
    )


def python_pass() -> list[str]:
    """The baseline command: this interpreter starting and doing nothing."""
    return [sys.executable, "-c", "pass"]


def compile_package() -> None:
    """Compile mlrun_cli's bytecode, as a wheel install has it (an editable checkout under
    PYTHONDONTWRITEBYTECODE would recompile every module on every start)."""
    import compileall

    import mlrun_cli

    compileall.compile_dir(Path(mlrun_cli.__file__).parent, quiet=1)


@contextlib.contextmanager
def scoped_env(**values: str) -> Iterator[None]:
    """Set these environment variables for the block (for this process and its children)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def processes_under(path: Path) -> list[int]:
    """Pids of the processes whose command line names something under `path`."""
    needle = str(path).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return pids


def wait_quiet(path: Path, timeout: float = 300.0) -> float:
    """Wait until no process runs from under `path` (an env's detached bytecode compile, say)
    so that it neither loads the next measurement nor writes into a folder being removed.
    Returns the seconds waited."""
    t0 = time.perf_counter()
    while processes_under(path) and time.perf_counter() - t0 < timeout:
        time.sleep(0.1)
    return time.perf_counter() - t0


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder, removed once nothing runs from it any more."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mlrun-bench-"))
    try:
        yield root
    finally:
        wait_quiet(root, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def write_project(root: Path, mlproject: str, **files: str) -> Path:
    """A scratch project folder with this MLproject (and other files by name)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(mlproject)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


# -- engines ---------------------------------------------------------------------------------


def _which_daemon(name: str) -> str | None:
    """PATH, then the sbin folders where Debian puts the Slurm and munge daemons."""
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()), None
    )


def _slurm_missing() -> str | None:
    missing = [n for n in ("munged", "slurmctld", "slurmd", "sbatch") if not _which_daemon(n)]
    if missing:
        return f"{', '.join(missing)} not found (apt-get install -y slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting a one-node Slurm cluster needs root"
    return None


def _mlflow_missing(quick: bool) -> str | None:
    if mlflow_venv_dir(build=False) is not None:
        return None
    if not quick:
        return None  # run() builds it with the test suite's helper (or raises Skip)
    return (
        "no MLflow virtualenv ready (quick mode builds none): set MLFLOW_VENV, or run the "
        "tests, which build theirs (tests/integration/mlflow_venvs.py), or run without --quick"
    )


def _command_missing(name: str, probe: Sequence[str] | None = None) -> str | None:
    exe = shutil.which(name)
    if exe is None:
        return f"{name} not found on PATH"
    if probe is not None:
        try:
            proc = subprocess.run(
                [exe, *probe], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{name} {' '.join(probe)} failed: {exc}"
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return f"{name} {' '.join(probe)} failed: {tail[0][:200]}"
    return None


def _browser_missing() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "firefox"):
        if shutil.which(name):
            return None
    return "no browser found (chromium, google-chrome or firefox on PATH)"


# Each engine's check returns None when it is there, else why it is not. It is told whether
# the run is --quick: quick mode builds nothing that takes minutes (an MLflow virtualenv).
ENGINES: dict[str, Callable[[bool], str | None]] = {
    "mlflow": _mlflow_missing,
    "slurm": lambda quick: _slurm_missing(),
    "docker": lambda quick: _command_missing("docker", ["info", "--format", "{{.ServerVersion}}"]),
    "ray": lambda quick: _command_missing("ray", ["--version"]),
    "browser": lambda quick: _browser_missing(),
}


def missing_engine(requires: Sequence[str], *, quick: bool = False) -> str | None:
    """Why the first of these engines cannot be used here, or None when all are there."""
    for engine in requires:
        reason = ENGINES[engine](quick)
        if reason:
            return f"{engine}: {reason}"
    return None


# -- MLflow ----------------------------------------------------------------------------------


def mlflow_venv_dir(*, build: bool = True) -> Path | None:
    """MLFLOW_VENV, else the test suite's MLflow virtualenv (built on first use if `build`).

    Without `build`, None when there is none ready. A build that fails raises `Skip`.
    """
    venv = Path(os.environ.get("MLFLOW_VENV") or "/nonexistent")
    if (venv / "bin" / "mlflow").exists():
        return venv
    sys.path.insert(0, str(REPO))
    try:
        from tests.integration import mlflow_venvs
    except ImportError as exc:  # the helper needs pytest (pip install -e '.[test]')
        if not build:
            return None
        raise Skip(f"cannot load the tests' MLflow venv helper: {exc}") from None
    ready = _ready_mlflow_venv(mlflow_venvs)
    if ready is not None or not build:
        return ready
    try:
        return mlflow_venvs.mlflow_venv("full")
    except BaseException as exc:  # pytest.skip raises its own BaseException
        if type(exc).__name__ == "Skipped":
            raise Skip(str(exc)) from None
        raise


def _ready_mlflow_venv(mlflow_venvs: Any) -> Path | None:
    override = os.environ.get("MLRUN_TEST_MLFLOW_VENV")
    if override:
        return Path(override)
    import tempfile

    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    root = (
        Path(tempfile.gettempdir())
        / "mlrun-test-venvs"
        / f"mlflow-full-{mlflow_venvs.MLFLOW_VERSION}-{version}"
    )
    return root if (root / ".complete").exists() and (root / "bin" / "mlflow").exists() else None


def mlflow_bin(*, build: bool = False) -> str | None:
    """An `mlflow` command to compare with: MLFLOW_BIN, PATH, else the MLflow virtualenv."""
    found = os.environ.get("MLFLOW_BIN") or shutil.which("mlflow")
    if found:
        return found
    venv = mlflow_venv_dir(build=build)
    return str(venv / "bin" / "mlflow") if venv else None


def start_mlflow_server(venv: Path, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `mlflow server` (SQLite backend, artifact proxy) on a free port, ready to serve."""
    import socket
    import urllib.request

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
            str(root / "mlflow-artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(uri + "/health", timeout=2).read()
            return server, uri
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_server(server)
                raise CommandFailed("mlflow server did not start") from None
            time.sleep(0.3)


# Servers kept running between benchmarks while `keep_mlflow_servers` is active (bench/all.py):
# each start costs 10 s or more on a loaded 2-core machine. A cache; emptied at the end.
_KEPT: dict[Path, tuple[subprocess.Popen[bytes], str, Any]] = {}
_KEEPING: list[bool] = []


@contextlib.contextmanager
def mlflow_server(venv: Path) -> Iterator[str]:
    """The URI of a running `mlflow server` of this venv: started for the block and stopped
    after it, or shared with the other benchmarks inside `keep_mlflow_servers()`."""
    import tempfile

    if venv in _KEPT:
        yield _KEPT[venv][1]
        return
    tmp = tempfile.TemporaryDirectory(prefix="mlrun-bench-mlflow-")
    server, uri = start_mlflow_server(venv, Path(tmp.name))
    if _KEEPING:
        _KEPT[venv] = (server, uri, tmp)
        yield uri
        return
    try:
        yield uri
    finally:
        stop_server(server)
        tmp.cleanup()


@contextlib.contextmanager
def keep_mlflow_servers() -> Iterator[None]:
    """Inside the block, `mlflow_server` starts each venv's server once and keeps it."""
    _KEEPING.append(True)
    try:
        yield
    finally:
        _KEEPING.pop()
        while _KEPT:
            _, (server, _uri, tmp) = _KEPT.popitem()
            stop_server(server)
            tmp.cleanup()


def stop_server(server: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


# -- a benchmark's own command line ----------------------------------------------------------


def standalone(
    name: str,
    run: Callable[..., list[Figure]],
    sizes: Mapping[str, Any],
    requires: Sequence[str] = (),
    json_file: str | None = None,
) -> None:
    """Run one benchmark from its own command line: skip with the reason, else the figures."""
    reason = missing_engine(requires)
    if reason is None:
        try:
            figures = run(**sizes)
        except Skip as exc:
            reason = str(exc)
    if reason is not None:
        print(f"{name}: skipped: {reason}")
        return
    for fig in figures:
        fig.benchmark = fig.benchmark or name
    print(f"== {name}: figures")
    print_figures(figures)
    if json_file:
        Path(json_file).write_text(json.dumps([f.as_dict() for f in figures], indent=1) + "\n")
