"""`mlrun ui` at scale, in a real headless Chromium (the distribution's, driven by Playwright).

The store: 10,000 runs (10 params, 10 metrics of 100 steps each), one run with a
1,000,000-point metric, and 10 runs with 10 metrics of 10,000 steps each (MLflow #9779:
10 charts x 10 runs x 10k steps froze its page for minutes). Generated through the store's
public API (`create_runs` in batches, one `log_batch` per run).

Figures: `mlrun ui` start to the first byte of `/`; the runs table from navigation to rows on
screen (the page's own performance mark); the 1M-point chart from navigation to drawn; the
#9779 case (compare page, all 10 charts in view) from navigation to the last chart drawn; the
page's weight gzipped. Where an MLflow virtualenv is ready, `mlflow server` start to /health
in the same run, for the ratio. Targets: 0.5 s, 1 s, 0.5 s, 1 s, 150 KB.

    python bench/ui.py [--runs 10000] [--steps 100] [--big 1000000] [--case-steps 10000]
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    mlflow_venv_dir,
    report,
    standalone,
    start_mlflow_server,
    stop_server,
)

REQUIRES = ("browser",)
QUICK = {
    "runs": 500,
    "steps": 100,
    "big": 100_000,
    "case_steps": 2_000,
    "repeat": 2,
    "mlflow": False,
}
CHROMIUM = os.environ.get("MLRUN_BENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
BATCH = 1_000
BIG = "b" * 32
CASE = [f"{i:02d}" + "c" * 30 for i in range(10)]


def generate(root: Path, runs: int, steps: int, big: int, case_steps: int) -> str:
    """The store; returns the id of the experiment of the many runs."""
    from mlrun_cli.store.base import FINISHED, Metric, NewRun
    from mlrun_cli.store.sqlite.store import SqliteStore

    store = SqliteStore(root)
    rng = random.Random(0)
    t0 = 1_700_000_000_000
    try:
        exp = store.create_experiment("many").experiment_id
        other = store.create_experiment("long").experiment_id

        def new(rid: str, e: str, name: str, i: int, params: dict[str, str]) -> NewRun:
            return NewRun(rid, e, name, "bench", "python t.py", params, {}, t0 + i * 1000, FINISHED)

        for first in range(0, runs, BATCH):
            batch = range(first, min(runs, first + BATCH))
            store.create_runs(
                [
                    new(
                        f"{i:032x}",
                        exp,
                        f"run-{i}",
                        i,
                        {f"p{k}": str(rng.choice([0.1, 1, 10, 100])) for k in range(10)},
                    )
                    for i in batch
                ]
            )
            for i in batch:
                start = t0 + i * 1000
                store.log_batch(
                    f"{i:032x}",
                    metrics=[
                        Metric(f"m{k}", rng.random() / (1 + s), s, start + s)
                        for k in range(10)
                        for s in range(steps)
                    ],
                )
        store.create_runs(
            [new(BIG, other, "one-million", runs, {})]
            + [
                new(rid, other, f"long-{n}", runs + 1 + n, {"seed": str(n)})
                for n, rid in enumerate(CASE)
            ]
        )
        for first in range(0, big, 200_000):
            store.log_batch(
                BIG,
                metrics=[
                    Metric("loss", math.sin(s / 5000) + 1.5 + rng.random() * 0.1, s, t0 + s)
                    for s in range(first, min(big, first + 200_000))
                ],
            )
        for n, rid in enumerate(CASE):
            store.log_batch(
                rid,
                metrics=[
                    Metric(f"m{k}", (n + 1) / (1 + s / 100) + rng.random() * 0.01, s, t0 + s)
                    for k in range(10)
                    for s in range(case_steps)
                ],
            )
        return exp
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(root: Path, cache: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """`mlrun ui` on a free port; (process, URL, seconds from start to the first byte of /)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLRUN_CACHE_DIR": str(cache)}
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "ui", "--port", str(port), "--tracking-uri", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
    )  # fmt: skip
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as r:
                r.read(1)
            return proc, url, time.perf_counter() - t
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t > 60:
                proc.kill()
                raise RuntimeError("mlrun ui did not start") from None
            time.sleep(0.005)


def page_weight() -> int:
    """Bytes of the page's files gzipped, as the server sends them."""
    static = REPO / "mlrun_cli" / "ui" / "static"
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in static.iterdir() if p.is_file())


def mark_time(page: Any, url: str, mark: str, count: int = 1, timeout: float = 120_000) -> float:
    """Seconds from navigation to the `count`-th performance mark `mark`."""
    page.goto(url)
    page.wait_for_function(
        f"performance.getEntriesByName('{mark}').length >= {count}", timeout=timeout
    )
    entries = page.evaluate(f"performance.getEntriesByName('{mark}').map(e => e.startTime)")
    return float(sorted(entries)[count - 1]) / 1000


def browser_figures(url: str, exp: str, repeat: int) -> dict[str, list[float]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise Skip("playwright is not installed (pip install playwright)") from None
    if not Path(CHROMIUM).exists():
        raise Skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    times: dict[str, list[float]] = {"table": [], "big": [], "case": []}
    compare = url + "/compare?runs=" + ",".join(CASE)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            # bypass_csp: our wait_for_function is an evaluated string, which the page's CSP refuses
            page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            tall = browser.new_page(viewport={"width": 1280, "height": 4000}, bypass_csp=True)
            for attempt in range(repeat + 1):  # the first of each is a warm-up
                for key, pg, target, mark, count in (
                    ("table", page, f"{url}/?exp={exp}", "mlrun:rows-on-screen", 1),
                    ("big", page, f"{url}/runs/{BIG}", "mlrun:chart-drawn", 1),
                    ("case", tall, compare, "mlrun:chart-drawn", 10),
                ):
                    t = mark_time(pg, target, mark, count)
                    if attempt:
                        times[key].append(t)
        finally:
            browser.close()
    return times


def mlflow_health() -> float | None:
    venv = mlflow_venv_dir(build=False)
    if venv is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-ui-mlflow-") as tmp:
        t = time.perf_counter()
        server, _ = start_mlflow_server(venv, Path(tmp))
        elapsed = time.perf_counter() - t
        stop_server(server)
    return elapsed


def run(
    runs: int = 10_000,
    steps: int = 100,
    big: int = 1_000_000,
    case_steps: int = 10_000,
    repeat: int = 3,
    mlflow: bool = True,  # quick mode starts no MLflow server (it takes 15-40 s)
) -> list[Figure]:
    compile_package()
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-ui-") as tmp:
        root, cache = Path(tmp) / "store", Path(tmp) / "cache"
        t = time.perf_counter()
        exp = generate(root, runs, steps, big, case_steps)
        generation = time.perf_counter() - t
        print(
            f"generated {runs} runs x 10 metrics x {steps} steps, {big} points, 10x10x{case_steps} in {generation:.1f} s",
            flush=True,
        )
        starts = []
        for _ in range(repeat + 1):
            proc, url, up = start_ui(root, cache)
            proc.terminate()
            proc.wait(10)
            starts.append(up)
        starts = starts[1:]  # the first start compiles nothing but warms the page cache
        proc, url, _ = start_ui(root, cache)
        try:
            times = browser_figures(url, exp, repeat)
        finally:
            proc.terminate()
            proc.wait(10)
    health = mlflow_health() if mlflow else None
    report("mlrun ui start to first byte", starts)
    for key, values in times.items():
        report(key, values)
    up = median(starts)
    figures = [
        figure(
            "mlrun ui: start to first byte",
            up,
            "s",
            "mlflow server: start to /health" if health else None,
            health,
            below=0.5,
            head_to_head=True,
        ),
        figure(
            f"runs table of {runs:,} runs: navigation to rows on screen",
            median(times["table"]),
            "s",
            at_most=1.0,
        ),
        figure(
            f"chart of a {big:,}-point metric: navigation to drawn",
            median(times["big"]),
            "s",
            at_most=0.5,
        ),
        figure(
            f"10 charts x 10 runs x {case_steps:,} steps: navigation to all drawn",
            median(times["case"]),
            "s",
            at_most=1.0,
        ),
        figure("page weight, gzipped", page_weight() / 1000, "KB", at_most=150),
        figure("generate the store (store API)", generation, "s"),
    ]
    if health:
        figures.append(figure("mlflow server: start to /health", health, "s"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--case-steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {
        "runs": args.runs,
        "steps": args.steps,
        "big": args.big,
        "case_steps": args.case_steps,
        "repeat": args.repeat,
    }
    standalone("ui", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
