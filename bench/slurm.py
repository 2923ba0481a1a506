"""Slurm backend costs on a one-node cluster started here (needs root, slurm-wlm and munge).

1. Submitting a 100-trial sweep (`mlrun sweep --backend slurm --detach`: plan, 100 SCHEDULED
   runs, a staged snapshot, one job array) against the baseline of 100 plain `sbatch` calls,
   alternated in the same run.
2. One status poll of 1,000 submitted trials (`mlrun runs status --sweep`: one `squeue` for all,
   then every run folder) against one `squeue` call and against polling job by job.

Jobs are submitted held (`--hold`), so nothing runs and the cluster stays idle. No targets are
set: the figures compare with what a person would do by hand.

    python bench/slurm.py [--trials 100] [--poll-trials 1000] [--repeat 3] [--poll-repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    CommandFailed,
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    standalone,
)

REQUIRES = ("slurm",)
QUICK = {"trials": 50, "poll_trials": 200, "repeat": 1, "poll_repeat": 2}
PER_JOB_SAMPLE = 50  # squeue calls timed to estimate polling job by job

MLPROJECT = """
name: bench
entry_points:
  main:
    parameters:
      i: {type: int, default: 0}
    command: "true {i}"
"""


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} failed: {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def line(label: str, seconds: float) -> None:
    print(f"{label:<52} {seconds * 1000:8.1f} ms", flush=True)


def run(
    trials: int = 100, poll_trials: int = 1000, repeat: int = 3, poll_repeat: int = 5
) -> list[Figure]:
    sys.path.insert(0, str(REPO))
    from tests.slurm_cluster import ClusterUnavailable, LocalSlurm

    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cluster = LocalSlurm(root / "cluster", cpus=2, min_job_age=300)
        try:
            cluster.start()
        except ClusterUnavailable as exc:
            raise Skip(f"the one-node cluster did not start: {exc}") from None
        try:
            return measure(root, cluster, trials, poll_trials, repeat, poll_repeat)
        finally:
            cluster.run("scancel", "--user=root")
            cluster.stop()


def measure(
    root: Path, cluster: Any, trials: int, poll_trials: int, repeat: int, poll_repeat: int
) -> list[Figure]:
    work = root / "work"
    project = work / "project"
    project.mkdir(parents=True)
    (project / "MLproject").write_text(MLPROJECT)
    env = {
        **cluster.env,
        "MLRUN_CACHE_DIR": str(root / "cache"),
        "MLRUN_TRACKING_URI": str(work / ".mlrun"),
    }
    mlrun = [sys.executable, "-m", "mlrun_cli", "-q"]
    held = json.dumps({"extra": ["--hold"]})
    script = root / "plain.sh"
    script.write_text("#!/bin/bash\ntrue\n")

    def sweep(first: int, count: int) -> tuple[float, str]:
        return timed(
            [*mlrun, "sweep", str(project), "-P", f"i=range({first},{first + count})",
             "--env-manager", "local", "--backend", "slurm", "--backend-config", held,
             "--detach", "--json"],
            env, work,
        )  # fmt: skip

    print(f"== submitting {trials} trials", flush=True)
    sweeps, plains = [], []
    for k in range(repeat):
        sweeps.append(sweep(k * trials, trials)[0])  # a new sweep each time
        t0 = time.perf_counter()
        for _ in range(trials):
            subprocess.run(
                ["sbatch", "--parsable", "--hold", "-o", "/dev/null", str(script)],
                env=env,
                check=True,
                capture_output=True,
            )
        plains.append(time.perf_counter() - t0)
        cluster.run("scancel", "--user=root")
    line(f"mlrun sweep --backend slurm --detach ({trials} trials)", median(sweeps))
    line(f"{trials} x sbatch --parsable --hold", median(plains))

    print(f"== one status poll of {poll_trials} trials", flush=True)
    submitted = json.loads(sweep(10 * max(trials, poll_trials), poll_trials)[1])
    status = [*mlrun, "runs", "status", "--sweep", submitted["sweep_id"], "--json"]
    polls = [timed(status, env, work)[0] for _ in range(poll_repeat)]
    array = submitted["job_ids"][0]
    squeue = ["squeue", "--noheader", "--state=all"]
    raw = [timed([*squeue, "-r", f"--jobs={array}"], env, work)[0] for _ in range(poll_repeat)]
    t0 = time.perf_counter()
    for i in range(PER_JOB_SAMPLE):
        subprocess.run([*squeue, f"--jobs={array}_{i}"], env=env, capture_output=True)
    per_job = (time.perf_counter() - t0) / PER_JOB_SAMPLE * poll_trials
    line(f"mlrun runs status --sweep ({poll_trials} trials)", median(polls))
    line(f"one squeue -r for the array ({poll_trials} tasks)", median(raw))
    line(f"squeue job by job, {poll_trials} calls (from {PER_JOB_SAMPLE})", per_job)
    return [
        figure(
            f"mlrun sweep --backend slurm --detach, {trials} trials",
            median(sweeps),
            "s",
            f"{trials} x sbatch --parsable --hold",
            median(plains),
            head_to_head=True,
        ),
        figure(
            f"mlrun runs status --sweep, {poll_trials:,} Slurm trials",
            median(polls),
            "s",
            f"squeue job by job, {poll_trials:,} calls (from {PER_JOB_SAMPLE})",
            per_job,
            head_to_head=True,
        ),
        figure(
            f"mlrun runs status --sweep, {poll_trials:,} Slurm trials (vs one squeue)",
            median(polls),
            "s",
            f"one squeue -r of the {poll_trials:,}-task array",
            median(raw),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--poll-trials", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll-repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {
        "trials": args.trials,
        "poll_trials": args.poll_trials,
        "repeat": args.repeat,
        "poll_repeat": args.poll_repeat,
    }
    standalone("slurm", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
