"""Slurm backend costs on a one-node cluster started here (needs root, slurm-wlm and munge).

1. Submitting a 100-trial sweep (`mlrun sweep --backend slurm --detach`: plan, 100 SCHEDULED
   runs, a staged snapshot, one job array) against the baseline of 100 plain `sbatch` calls.
2. One status poll of 1,000 submitted trials (`mlrun runs status --sweep`: one `squeue` for all,
   then every run folder) against one `squeue` call and against polling job by job.

Jobs are submitted held (`--hold`), so nothing runs and the cluster stays idle.

    python bench/slurm.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._common import compile_package, median  # noqa: E402
from tests.slurm_cluster import LocalSlurm  # noqa: E402

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
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cluster = LocalSlurm(root / "cluster", cpus=2, min_job_age=300)
        cluster.start()
        try:
            run(root, cluster)
        finally:
            cluster.stop()


def run(root: Path, cluster: LocalSlurm) -> None:
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

    print("== submitting 100 trials")
    sweeps, plains = [], []
    for k in range(3):
        trials = f"i=range({k * 100},{k * 100 + 100})"  # a new sweep each time
        elapsed, _ = timed(
            [*mlrun, "sweep", str(project), "-P", trials, "--env-manager", "local",
             "--backend", "slurm", "--backend-config", held, "--detach", "--json"],
            env, work,
        )  # fmt: skip
        sweeps.append(elapsed)
        t0 = time.perf_counter()
        for _ in range(100):
            subprocess.run(
                ["sbatch", "--parsable", "--hold", "-o", "/dev/null", str(script)],
                env=env,
                check=True,
                capture_output=True,
            )
        plains.append(time.perf_counter() - t0)
        cluster.run("scancel", "--user=root")
    print(f"mlrun sweep --backend slurm --detach (100 trials)  median {median(sweeps):6.2f} s")
    print(f"100 x sbatch --parsable                           median {median(plains):6.2f} s")
    print(f"ratio: {median(plains) / median(sweeps):.1f}x faster than one sbatch per trial")

    print("== one status poll of 1,000 trials")
    _, out = timed(
        [*mlrun, "sweep", str(project), "-P", "i=range(1000,2000)", "--env-manager", "local",
         "--backend", "slurm", "--backend-config", held, "--detach", "--json"],
        env, work,
    )  # fmt: skip
    sweep = json.loads(out)
    polls = [
        timed([*mlrun, "runs", "status", "--sweep", sweep["sweep_id"], "--json"], env, work)[0]
        for _ in range(5)
    ]
    array = sweep["job_ids"][0]
    raw = [
        timed(["squeue", "--noheader", "--state=all", "-r", f"--jobs={array}"], env, work)[0]
        for _ in range(5)
    ]
    t0 = time.perf_counter()
    for i in range(50):
        subprocess.run(
            ["squeue", "--noheader", "--state=all", f"--jobs={array}_{i}"],
            env=env,
            capture_output=True,
        )
    per_job = (time.perf_counter() - t0) / 50 * 1000
    print(f"mlrun runs status --sweep (1,000 trials)          median {median(polls):6.2f} s")
    print(f"one squeue -r for the array (1,000 tasks)         median {median(raw):6.3f} s")
    print(f"squeue job by job, 1,000 calls (from 50)                 {per_job:6.2f} s")
    print(f"ratio: {per_job / median(polls):.1f}x faster than a squeue call per job")
    cluster.run("scancel", "--user=root")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "")
    main()
