"""Warm overhead of running from git: `mlrun run file://<repo> --version <sha> -e noop` with the
clone cached, against `mlrun run <local dir> -e noop` (a plain directory, and a git work
tree) and `python -c pass`, measured in the same run.

    python bench/git_source.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_package, median, report, time_command

MLPROJECT = "name: bench\nentry_points:\n  noop:\n    command: 'true'\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = root / "plain"
        plain.mkdir()
        (plain / "MLproject").write_text(MLPROJECT)
        repo = root / "repo"
        repo.mkdir()
        (repo / "MLproject").write_text(MLPROJECT)
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
        subprocess.run([*git, "add", "."], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        os.environ["MLRUN_CACHE_DIR"] = str(root / "cache")
        os.environ["MLRUN_TRACKING_URI"] = str(root / "store")
        mlrun = [sys.executable, "-m", "mlrun_cli", "run"]
        base = time_command([sys.executable, "-c", "pass"], repeat=args.repeat)
        local = time_command([*mlrun, str(plain), "-e", "noop"], repeat=args.repeat, cwd=root)
        worktree = time_command([*mlrun, str(repo), "-e", "noop"], repeat=args.repeat, cwd=root)
        remote = time_command(
            [*mlrun, f"file://{repo}", "--version", sha, "-e", "noop"], repeat=args.repeat, cwd=root
        )
        report("python -c pass", base)
        report("mlrun run <plain dir> -e noop", local)
        report("mlrun run <git work tree> -e noop", worktree)
        report("mlrun run file://<repo> --version <sha> (cached)", remote)
        b = median(base)
        print(
            f"overhead: plain dir {(median(local) - b) * 1000:.0f} ms, git work tree "
            f"{(median(worktree) - b) * 1000:.0f} ms, cached git URL at a SHA "
            f"{(median(remote) - b) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
