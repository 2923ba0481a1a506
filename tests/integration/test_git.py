"""Git sources, provenance and rerun, with real repositories made in tmp_path."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.store.sqlite.store import SqliteStore

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

MLPROJECT = """
name: g
entry_points:
  main:
    parameters:
      greeting: {type: string, default: hi}
    command: "python show.py {greeting}"
"""

SHOW = """
import sys
from pathlib import Path
from mlrun_cli import tracking
text = Path("data.txt").read_text().strip()
blob = Path("blob.bin").read_bytes()
print("DATA", text, sys.argv[1], len(blob))
tracking.log_metric("length", len(text) + len(blob))
"""


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    for d in (root, root / "sub"):
        (d / "MLproject").write_text(MLPROJECT)
        (d / "show.py").write_text(SHOW)
        (d / "blob.bin").write_bytes(bytes(range(256)))
    (root / "data.txt").write_text("one\n")
    (root / "sub" / "data.txt").write_text("sub-one\n")
    sh("init", "-q", "-b", "main", cwd=root)
    sh("add", ".", cwd=root)
    sh("commit", "-qm", "one", cwd=root)
    sh("tag", "v1", cwd=root)
    sh("checkout", "-qb", "feature", cwd=root)
    (root / "data.txt").write_text("two\n")
    sh("commit", "-qam", "two", cwd=root)
    sh("checkout", "-q", "main", cwd=root)
    return root


@pytest.fixture
def bare(repo: Path, tmp_path: Path) -> str:
    target = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(target)], check=True)
    return f"file://{target}"


def only_run(cwd: Path):  # type: ignore[no-untyped-def]
    runs = SqliteStore(cwd / ".mlrun").search_runs()
    return runs[0]


def test_branch_tag_and_short_sha_from_a_url(
    mlrun: Mlrun, repo: Path, bare: str, isolated: Path, tmp_path: Path
) -> None:
    proc = mlrun("run", bare, "--version", "feature")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DATA two hi 256")
    run = only_run(isolated)
    assert run.tags["mlflow.source.git.commit"] == sh("rev-parse", "feature", cwd=repo)
    assert run.tags["mlflow.source.git.branch"] == "feature"
    assert run.tags["mlflow.source.git.repoURL"] == bare
    assert run.tags["mlflow.source.name"] == bare
    assert run.tags["mlrun.git.dirty"] == "false"
    assert run.tags["mlrun.project.path"] == "MLproject"
    assert mlrun("run", bare, "--version", "v1").stdout.startswith("DATA one")
    short = sh("rev-parse", "--short", "feature", cwd=repo)
    assert mlrun("run", bare, "--version", short).stdout.startswith("DATA two")
    # Default version: the remote's HEAD.
    assert mlrun("run", bare).stdout.startswith("DATA one")
    assert list((tmp_path / "cache" / "checkouts").iterdir()) == []  # checkouts removed
    assert len([p for p in (tmp_path / "cache" / "git").iterdir() if p.is_dir()]) == 1


def test_clone_cache_fetches_new_commits(mlrun: Mlrun, repo: Path, bare: str) -> None:
    assert mlrun("run", bare, "--version", "main").stdout.startswith("DATA one")
    (repo / "data.txt").write_text("three\n")
    sh("commit", "-qam", "three", cwd=repo)
    sh("push", "-q", bare, "main", cwd=repo)
    assert mlrun("run", bare, "--version", "main").stdout.startswith("DATA three")


def test_subdirectory(mlrun: Mlrun, bare: str, isolated: Path) -> None:
    proc = mlrun("run", f"{bare}#sub", "--version", "v1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DATA sub-one")
    assert only_run(isolated).tags["mlrun.project.path"] == "sub/MLproject"


def test_local_version_never_touches_the_working_tree(mlrun: Mlrun, repo: Path) -> None:
    (repo / "data.txt").write_text("uncommitted\n")
    before = (
        sh("status", "--porcelain", cwd=repo),
        sh("rev-parse", "HEAD", cwd=repo),
        sh("show-ref", cwd=repo),
        sh("stash", "list", cwd=repo),
    )
    proc = mlrun("run", str(repo), "--version", "feature")
    assert proc.stdout.startswith("DATA two"), proc.stderr
    after = (
        sh("status", "--porcelain", cwd=repo),
        sh("rev-parse", "HEAD", cwd=repo),
        sh("show-ref", cwd=repo),
        sh("stash", "list", cwd=repo),
    )
    assert before == after
    assert (repo / "data.txt").read_text() == "uncommitted\n"


def test_dirty_tree_is_recorded_and_rerun_reproduces_it(
    mlrun: Mlrun, repo: Path, isolated: Path
) -> None:
    (repo / "data.txt").write_text("dirty words\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 3)  # a binary change
    (repo / "notes.txt").write_text("untracked\n")
    first = mlrun("run", str(repo), "-P", "greeting=hello")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("DATA dirty words hello 768")
    run = only_run(isolated)
    assert run.tags["mlrun.git.dirty"] == "true"
    assert run.tags["mlflow.source.git.branch"] == "main"
    assert run.tags["mlrun.source.local_repo"] == str(repo)
    arts = Path(run.artifact_uri or "")
    assert b"GIT binary patch" in (arts / "source" / "uncommitted.patch").read_bytes()
    assert (arts / "source" / "untracked.txt").read_text() == "notes.txt\n"
    # The user moves on: the working tree is reset and a new commit lands.
    sh("checkout", "-q", "--", ".", cwd=repo)
    (repo / "data.txt").write_text("later\n")
    sh("commit", "-qam", "later", cwd=repo)
    again = mlrun("rerun", run.run_id[:10])
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert "had 1 untracked file(s)" in again.stderr
    new = only_run(isolated)
    assert new.run_id != run.run_id
    assert new.tags["mlrun.rerun_of"] == run.run_id
    assert new.tags["mlflow.source.git.commit"] == run.tags["mlflow.source.git.commit"]
    assert new.metrics["length"].value == run.metrics["length"].value
    assert new.params["greeting"] == "hello"
    # Overrides apply on top of the recorded params.
    assert mlrun("rerun", run.run_id, "-P", "greeting=bye").stdout.startswith(
        "DATA dirty words bye"
    )


def test_require_clean(mlrun: Mlrun, repo: Path, isolated: Path) -> None:
    assert mlrun("run", str(repo), "--require-clean").returncode == 0
    (repo / "data.txt").write_text("changed\n")
    proc = mlrun("run", str(repo), "--require-clean")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: {repo} has uncommitted changes to tracked files and --require-clean was given; "
        "commit or stash them\n"
    )
    assert len(SqliteStore(isolated / ".mlrun").search_runs()) == 1


def test_missing_commit_and_repo(mlrun: Mlrun, repo: Path, bare: str, isolated: Path) -> None:
    proc = mlrun("run", bare, "--version", "0123456789abcdef0123456789abcdef01234567")
    assert proc.returncode == 2
    assert "is not a branch, tag or commit of" in proc.stderr
    assert mlrun("run", str(repo)).returncode == 0
    run = only_run(isolated)
    store = SqliteStore(isolated / ".mlrun")
    store.log_batch(run.run_id, tags={"mlflow.source.git.commit": "f" * 40})
    proc = mlrun("rerun", run.run_id)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"error: version '{'f' * 40}' is not a branch, tag or commit of {repo}"
    )
    store.log_batch(run.run_id, tags={"mlrun.source.local_repo": str(repo / "gone")})
    store.delete_tag(run.run_id, "mlflow.source.git.repoURL")
    proc = mlrun("rerun", run.run_id)
    assert proc.returncode == 2
    assert "which no longer exists" in proc.stderr


def test_run_without_git_cannot_be_rerun(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("print(1)")
    assert mlrun("run", str(plain), "-e", "a.py").returncode == 0
    proc = mlrun("rerun", only_run(isolated).run_id)
    assert proc.returncode == 2
    assert "has no recorded git commit" in proc.stderr


def test_credentials_never_leak(mlrun: Mlrun, isolated: Path) -> None:
    proc = mlrun("run", "https://alice:s3cr3t-token@127.0.0.1:9/x.git", timeout=60)
    assert proc.returncode == 2
    assert "s3cr3t" not in proc.stderr + proc.stdout
    assert "alice" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    db = isolated / ".mlrun" / "mlrun.db"
    assert not db.exists() or b"s3cr3t" not in db.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-x"], "project URI '-x' begins with '-'; refused"),
        (["--upload-pack=touch /tmp/mlrun-pwned"], "begins with '-'; refused"),
        (
            ["ext::sh -c touch% /tmp/mlrun-pwned"],
            "uses a git transport that runs commands; refused",
        ),
        (["fd::1"], "uses a git transport that runs commands; refused"),
        (
            ["{bare}", "--version", "--output=/tmp/mlrun-pwned"],
            "--version '--output=/tmp/mlrun-pwned' begins with '-'; refused",
        ),
        (["{bare}#../x"], "subdirectory '../x' must be a relative path inside the repository"),
        (["{bare}#/etc"], "subdirectory '/etc' must be a relative path inside the repository"),
    ],
)
def test_refused_inputs(
    mlrun: Mlrun, bare: str, isolated: Path, args: list[str], message: str
) -> None:
    argv = [a.format(bare=bare) for a in args]
    proc = mlrun("run", "--", *argv) if argv[0].startswith("-") else mlrun("run", *argv)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not Path("/tmp/mlrun-pwned").exists()
    assert not (isolated / ".mlrun").exists()


def test_patch_cannot_write_outside_the_checkout(repo: Path, tmp_path: Path) -> None:
    from mlrun_cli.errors import SourceError
    from mlrun_cli.sources.resolve import apply_patch, resolve_source

    evil = (
        b"diff --git a/../../evil.txt b/../../evil.txt\nnew file mode 100644\n"
        b"--- /dev/null\n+++ b/../../evil.txt\n@@ -0,0 +1 @@\n+pwned\n"
    )
    source = resolve_source(str(repo), "main")
    try:
        with pytest.raises(SourceError, match="does not apply"):
            apply_patch(source, evil)
    finally:
        source.cleanup()
    assert not (tmp_path / "evil.txt").exists()


def test_runs_show_displays_provenance(mlrun: Mlrun, bare: str, isolated: Path) -> None:
    assert mlrun("run", bare, "--version", "feature").returncode == 0
    run = only_run(isolated)
    shown = json.loads(mlrun("runs", "show", run.run_id, "--json").stdout)
    assert shown["tags"]["mlflow.source.git.branch"] == "feature"
    text = mlrun("runs", "show", run.run_id).stdout
    assert f"commit      {run.tags['mlflow.source.git.commit']}" in text
    assert f"repository  {bare}" in text


def test_checkout_includes_submodules(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "value.txt").write_text("from-submodule\n")
    sh("init", "-q", "-b", "main", cwd=lib)
    sh("add", ".", cwd=lib)
    sh("commit", "-qm", "lib", cwd=lib)
    app = tmp_path / "app"
    app.mkdir()
    (app / "MLproject").write_text(
        'entry_points:\n  main:\n    command: "python -c \'print(open(\\"lib/value.txt\\").read())\'"\n'
    )
    sh("init", "-q", "-b", "main", cwd=app)
    sh(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        f"file://{lib}",
        "lib",
        cwd=app,
    )
    sh("add", ".", cwd=app)
    sh("commit", "-qm", "app", cwd=app)
    bare = tmp_path / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(app), str(bare)], check=True)
    proc = mlrun(
        "run",
        f"file://{bare}",
        "--version",
        "main",
        env={
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "protocol.file.allow",
            "GIT_CONFIG_VALUE_0": "always",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("from-submodule")


def test_no_command_leaves_a_checkout_behind(
    mlrun: Mlrun, bare: str, isolated: Path, tmp_path: Path
) -> None:
    checkouts = tmp_path / "cache" / "checkouts"

    def left() -> list[Path]:
        return list(checkouts.iterdir()) if checkouts.exists() else []

    proc = mlrun("validate", bare)
    assert proc.returncode == 0, proc.stderr
    assert left() == [], "validate"
    proc = mlrun("envs", "build", bare, "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    assert left() == [], "envs build"
    proc = mlrun("run", bare, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert left() == [], "run --dry-run"
    proc = mlrun("run", bare, "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    assert left() == [], "run"
    proc = mlrun("rerun", only_run(isolated).run_id, "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    assert left() == [], "rerun"
    proc = mlrun("run", bare, "-e", "no-such-entry")  # a failing plan cleans up too
    assert proc.returncode == 2
    assert left() == [], "a refused run"
