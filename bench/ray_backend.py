"""Ray backend costs on a one-node Ray cluster started here (needs `ray[default]`).

1. Submitting a 20-trial sweep (`mlrun sweep --backend ray --detach -j 20`: plan, 20
   SCHEDULED runs, a staged snapshot, 20 Ray jobs) against 20 plain `ray job submit --no-wait`
   calls, alternated in the same run.
2. One status poll of 200 submitted trials (`mlrun runs status --sweep`: one `list_jobs` for
   all, then every run folder) against asking Ray job by job (`ray job status` from the
   shell, estimated from a sample; `get_job_status` in one process) and against one bare
   `list_jobs` call. mlrun's figure includes starting Python and importing `ray` (~0.6 s).

Every job asks for more CPUs than the cluster has, so it stays PENDING and nothing runs: the
figures are the submitting side's cost. No targets are set: the baselines are what a person
would do by hand.

    python bench/ray_backend.py [--trials 20] [--poll-trials 200] [--repeat 3] [--poll-repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
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

# No REQUIRES: the ray on PATH is not the point, the one beside this Python is (the
# cluster helper finds it there); a missing or broken one is a Skip from `run`.
REQUIRES: tuple[str, ...] = ()
QUICK = {"trials": 20, "poll_trials": 200, "repeat": 1, "poll_repeat": 2}
INFEASIBLE_CPUS = 10_000  # more than the cluster has: the job stays PENDING
CLI_SAMPLE = 5  # `ray job status` calls timed to estimate polling job by job from the shell

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


# Timed in a child process, so the benchmark's own process never imports the Ray client
# (bench/all.py runs every benchmark in one process).
CLIENT_TIMING = """
import json, sys, time
from ray.job_submission import JobSubmissionClient
address, group, count, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = JobSubmissionClient(address)
ids = [f"{group}_{i}" for i in range(count)]
lists, per_job = [], []
for _ in range(repeat):
    t0 = time.perf_counter(); listed = client.list_jobs(); lists.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for job_id in ids:
        client.get_job_status(job_id)
    per_job.append(time.perf_counter() - t0)
print(json.dumps({"lists": lists, "per_job": per_job, "jobs": len(listed)}))
"""


def run(
    trials: int = 20,
    poll_trials: int = 200,
    repeat: int = 3,
    poll_repeat: int = 5,
    quick: bool = False,
) -> list[Figure]:
    if quick:
        return run(**QUICK)
    sys.path.insert(0, str(REPO))
    from tests.ray_cluster import LocalRay, RayUnavailable

    compile_package()
    head = LocalRay(cpus=2)
    try:
        head.start()
    except RayUnavailable as exc:
        raise Skip(f"the one-node Ray cluster did not start: {exc}") from None
    print(f"   (the Ray head answered after {head.started_in:.1f} s)", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return measure(Path(tmp), head, trials, poll_trials, repeat, poll_repeat)
    finally:
        head.stop()


def measure(
    root: Path, head: Any, trials: int, poll_trials: int, repeat: int, poll_repeat: int
) -> list[Figure]:
    work = root / "work"
    project = work / "project"
    project.mkdir(parents=True)
    (project / "MLproject").write_text(MLPROJECT)
    env = {
        **os.environ,
        "MLRUN_CACHE_DIR": str(root / "cache"),
        "MLRUN_TRACKING_URI": str(work / ".mlrun"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    mlrun = [sys.executable, "-m", "mlrun_cli", "-q"]
    config = json.dumps({"address": head.address, "num_cpus": INFEASIBLE_CPUS})
    ray_cli = [str(Path(sys.executable).parent / "ray")]

    def sweep(first: int, count: int) -> tuple[float, str]:
        return timed(
            [*mlrun, "sweep", str(project), "-P", f"i=range({first},{first + count})",
             "-j", str(count), "--env-manager", "local", "--backend", "ray",
             "--backend-config", config, "--detach", "--json"],
            env, work,
        )  # fmt: skip

    print(f"== submitting {trials} trials", flush=True)
    sweeps, plains = [], []
    for k in range(repeat):
        sweeps.append(sweep(k * trials, trials)[0])  # a new sweep each time
        t0 = time.perf_counter()
        for _ in range(trials):
            timed(
                [*ray_cli, "job", "submit", "--address", head.address, "--no-wait",
                 f"--entrypoint-num-cpus={INFEASIBLE_CPUS}", "--", "true"],
                env, work,
            )  # fmt: skip
        plains.append(time.perf_counter() - t0)
    print(f"mlrun sweep --backend ray --detach ({trials} trials)  median {median(sweeps):6.2f} s")
    print(f"{trials} x ray job submit --no-wait                  median {median(plains):6.2f} s")

    print(f"== one status poll of {poll_trials} trials", flush=True)
    submitted = json.loads(sweep(10 * max(trials, poll_trials), poll_trials)[1])
    status = [*mlrun, "runs", "status", "--sweep", submitted["sweep_id"], "--json"]
    polls = [timed(status, env, work)[0] for _ in range(poll_repeat)]
    _, out = timed(
        [sys.executable, "-c", CLIENT_TIMING, head.address, submitted["job_ids"][0],
         str(poll_trials), str(poll_repeat)],
        env, work,
    )  # fmt: skip
    t0 = time.perf_counter()
    for i in range(CLI_SAMPLE):
        timed(
            [*ray_cli, "job", "status", "--address", head.address,
             f"{submitted['job_ids'][0]}_{i}"],
            env, work,
        )  # fmt: skip
    per_cli = (time.perf_counter() - t0) / CLI_SAMPLE * poll_trials
    client = json.loads(out.strip().splitlines()[-1])
    lists, per_job, listed = client["lists"], client["per_job"], client["jobs"]
    print(f"   ({listed} jobs in the cluster)")
    print(f"mlrun runs status --sweep ({poll_trials} trials)     median {median(polls):6.2f} s")
    print(f"get_job_status job by job ({poll_trials} calls)       median {median(per_job):6.2f} s")
    print(f"one list_jobs ({listed} jobs)                  median {median(lists):6.3f} s")
    print(
        f"ray job status job by job, {poll_trials} calls (from {CLI_SAMPLE})      {per_cli:6.2f} s"
    )
    return [
        figure(
            f"mlrun sweep --backend ray --detach, {trials} trials",
            median(sweeps),
            "s",
            f"{trials} x ray job submit --no-wait",
            median(plains),
            head_to_head=True,
        ),
        figure(
            f"mlrun runs status --sweep, {poll_trials} Ray trials",
            median(polls),
            "s",
            f"get_job_status job by job, {poll_trials} calls in one process",
            median(per_job),
            head_to_head=True,
        ),
        figure(
            f"mlrun runs status --sweep, {poll_trials} Ray trials (vs the ray CLI)",
            median(polls),
            "s",
            f"ray job status job by job, {poll_trials} calls (from {CLI_SAMPLE})",
            per_cli,
            head_to_head=True,
        ),
        figure(
            f"mlrun runs status --sweep, {poll_trials} Ray trials (vs one list_jobs)",
            median(polls),
            "s",
            f"one list_jobs call ({listed} jobs), in process",
            median(lists),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--poll-trials", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll-repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the sizes bench/all.py --quick uses")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes: dict[str, Any] = {
        "trials": args.trials,
        "poll_trials": args.poll_trials,
        "repeat": args.repeat,
        "poll_repeat": args.poll_repeat,
    }
    if args.quick:
        sizes = dict(QUICK)
    standalone("ray_backend", run, sizes, REQUIRES, json_file=args.json)


if __name__ == "__main__":
    main()
