"""Resolve a project URI to a local directory, and describe where the code came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlrun_cli.errors import ProjectError
from mlrun_cli.process import ProcessError, run


@dataclass(frozen=True)
class GitInfo:
    commit: str
    root: Path


@dataclass(frozen=True)
class Source:
    """A project directory ready to run, and its provenance."""

    uri: str
    dir: Path
    git: GitInfo | None


def resolve_source(uri: str) -> Source:
    """A local project directory for `uri` (a path)."""
    path = Path(uri).expanduser().absolute()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ProjectError(f"project directory {uri} {what}; pass the directory of an MLproject")
    return Source(uri, path, git_info(path))


def find_git_root(path: Path) -> Path | None:
    """The enclosing work tree, found without starting git (a non-git dir pays nothing)."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_info(path: Path) -> GitInfo | None:
    root = find_git_root(path)
    if root is None:
        return None
    try:
        proc = run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=path)
    except ProcessError:
        return None  # a repository with no commit yet, or no git on PATH
    return GitInfo(commit=proc.stdout.strip(), root=root)
