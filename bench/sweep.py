"""Sweeps: per-trial overhead of a 200-trial no-op sweep at -j 2, and `sweep show` of 10,000 trials.

overhead per trial = (sweep wall - ideal wall of the trials) / trials, where the ideal wall
is trials x (the no-op command's own time) / jobs, measured in the same run. Targets: at most
0.05 s per trial; `sweep show` of a 10,000-trial sweep under 0.5 s.

    python bench/sweep.py [--trials 200] [--jobs 2] [--show-trials 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_package, median, report, time_command

MLPROJECT = """name: b
entry_points:
  main:
    parameters: {i: int}
    command: "true {i}"
"""


def big_sweep(store: Path, n: int) -> str:
    """A finished 10,000-trial sweep, written straight into the store."""
    from mlrun_cli.store.base import NewRun
    from mlrun_cli.store.sqlite.store import SqliteStore

    s = SqliteStore(store)
    sweep_id = "f" * 32
    s.create_run(
        NewRun(
            sweep_id,
            "0",
            "big",
            "b",
            "mlrun sweep",
            {},
            {"mlrun.sweep": "true", "mlrun.sweep.count": str(n)},
            start_time=1,
            status="FINISHED",
        )
    )
    spec = {
        "uri": ".",
        "varying": ["i"],
        "metric": "score",
        "goal": "maximize",
        "method": "grid",
        "count": n,
        "seed": 0,
    }
    (s.artifact_dir(sweep_id) / "sweep.json").write_text(json.dumps(spec))
    conn = sqlite3.connect(store / "mlrun.db")
    conn.execute("BEGIN")
    for i in range(n):
        rid = f"{i:032x}"
        conn.execute(
            "INSERT INTO runs (run_id, experiment_id, name, status, start_time, end_time) "
            "VALUES (?, 0, ?, 'FINISHED', ?, ?)",
            (rid, f"t{i}", 1000 + i, 2000 + i),
        )
        conn.execute("INSERT INTO params VALUES (?, 'i', ?)", (rid, str(i)))
        for key, value in (
            ("mlrun.sweep.id", sweep_id),
            ("mlrun.sweep.index", str(i)),
            ("mlflow.parentRunId", sweep_id),
        ):
            conn.execute("INSERT INTO tags VALUES (?, ?, ?)", (rid, key, value))
        conn.execute(
            "INSERT INTO metrics VALUES (?, 'score', ?, 0, 1, NULL, NULL, NULL)", (rid, i % 97)
        )
        conn.execute("INSERT INTO latest_metrics VALUES (?, 'score', ?, 0, 1)", (rid, i % 97))
    conn.execute("COMMIT")
    conn.close()
    return sweep_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--show-trials", type=int, default=10_000)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proj = root / "proj"
        proj.mkdir()
        (proj / "MLproject").write_text(MLPROJECT)
        os.environ["MLRUN_CACHE_DIR"] = str(root / "cache")
        os.environ["MLRUN_TRACKING_URI"] = str(root / "store")
        one = median(time_command(["bash", "-c", "true 1"], repeat=10))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlrun_cli",
                "-q",
                "sweep",
                str(proj),
                "-P",
                f"i=range(0,{args.trials},1)",
                "-j",
                str(args.jobs),
                "--env-manager",
                "local",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        ideal = args.trials * one / args.jobs
        print(
            f"{args.trials}-trial no-op sweep at -j {args.jobs}: {wall:.2f} s "
            f"(ideal {ideal:.2f} s); overhead per trial {(wall - ideal) / args.trials * 1000:.1f} ms "
            "(target <= 50 ms)"
        )
        store = root / "big"
        sweep_id = big_sweep(store, args.show_trials)
        base = time_command([sys.executable, "-c", "pass"], repeat=5)
        shown = time_command(
            [
                sys.executable,
                "-m",
                "mlrun_cli",
                "sweep",
                "show",
                sweep_id,
                "--tracking-uri",
                str(store),
                "--json",
            ],
            repeat=5,
            warmup=1,
        )
        report("python -c pass", base)
        report(f"sweep show ({args.show_trials} trials) --json", shown)
        print(f"  -> {median(shown):.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()
