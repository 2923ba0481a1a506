"""`mlrun runs list` on a large store: 100,000 runs and 1,000,000 metric points.

The store is generated through the embedded store's public API (`create_experiment`,
`create_runs` in batches, one `log_batch` of each run's metric history, `set_terminated`),
so a schema change cannot break the benchmark silently. Then whole commands are timed,
interleaved with `python -c pass` in the same run: the default list, filtered lists, a list
ordered by a metric, a JSON list. Target: each under 0.5 s.

    python bench/runs_scale.py [--runs 100000] [--points 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Figure,
    compile_package,
    figure,
    median,
    python_pass,
    report,
    standalone,
    time_interleaved,
)

QUICK = {"runs": 5_000, "points": 50_000, "repeat": 3}
TARGET_S = 0.5
BATCH = 2_000  # runs per create_runs call: one transaction each

CASES = {
    "runs list (newest 50)": [],
    "runs list --filter (metric and param)": [
        "--filter",
        "metrics.accuracy > 0.9 and params.kernel = 'linear'",
    ],
    "runs list --filter (selective: scans all runs)": [
        "--filter",
        "metrics.accuracy < 0.05 and params.C = '10'",
    ],
    "runs list --order-by metrics.accuracy DESC": ["--order-by", "metrics.accuracy DESC"],
    "runs list --json --limit 1000": ["--json", "--limit", "1000"],
}


def generate(root: Path, runs: int, points: int) -> None:
    """`runs` FINISHED runs with two params, two tags and `points` accuracy points in all."""
    from mlrun_cli import tags
    from mlrun_cli.store.base import FINISHED, Metric, NewRun
    from mlrun_cli.store.sqlite.store import SqliteStore

    store = SqliteStore(root)
    try:
        experiment = store.create_experiment("bench-scale").experiment_id
        rng = random.Random(0)
        t0 = 1_700_000_000_000
        per_run = max(1, points // runs)
        for first in range(0, runs, BATCH):
            store.create_runs(
                [
                    NewRun(
                        run_id=f"{i:032x}",
                        experiment_id=experiment,
                        name=f"run-{i}",
                        user="bench",
                        command="python t.py",
                        params={
                            "kernel": rng.choice(["linear", "rbf", "poly"]),
                            "C": str(rng.choice([0.1, 1, 10])),
                        },
                        tags={tags.ENTRY_POINT: "main", tags.RUN_NAME: f"run-{i}"},
                        start_time=t0 + i * 1000,
                        status=FINISHED,
                    )
                    for i in range(first, min(runs, first + BATCH))
                ]
            )
        for i in range(runs):
            rid, start = f"{i:032x}", t0 + i * 1000
            acc, history = 0.0, []
            for step in range(per_run):
                acc = min(1.0, acc + rng.random() / per_run * 2)
                history.append(Metric("accuracy", acc, step, start + step))
            store.log_batch(rid, metrics=history)
            store.set_terminated(rid, FINISHED, start + 5000, 0)
    finally:
        store.close()


def run(runs: int = 100_000, points: int = 1_000_000, repeat: int = 5) -> list[Figure]:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        t = time.perf_counter()
        generate(store, runs, points)
        generation = time.perf_counter() - t
        print(f"generated {runs} runs, {points} metric points in {generation:.1f} s", flush=True)
        mlrun = [sys.executable, "-m", "mlrun_cli", "runs", "list", "--tracking-uri", str(store)]
        commands = {"python -c pass": python_pass()}
        commands.update({label: [*mlrun, *extra] for label, extra in CASES.items()})
        cache = {"MLRUN_CACHE_DIR": str(Path(tmp) / "cache")}
        times = time_interleaved(commands, repeat=repeat, warmup=1, env=cache)
    for label, values in times.items():
        report(label, values)
    base = median(times.pop("python -c pass"))
    figures = [
        figure(
            f"{label} ({runs:,} runs)", median(values), "s", "python -c pass", base, below=TARGET_S
        )
        for label, values in times.items()
    ]
    figures.append(
        figure(f"generate {runs:,} runs, {points:,} points (store API)", generation, "s")
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"runs": args.runs, "points": args.points, "repeat": args.repeat}
    standalone("runs_scale", run, sizes, json_file=args.json)


if __name__ == "__main__":
    main()
