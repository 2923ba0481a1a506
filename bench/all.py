"""Run every benchmark in bench/ and report its figures as one table (and as data).

    python bench/all.py [--quick] [--json FILE] [--markdown FILE] [--only NAME]... [--strict]

Each `bench/<name>.py` (none starting with `_`) is a benchmark: see `_common.py` for what it
provides. `--quick` passes each one its small `QUICK` sizes and builds nothing slow (no
MLflow virtualenv): the whole set takes a few minutes on 2 cores. A benchmark whose engine is
missing (mlflow, Slurm, Docker, Ray, a browser) is skipped with the reason.

Exit status: 1 when a benchmark crashed (a command failed, an exception): a broken benchmark
fails the build. A missed target is reported, and fails only with `--strict` (status 2):
quick sizes on a shared machine are not the measurement.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import (  # noqa: E402
    REPO,
    Figure,
    Skip,
    keep_mlflow_servers,
    missing_engine,
    print_figure,
    show_met,
    show_ratio,
    show_value,
)


@dataclass
class Outcome:
    """What one benchmark did: ran (its figures), skipped (why) or crashed (the error)."""

    name: str
    status: str = "ok"  # ok | skipped | crashed
    seconds: float = 0.0
    reason: str = ""
    figures: list[Figure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "reason": self.reason,
            "command": command_of(self.name),
            "figures": [f.as_dict() for f in self.figures],
        }


def discover() -> list[str]:
    return sorted(
        p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.stem != "all"
    )


def command_of(name: str) -> str:
    """The command that reproduces one benchmark's full-size figures."""
    return f"python bench/{name}.py"


def run_one(name: str, quick: bool) -> Outcome:
    """Import and run one benchmark; its environment and working directory are put back."""
    outcome = Outcome(name)
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    t0 = time.perf_counter()
    try:
        module: ModuleType = importlib.import_module(name)
        reason = missing_engine(getattr(module, "REQUIRES", ()), quick=quick)
        if reason:
            raise Skip(reason)
        sizes = dict(getattr(module, "QUICK", {})) if quick else {}
        print(f"== {name}" + (f" (quick: {sizes})" if quick else ""), flush=True)
        outcome.figures = list(module.run(**sizes))
        if not outcome.figures:
            raise RuntimeError(f"{name}.run() returned no figures")
        for fig in outcome.figures:
            fig.benchmark = name
    except Skip as exc:
        outcome.status, outcome.reason = "skipped", str(exc)
        print(f"== {name}: skipped: {exc}", flush=True)
    except (Exception, SystemExit) as exc:
        outcome.status = "crashed"
        outcome.reason = f"{type(exc).__name__}: {exc}".strip()[:2000]
        print(f"== {name}: CRASHED", flush=True)
        traceback.print_exc()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        outcome.seconds = time.perf_counter() - t0
    return outcome


def machine() -> dict[str, Any]:
    """Where the figures were measured: cores, load, CPU, Python, the commit."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*argv: str) -> str:
        proc = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    """The figures as the table of docs/performance.md."""
    rows = [
        "| figure | value | baseline (same run) | ratio | target | met | reproduce |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for out in outcomes:
        for f in out.figures:
            baseline = (
                f"{f.baseline}: {show_value(f.baseline_value, f.unit)}" if f.baseline else "-"
            )
            rows.append(
                f"| {f.name} | {show_value(f.value, f.unit)} | {baseline} | "
                f"{show_ratio(f.ratio, f.head_to_head)} | {f.target or 'none set'} | "
                f"{show_met(f)} | `{command_of(out.name)}` |"
            )
        if out.status != "ok":
            rows.append(
                f"| {out.name}: {out.status} | - | - | - | - | - | `{command_of(out.name)}` |"
            )
    return "\n".join(rows) + "\n"


def summary(outcomes: Sequence[Outcome], wall: float, quick: bool) -> None:
    print("\n== figures" + (" (quick sizes: targets are indicative only)" if quick else ""))
    for out in outcomes:
        for fig in out.figures:
            print_figure(fig)
    for out in outcomes:
        if out.status != "ok":
            print(f"  {out.name}: {out.status}: {out.reason.splitlines()[0] if out.reason else ''}")
    missed = [f.name for o in outcomes for f in o.figures if f.met is False]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "crashed")}
    print(
        f"== {counts['ok']} ran, {counts['skipped']} skipped, {counts['crashed']} crashed; "
        f"{len(missed)} target(s) missed; {wall:.0f} s in all"
        + "".join(f"\n  {o.name}: {o.seconds:.1f} s" for o in outcomes)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing slow built")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the figures' table to FILE")
    parser.add_argument("--only", action="append", metavar="NAME", help="only this benchmark")
    parser.add_argument("--strict", action="store_true", help="a missed target fails (exit 2)")
    args = parser.parse_args(argv)
    names = discover()
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (there are: {', '.join(names)})")
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    before = machine()
    t0 = time.perf_counter()
    with keep_mlflow_servers():  # one server start per run of the set, not per benchmark
        outcomes = [run_one(n, args.quick) for n in names if not args.only or n in args.only]
    wall = time.perf_counter() - t0
    summary(outcomes, wall, args.quick)
    after = os.getloadavg()
    if args.json:
        data = {
            "schema": "mlrun.bench/1",
            "date": started,
            "quick": args.quick,
            "command": " ".join(["python", "bench/all.py", *(argv or sys.argv[1:])]),
            "seconds": round(wall, 1),
            "machine": {**before, "load_average_after": [round(x, 2) for x in after]},
            "benchmarks": [o.as_dict() for o in outcomes],
        }
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(outcomes))
    if any(o.status == "crashed" for o in outcomes):
        return 1
    if args.strict and any(f.met is False for o in outcomes for f in o.figures):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
