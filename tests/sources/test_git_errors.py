"""A failing git command is one line (the gist of git's message); the rest is shown with -v.
Real git, real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.sources.git import gist

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

NOT_A_REPO = (
    "error: git clone failed: '/nonexistent' does not appear to be a git repository; "
    "check the URL and your access (no password is asked)\n"
)


def test_a_git_failure_is_one_line(mlrun: Mlrun) -> None:
    proc = mlrun("run", "file:///nonexistent")
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", NOT_A_REPO)


def test_verbose_shows_the_command_and_all_git_said(mlrun: Mlrun) -> None:
    proc = mlrun("-v", "run", "file:///nonexistent")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines(keepends=True)
    assert lines[-1] == NOT_A_REPO
    assert lines[0].startswith(
        "git failed with exit code 128: git -c protocol.ext.allow=never -c "
        "protocol.fd.allow=never clone --quiet --bare -- file:///nonexistent "
    )
    assert "  fatal: '/nonexistent' does not appear to be a git repository\n" in lines
    assert "  fatal: Could not read from remote repository.\n" in lines
    assert "  and the repository exists.\n" in lines


def test_credentials_stay_out_of_the_line_and_the_detail(mlrun: Mlrun) -> None:
    proc = mlrun("-v", "run", "https://alice:s3cr3t@127.0.0.1:9/x.git", timeout=60)
    assert proc.returncode == 2
    assert "s3cr3t" not in proc.stderr and "alice" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: git clone failed: unable to access 'https://127.0.0.1:9/x.git/'")
    assert last.endswith("; check the URL and your access (no password is asked)")


def test_git_not_installed_is_said_plainly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", "file:///srv/repo.git"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path / "no-bin")},
    )
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: git clone failed: git is not installed (not found on PATH); install git\n",
    )


def test_expected_failures_say_nothing_even_with_verbose(mlrun: Mlrun, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "MLproject").write_text("name: x\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.com",
    }
    for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", *argv], cwd=repo, env=env, check=True)
    proc = mlrun("-v", "run", str(repo), "--version", "nosuch")
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: version 'nosuch' is not a branch, tag or commit of {repo}; check the name or "
        "SHA\n",
    )


def test_gist_is_the_first_fatal_or_error_line() -> None:
    assert gist("hint: x\nfatal: no such ref.\nfatal: other\n") == "no such ref"
    assert gist("error: pathspec 'x' did not match\n") == "pathspec 'x' did not match"
    assert gist("\n  something odd happened\nmore\n") == "something odd happened"
    assert gist("") == ""
