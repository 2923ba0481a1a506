"""`mlrun runs list` on a large store: 100,000 runs and 1,000,000 metric points.

The store is generated straight through SQLite (same schema as the embedded store), then
whole commands are timed: the default list, a filtered list, and a list ordered by a metric,
against `python -c pass` in the same run. Target: under 0.5 s.

    python bench/runs_scale.py [--runs 100000] [--points 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_package, median, report, time_command


def generate(root: Path, runs: int, points: int) -> None:
    from mlrun_cli.store.sqlite.store import SqliteStore

    SqliteStore(root).list_experiments()  # creates the schema
    conn = sqlite3.connect(root / "mlrun.db")
    rng = random.Random(0)
    t0 = 1_700_000_000_000
    per_run = max(1, points // runs)
    conn.execute("BEGIN")
    run_rows, param_rows, tag_rows, metric_rows, latest_rows = [], [], [], [], []
    for i in range(runs):
        rid = f"{i:032x}"
        start = t0 + i * 1000
        run_rows.append(
            (
                rid,
                0,
                f"run-{i}",
                "FINISHED",
                start,
                start + 5000,
                0,
                "bench",
                "python t.py",
                "active",
                None,
                None,
            )
        )
        kernel = rng.choice(["linear", "rbf", "poly"])
        param_rows += [(rid, "kernel", kernel), (rid, "C", str(rng.choice([0.1, 1, 10])))]
        tag_rows += [
            (rid, "mlflow.project.entryPoint", "main"),
            (rid, "mlflow.runName", f"run-{i}"),
        ]
        acc = 0.0
        for step in range(per_run):
            acc = min(1.0, acc + rng.random() / per_run * 2)
            metric_rows.append((rid, "accuracy", acc, step, start + step))
        latest_rows.append((rid, "accuracy", acc, per_run - 1, start + per_run - 1))
        if len(metric_rows) > 200_000:
            conn.executemany("INSERT INTO metrics VALUES (?,?,?,?,?)", metric_rows)
            metric_rows.clear()
    conn.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", run_rows)
    conn.executemany("INSERT INTO params VALUES (?,?,?)", param_rows)
    conn.executemany("INSERT INTO tags VALUES (?,?,?)", tag_rows)
    conn.executemany("INSERT INTO metrics VALUES (?,?,?,?,?)", metric_rows)
    conn.executemany("INSERT INTO latest_metrics VALUES (?,?,?,?,?)", latest_rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        t = time.perf_counter()
        generate(store, args.runs, args.points)
        print(
            f"generated {args.runs} runs, {args.points} metric points in {time.perf_counter() - t:.1f} s"
        )
        mlrun = [sys.executable, "-m", "mlrun_cli", "runs", "list", "--tracking-uri", str(store)]
        base = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
        cases = {
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
        report("python -c pass", base)
        for label, extra in cases.items():
            times = time_command([*mlrun, *extra], repeat=args.repeat, warmup=1)
            report(label, times)
            print(f"  -> {median(times):.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()
