"""Warm overhead of running from git: `mlrun run file://<repo> --version <sha> -e noop` with the
clone cached, against `mlrun run <local dir> -e noop` (a plain directory, and a git work
tree) and `python -c pass`, interleaved in the same run. No targets are set: the figures
say what a git source costs over a plain folder.

    python bench/git_source.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
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
    write_project,
)

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: 'true'\n"
QUICK = {"repeat": 5}


def git_repo(repo: Path) -> str:
    """A one-commit repository with the project; returns the commit's SHA."""
    write_project(repo, MLPROJECT)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def run(repeat: int = 15) -> list[Figure]:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = write_project(root / "plain", MLPROJECT)
        repo = root / "repo"
        sha = git_repo(repo)
        mlrun = [sys.executable, "-m", "mlrun_cli", "run"]
        times = time_interleaved(
            {
                "python -c pass": python_pass(),
                "mlrun run <plain dir> -e noop": [*mlrun, str(plain), "-e", "noop"],
                "mlrun run <git work tree> -e noop": [*mlrun, str(repo), "-e", "noop"],
                "mlrun run file://<repo> --version <sha> (cached)": [
                    *mlrun, f"file://{repo}", "--version", sha, "-e", "noop"
                ],
            },
            repeat=repeat,
            cwd=root,
            env={"MLRUN_CACHE_DIR": str(root / "cache"), "MLRUN_TRACKING_URI": str(root / "store")},
        )  # fmt: skip
    for label, values in times.items():
        report(label, values)
    base, local, worktree, remote = (median(v) * 1000 for v in times.values())
    return [
        figure(
            "mlrun run <plain dir> -e noop: overhead", local - base, "ms", "python -c pass", base
        ),
        figure(
            "mlrun run <git work tree> -e noop: overhead",
            worktree - base,
            "ms",
            "mlrun run <plain dir>, overhead",
            local - base,
        ),
        figure(
            "mlrun run file://<repo> --version <sha> (clone cached): overhead",
            remote - base,
            "ms",
            "mlrun run <plain dir>, overhead",
            local - base,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    standalone("git_source", run, {"repeat": args.repeat}, json_file=args.json)


if __name__ == "__main__":
    main()
