"""Resolve a project URI to a local directory, and record exactly where the code came from.

URIs: a local directory (in a git work tree or not), or a git URL (``https://``, ``ssh://``,
``git://``, ``file://``, ``user@host:path``), each optionally followed by ``#sub/dir``.
``--version`` takes a branch, tag, or full or short commit SHA.

Remote repositories are cloned once into a bare clone cache (credentials never written into
it) and fetched incrementally; every run gets its own clean checkout of the exact commit,
removed afterwards. A local repository with ``--version`` is never touched: the checkout
borrows its objects read-only. Everything goes through the git command line with prompts
disabled, so a private repository without credentials fails at once instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path, PurePosixPath

from mlrun_cli.errors import SourceError
from mlrun_cli.paths import tool_path
from mlrun_cli.sources.git import (
    GitInfo,
    find_git_root,
    git,
    git_env,
    git_info,
    has_commit,
    is_branch,
    make_checkout,
    origin,
    rev_parse,
    strip_credentials,
)
from mlrun_cli.values import field, valueclass

# Patterns are compiled on first use (`re` caches them): a plain local path needs none, and
# compiling them all costs start-up time on every run.
_REMOTE = r"^(https?|ssh|git|file)://"
_SCP = r"^[A-Za-z0-9._~-]+@[A-Za-z0-9._-]+:(?!//)"
_TRANSPORT = r"^[A-Za-z][A-Za-z0-9+.-]*::"
_SHA = r"^[0-9a-fA-F]{7,40}$"


@valueclass
class Source:
    """A project directory ready to run, and its provenance."""

    uri: str  # as given, credentials removed
    dir: Path
    git: GitInfo | None
    version: str | None = None
    local_repo: Path | None = None  # the user's repository, for a local source
    checkout: Path | None = field(default=None, compare=False)  # ours to remove

    def cleanup(self) -> None:
        """Remove the checkout made for this run, if any."""
        if self.checkout is not None:
            import shutil

            shutil.rmtree(self.checkout, ignore_errors=True)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def check_uri(uri: str, version: str | None) -> None:
    """Refuse, before git sees them, inputs that could make git run something."""
    for what, value in (("project URI", uri), ("--version", version)):
        if value is None:
            continue
        if value.startswith("-"):
            raise SourceError(
                f"{what} {value!r} begins with '-'; refused (git would read it as an option)"
            )
        if "::" in value and re.match(_TRANSPORT, value):
            raise SourceError(
                f"{what} {strip_credentials(value)!r} uses a git transport that runs commands; "
                "refused: use a path or an https://, ssh:// or file:// URL"
            )
        if any(ch in value for ch in "\0\n\r"):
            raise SourceError(f"{what} contains a control character; refused")


def split_subdir(uri: str) -> tuple[str, str | None]:
    """``URI#sub/dir`` -> (URI, "sub/dir"); the subdirectory may not leave the repository."""
    base, sep, sub = uri.partition("#")
    if not sep:
        return uri, None
    if not sub:
        raise SourceError(f"{strip_credentials(uri)!r}: empty subdirectory after '#'")
    path = PurePosixPath(sub)
    if path.is_absolute() or ".." in path.parts or sub.startswith("~"):
        raise SourceError(
            f"subdirectory {sub!r} must be a relative path inside the repository (no '..', "
            "not absolute)"
        )
    return base, str(path)


def is_remote(uri: str) -> bool:
    if "://" not in uri and "@" not in uri:
        return False
    return bool(re.match(_REMOTE, uri, re.IGNORECASE) or re.match(_SCP, uri))


def resolve_source(uri: str, version: str | None = None) -> Source:
    """A local directory for `uri` at `version`, with its provenance."""
    check_uri(uri, version)
    base, sub = split_subdir(uri)
    shown = strip_credentials(uri)
    if is_remote(base):
        return _remote_source(base, sub, version, shown)
    path = Path(base).expanduser().absolute()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise SourceError(f"project directory {base} {what}; pass the directory of an MLproject")
    if version is None:
        project = _inside(path, sub)
        info = git_info(project)
        return Source(shown, project, info, None, info.root if info else None)
    root = find_git_root(path)
    if root is None:
        raise SourceError(f"--version {version!r} needs a git repository, and {path} is not in one")
    rel = path.relative_to(root).as_posix()
    sub = str(PurePosixPath(rel) / sub) if sub else (rel if rel != "." else None)
    commit = rev_parse(root, version, str(root))
    checkout = make_checkout(root, commit)
    project = _inside(checkout, sub)
    info = GitInfo(
        commit=commit,
        root=None,
        branch=version if is_branch(root, version) else None,
        remote_url=origin(root),
        project_path=sub or ".",
    )
    return Source(shown, project, info, version, root, checkout)


def _inside(root: Path, sub: str | None) -> Path:
    if not sub:
        return root
    target = (root / sub).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise SourceError(f"subdirectory {sub!r} leaves the repository; refused")
    if not target.is_dir():
        raise SourceError(f"subdirectory {sub!r} does not exist in {root}")
    return target


def clone_cache_dir(url: str) -> Path:
    import hashlib

    clean = strip_credentials(url)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", clean.rstrip("/").rsplit("/", 1)[-1])[-40:]
    digest = hashlib.sha256(clean.encode()).hexdigest()[:16]
    return tool_path("git") / f"{digest}-{name}"


@contextlib.contextmanager
def _clone_lock(cache: Path):  # type: ignore[no-untyped-def]
    import fcntl

    cache.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(cache) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remote_source(url: str, sub: str | None, version: str | None, shown: str) -> Source:
    import shutil

    cache = clone_cache_dir(url)
    clean = strip_credentials(url)
    with _clone_lock(cache):
        if not (cache / "HEAD").exists():
            shutil.rmtree(cache, ignore_errors=True)
            tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                git(
                    ["clone", "--quiet", "--bare", "--", url, str(tmp)],
                    hint="check the URL and your access (no password is asked)",
                )
                # The cache keeps the URL without credentials; fetches pass the real one.
                git(["remote", "set-url", "origin", clean], cwd=tmp)
                os.replace(tmp, cache)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            fetched = True
        else:
            fetched = False
        have = (
            version is not None
            and len(version) == 40
            and re.match(_SHA, version) is not None
            and has_commit(cache, version)
        )
        if not fetched and not have:
            git(
                ["fetch", "--quiet", "--prune", "--tags", "--", url, "+refs/heads/*:refs/heads/*"],
                cwd=cache,
                hint="check the URL and your access (no password is asked)",
            )
        commit = rev_parse(cache, version or "HEAD", clean)
        branch = None
        if version is None:
            with contextlib.suppress(SourceError):
                branch = (
                    git(["symbolic-ref", "--short", "HEAD"], cwd=cache, expected=True).strip()
                    or None
                )
        elif is_branch(cache, version):
            branch = version
        checkout = make_checkout(cache, commit)
    project = _inside(checkout, sub)
    info = GitInfo(
        commit=commit, root=None, branch=branch, remote_url=clean, project_path=sub or "."
    )
    return Source(shown, project, info, version, None, checkout)


def apply_patch(source: Source, patch: bytes) -> Source:
    """Apply a recorded patch (binary-safe) to the fresh checkout of `source`.

    git apply refuses paths outside the work tree, so a patch cannot write outside it.
    """
    import subprocess

    from mlrun_cli.values import replace

    if source.checkout is None or source.git is None:
        raise SourceError("a patch can only be applied to a fresh checkout of a commit")
    proc = subprocess.run(
        ["git", "apply", "--binary", "--whitespace=nowarn", "-"],
        cwd=source.checkout,
        env=git_env(),
        input=patch,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(
            f"the recorded patch does not apply to {source.git.commit[:12]}: "
            f"{err[0] if err else 'git apply failed'}"
        )
    return replace(source, git=replace(source.git, dirty=True, patch=patch))
