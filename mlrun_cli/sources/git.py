"""The git command line, with prompts off and command-running transports refused: every
git call of the tool goes through `git`. Commit, branch, dirty state and untracked files of a
work tree come from one `git status --porcelain=v2` (`git_info`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mlrun_cli.errors import SourceError
from mlrun_cli.paths import tool_path
from mlrun_cli.process import ProcessError, run
from mlrun_cli.redact import redact
from mlrun_cli.values import valueclass


def strip_credentials(text: str) -> str:
    """Remove ``user:token@`` (or ``token@``) from every URL in `text` (`redact`, the one
    place that does it; a password may contain ``@``)."""
    return redact(text)


@valueclass
class GitInfo:
    commit: str
    root: Path | None  # the work tree (None for a checkout we made)
    branch: str | None = None
    remote_url: str | None = None  # credentials removed
    dirty: bool = False
    patch: bytes = b""  # uncommitted changes to tracked files, binary-safe
    untracked: tuple[str, ...] = ()
    project_path: str = "."  # the project directory within the repository


def git_env() -> dict[str, str]:
    """An environment in which git never prompts and never runs a credential dialog."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_ASKPASS"] = "true"
    env["SSH_ASKPASS"] = "true"
    env.setdefault("GIT_SSH_COMMAND", "ssh -oBatchMode=yes")
    return env


def git(
    args: Sequence[str], cwd: Path | None = None, hint: str = "", expected: bool = False
) -> str:
    """Run git safely: transports that run commands are off; errors carry no credentials.

    A failure is one line: which git command failed and the gist of git's own message; the
    whole of it (the command line, every line git wrote) is shown with -v. `expected`: the
    caller tries something that may well fail (a ref that may not exist) and says nothing.
    """
    argv = ["git", "-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never", *args]
    try:
        return run(argv, cwd=cwd, env=git_env(), hint=hint).stdout
    except ProcessError as exc:
        if not expected:
            from mlrun_cli import console

            console.detail(
                strip_credentials(
                    f"git failed with exit code {exc.returncode}: {' '.join(exc.argv)}"
                )
            )
            for line in exc.output.strip().splitlines():
                if line.strip():
                    console.detail(f"  {strip_credentials(line)}")
        raise SourceError(strip_credentials(one_line(args, exc, hint))) from None


def one_line(args: Sequence[str], exc: ProcessError, hint: str) -> str:
    """`git <subcommand> failed: <the gist of git's message>; <hint>`."""
    rest = list(args)
    while len(rest) >= 2 and rest[0] == "-c":
        rest = rest[2:]  # `-c name=value` options before the subcommand
    what = f"git {rest[0]}" if rest else "git"
    if exc.returncode == 127:
        return f"{what} failed: git is not installed (not found on PATH); install git"
    text = f"{what} failed: {gist(exc.output) or f'exit code {exc.returncode}'}"
    return f"{text}; {hint}" if hint else text


def gist(output: str) -> str:
    """The line of git's output that says what went wrong (its first ``fatal:`` or
    ``error:`` line, without the prefix), else its first line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line[len(prefix) :].rstrip(".")
    return lines[0].rstrip(".") if lines else ""


def find_git_root(path: Path) -> Path | None:
    """The enclosing work tree, found without starting git (a non-git dir pays nothing)."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_info(path: Path) -> GitInfo | None:
    """Commit, branch, remote, dirty state, patch and untracked files of `path`'s work tree."""
    root = find_git_root(path)
    if root is None:
        return None
    try:
        status = run(
            ["git", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"],
            cwd=root,
            env=git_env(),
        ).stdout
    except ProcessError:
        return None  # not a usable repository, or no git on PATH
    commit, branch = None, None
    tracked_changes = False
    untracked: list[str] = []
    entries = status.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        if entry.startswith("# branch.oid "):
            oid = entry.split()[2]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif entry.startswith("? "):
            untracked.append(entry[2:])
        elif entry[:2] in ("1 ", "u "):
            tracked_changes = True
        elif entry.startswith("2 "):
            tracked_changes = True
            i += 1  # a rename is followed by its original path
        i += 1
    if commit is None:
        return None  # a repository without a commit yet
    patch = b""
    if tracked_changes:
        import subprocess

        patch = subprocess.run(
            ["git", "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"],
            cwd=root,
            env=git_env(),
            capture_output=True,
            check=False,
        ).stdout
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    return GitInfo(
        commit=commit,
        root=root,
        branch=branch,
        remote_url=origin(root),
        dirty=tracked_changes,
        patch=patch,
        untracked=tuple(untracked),
        project_path=rel,
    )


def origin(root: Path) -> str | None:
    try:
        url = run(["git", "config", "--get", "remote.origin.url"], cwd=root, env=git_env()).stdout
    except ProcessError:
        return None
    return strip_credentials(url.strip()) or None


def rev_parse(repo: Path, version: str, shown: str) -> str:
    for candidate in (version, f"origin/{version}", f"refs/tags/{version}"):
        try:
            return git(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"],
                cwd=repo,
                expected=True,
            ).strip()
        except SourceError:
            continue
    raise SourceError(
        f"version {version!r} is not a branch, tag or commit of {shown}; check the name or SHA"
    )


def is_branch(repo: Path, version: str) -> bool:
    for ref in (f"refs/heads/{version}", f"refs/remotes/origin/{version}"):
        try:
            git(["show-ref", "--verify", "--quiet", ref], cwd=repo, expected=True)
            return True
        except SourceError:
            continue
    return False


def make_checkout(repo: Path, commit: str) -> Path:
    """A fresh, clean work tree of `commit`, borrowing `repo`'s objects; `repo` is not modified."""
    import shutil

    root = tool_path("checkouts")
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{commit[:12]}-{os.getpid()}-{os.urandom(3).hex()}"
    try:
        git(["clone", "--quiet", "--shared", "--no-checkout", "--", str(repo), str(target)])
        git(
            ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit],
            cwd=target,
        )
        if (target / ".gitmodules").exists():
            git(["submodule", "update", "--init", "--recursive", "--quiet"], cwd=target)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def has_commit(repo: Path, sha: str) -> bool:
    try:
        git(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo, expected=True)
        return True
    except SourceError:
        return False
