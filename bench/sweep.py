"""Sweeps: per-trial overhead of a 200-trial no-op sweep at -j 2, and `sweep show` of 10,000 trials.

overhead per trial = (sweep wall - ideal wall of the trials) / trials, where the ideal wall
is trials x (the no-op command's own time) / jobs, measured in the same run. Targets: at most
0.05 s per trial; `sweep show` of a 10,000-trial sweep under 0.5 s.

The big sweep is planned and recorded by the sweep code itself (`prepare`, `record_sweep`),
its trials ended through the store API (`log_batch`, `set_terminated`) and the sweep closed
with `finish_sweep`: nothing is written behind the store's back.

    python bench/sweep.py [--trials 200] [--jobs 2] [--show-trials 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CommandFailed,
    Figure,
    compile_package,
    figure,
    median,
    python_pass,
    report,
    scoped_env,
    standalone,
    time_command,
    time_interleaved,
    write_project,
)

MLPROJECT = """name: b
entry_points:
  main:
    parameters: {i: int}
    command: "true {i}"
"""
QUICK = {"trials": 20, "jobs": 2, "show_trials": 1_000, "repeat": 3}
TARGET_PER_TRIAL_MS = 50.0
TARGET_SHOW_S = 0.5


def big_sweep(store: Path, project: Path, n: int) -> str:
    """A finished `n`-trial grid sweep with a `score` per trial; returns the sweep's id."""
    from mlrun_cli import tags
    from mlrun_cli.store.base import FINISHED, Metric
    from mlrun_cli.store.sqlite.store import SqliteStore
    from mlrun_cli.sweeps.prepare import prepare
    from mlrun_cli.sweeps.request import SweepRequest
    from mlrun_cli.sweeps.start import record_sweep
    from mlrun_cli.sweeps.summary import finish_sweep

    req = SweepRequest(
        uri=str(project),
        params={"i": f"range(0,{n},1)"},
        metric="score",
        env_manager="local",
        tracking_uri=str(store),
    )
    index = SqliteStore(store)
    try:
        sweep_id = record_sweep(index, req, prepare(req))
        now = int(time.time() * 1000)
        for trial in index.load_runs(index.tagged(tags.SWEEP_ID, sweep_id)):
            i = int(trial.tags[tags.SWEEP_INDEX])
            index.log_batch(trial.run_id, metrics=[Metric("score", i % 97, 0, now)])
            index.set_terminated(trial.run_id, FINISHED, now + 1000, 0)
        finish_sweep(index, sweep_id, None)
    finally:
        index.close()
    return sweep_id


def trial_overhead(proj: Path, trials: int, jobs: int) -> Figure:
    one = median(time_command(["bash", "-c", "true 1"], repeat=10))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "-q", "sweep", str(proj),
         "-P", f"i=range(0,{trials},1)", "-j", str(jobs), "--env-manager", "local"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise CommandFailed(proc.stderr[-2000:])
    ideal = trials * one / jobs
    per_trial = (wall - ideal) / trials * 1000
    print(
        f"{trials}-trial no-op sweep at -j {jobs}: {wall:.2f} s (ideal {ideal:.2f} s); "
        f"overhead per trial {per_trial:.1f} ms",
        flush=True,
    )
    return figure(
        f"sweep of {trials} no-op trials at -j {jobs}: overhead per trial",
        per_trial,
        "ms",
        "the no-op command's own time",
        one * 1000,
        at_most=TARGET_PER_TRIAL_MS,
    )


def run(
    trials: int = 200, jobs: int = 2, show_trials: int = 10_000, repeat: int = 5
) -> list[Figure]:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = write_project(root / "proj", MLPROJECT)
        with scoped_env(
            MLRUN_CACHE_DIR=str(root / "cache"), MLRUN_TRACKING_URI=str(root / "store")
        ):
            figures = [trial_overhead(proj, trials, jobs)]
            store = root / "big"
            t = time.perf_counter()
            sweep_id = big_sweep(store, proj, show_trials)
            print(f"recorded a {show_trials}-trial sweep in {time.perf_counter() - t:.1f} s")
            show = [sys.executable, "-m", "mlrun_cli", "sweep", "show", sweep_id]
            times = time_interleaved(
                {
                    "python -c pass": python_pass(),
                    f"sweep show ({show_trials} trials) --json": [
                        *show, "--tracking-uri", str(store), "--json"
                    ],
                },
                repeat=repeat,
                warmup=1,
            )  # fmt: skip
    for label, values in times.items():
        report(label, values)
    base, shown = (median(v) for v in times.values())
    figures.append(
        figure(
            f"sweep show --json of {show_trials:,} trials",
            shown,
            "s",
            "python -c pass",
            base,
            below=TARGET_SHOW_S,
        )
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--show-trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {
        "trials": args.trials,
        "jobs": args.jobs,
        "show_trials": args.show_trials,
        "repeat": args.repeat,
    }
    standalone("sweep", run, sizes, json_file=args.json)


if __name__ == "__main__":
    main()
