"""The env cache protocol, with a build that writes a file (real builds: tests/integration)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.envs import BuildInterrupted, cache
from mlrun_cli.envs.buildlog import BuildLog
from mlrun_cli.errors import EnvError


class Builder:
    """Counts builds; writes one file and a line to the build log."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self, env_dir: Path, log: BuildLog) -> Mapping[str, Any]:
        self.builds += 1
        log.note("building")
        (env_dir / "ready").write_text("yes")
        return {"python_version": "3.11.7"}


def healthy(env_dir: Path, marker: Mapping[str, Any]) -> str | None:
    return None if (env_dir / "ready").exists() else "ready is missing"


def test_key_covers_every_input() -> None:
    base = {"python": "3.11.7", "dependencies": ["a"], "files": {"/r.txt": "x"}}
    key = cache.make_key("uv", base)
    assert key.name.startswith("uv-") and len(key.name) == 3 + 16
    assert cache.make_key("uv", dict(base)).digest == key.digest
    for change in ({"python": "3.11.8"}, {"dependencies": ["b"]}, {"files": {"/r.txt": "y"}}):
        assert cache.make_key("uv", {**base, **change}).digest != key.digest
    assert cache.make_key("virtualenv", base).digest != key.digest


def test_key_digest_is_stable_across_versions() -> None:
    # Existing caches must keep opening: the encoding of a key may never change (this
    # digest was computed before the envs package was reshaped).
    key = cache.make_key("uv", {"python": "3.11.7", "dependencies": ["six"]})
    assert key.digest == "c83f37ee8137fc0fe56dc0258bc3a939813c6b22507162b3290e57caaf93042e"


def test_key_path_is_under_the_env_root(isolated: Path, tmp_path: Path) -> None:
    key = cache.make_key("uv", {})
    assert key.path == tmp_path / "envs" / key.name


def test_platform_tag() -> None:
    assert cache.platform_tag() == f"{sys.platform}-{os.uname().machine}"


def test_describe_change_is_tox_like() -> None:
    before = {"python": "3.11.7", "dependencies": ["a", "b"], "files": {"/x/req.txt": "1"}}
    after = {"python": "3.12.1", "dependencies": ["b", "c"], "files": {"/x/req.txt": "2"}}
    assert cache.describe_change(before, after) == (
        "dependencies: +c -a; req.txt changed; python: 3.11.7 -> 3.12.1"
    )
    assert cache.describe_change({"d": ["a", "b"]}, {"d": ["b", "a"]}) == "d: reordered"


def test_ensure_builds_once_then_reuses(capsys: pytest.CaptureFixture[str]) -> None:
    key = cache.make_key("test", {"dependencies": ["a"]})
    build = Builder()
    env_dir, marker, reused = cache.ensure(key, build=build, health=healthy)
    assert (env_dir, reused, build.builds) == (key.path, False, 1)
    assert marker["key"] == key.digest and marker["name"] == key.name
    assert marker["manager"] == "test" and marker["python_version"] == "3.11.7"
    assert marker["inputs"] == {"dependencies": ["a"]}
    assert cache.read_marker(env_dir) == marker
    assert "building" in cache.build_log_path(key.name).read_text()
    again_dir, again, reused = cache.ensure(key, build=build, health=healthy)
    assert (again_dir, again, reused, build.builds) == (env_dir, marker, True, 1)
    assert capsys.readouterr().err == ""  # a first build and a reuse say nothing here


def test_a_broken_env_is_rebuilt_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    key = cache.make_key("test", {})
    build = Builder()
    env_dir, _, _ = cache.ensure(key, build=build, health=healthy)
    (env_dir / "ready").unlink()
    _, _, reused = cache.ensure(key, build=build, health=healthy)
    assert (reused, build.builds) == (False, 2)
    assert capsys.readouterr().err == (
        f"environment {key.name} is broken (ready is missing); rebuilding it\n"
    )


def test_an_env_without_its_marker_is_never_used(capsys: pytest.CaptureFixture[str]) -> None:
    key = cache.make_key("test", {})
    build = Builder()
    env_dir, _, _ = cache.ensure(key, build=build, health=healthy)
    (env_dir / cache.MARKER).unlink()
    assert cache.read_marker(env_dir) is None
    _, _, reused = cache.ensure(key, build=build, health=healthy)
    assert (reused, build.builds) == (False, 2)
    assert capsys.readouterr().err == (
        f"environment {key.name} was not completely built; rebuilding it\n"
    )


def test_a_new_key_for_the_same_project_says_what_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = cache.make_key("test", {"dependencies": ["a"], "python": "3.11.7"})
    cache.ensure(first, build=Builder(), health=healthy, project="/p")
    second = cache.make_key("test", {"dependencies": ["b"], "python": "3.11.7"})
    cache.ensure(second, build=Builder(), health=healthy, project="/p")
    other = cache.make_key("test", {"dependencies": ["c"], "python": "3.11.7"})
    cache.ensure(other, build=Builder(), health=healthy, project="/elsewhere")
    assert capsys.readouterr().err == (
        f"environment changed (dependencies: +b -a); building {second.name}\n"
    )


def test_a_failed_build_leaves_no_env_but_keeps_its_log() -> None:
    key = cache.make_key("test", {})

    def failing(env_dir: Path, log: BuildLog) -> Mapping[str, Any]:
        log.note("about to fail")
        (env_dir / "half").write_text("")
        raise EnvError("the installer failed")

    with pytest.raises(EnvError, match="the installer failed"):
        cache.ensure(key, build=failing, health=healthy)
    assert not key.path.exists()
    assert "about to fail" in cache.build_log_path(key.name).read_text()


def test_an_env_failing_its_health_check_after_the_build_is_removed() -> None:
    key = cache.make_key("test", {})

    def empty(env_dir: Path, log: BuildLog) -> Mapping[str, Any]:
        return {}

    with pytest.raises(
        EnvError, match=rf"^environment {key.name} failed its health check: ready is missing$"
    ):
        cache.ensure(key, build=empty, health=healthy)
    assert not key.path.exists()


def test_waiting_for_the_lock_can_be_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    key = cache.make_key("test", {})
    assert not cache.is_locked(key.name)
    with cache.locked(key.name, None):
        assert cache.is_locked(key.name)  # flock: another open file description conflicts
        with pytest.raises(BuildInterrupted):
            cache.ensure(key, build=Builder(), health=healthy, cancelled=lambda: True)
    assert not cache.is_locked(key.name)
    assert not key.path.exists()
    assert capsys.readouterr().err == (
        f"waiting for another process building environment {key.name}\n"
    )


def test_list_envs_reports_complete_and_incomplete(tmp_path: Path) -> None:
    assert cache.list_envs() == []
    key = cache.make_key("test", {})
    env_dir, marker, _ = cache.ensure(key, build=Builder(), health=healthy)
    (tmp_path / "envs" / "test-half").mkdir()
    listed = cache.list_envs()
    assert [e["name"] for e in listed] == [key.name, "test-half"]  # dot-dirs are not envs
    assert listed[0] == {
        "name": key.name,
        "path": str(env_dir),
        "manager": "test",
        "python": "3.11.7",
        "complete": True,
        "state": "ready",
        "size": cache.dir_size(env_dir),
        "last_used": int((env_dir / cache.LAST_USED).read_text()),
        "created": marker["created"],
        # Its build said nothing of background bytecode: compiled at build time, complete.
        "bytecode": "complete",
        "bytecode_progress": None,
    }
    assert listed[1]["manager"] == "?" and listed[1]["complete"] is False
    assert listed[1]["state"] == "incomplete"  # no build holds its lock
    assert listed[1]["bytecode"] is None
    assert json.dumps(listed)  # what `mlrun envs list --json` prints


def test_dir_size_counts_files() -> None:
    key = cache.make_key("test", {})
    env_dir, _, _ = cache.ensure(key, build=Builder(), health=healthy)
    expected = sum(
        os.lstat(os.path.join(root, f)).st_size
        for root, _, files in os.walk(env_dir)
        for f in files
    )
    assert cache.dir_size(env_dir) == expected > 0


def test_prune_removes_incomplete_old_or_all_but_never_a_locked_env(tmp_path: Path) -> None:
    old = cache.make_key("test", {"n": 1})
    new = cache.make_key("test", {"n": 2})
    cache.ensure(old, build=Builder(), health=healthy)
    cache.ensure(new, build=Builder(), health=healthy)
    (old.path / cache.LAST_USED).write_text(str(int(time.time()) - 3 * 86400))
    (tmp_path / "envs" / "test-half").mkdir()
    assert [e["name"] for e in cache.prune(None, False)] == ["test-half"]
    assert [e["name"] for e in cache.prune(2, False)] == [old.name]
    assert not old.path.exists() and new.path.exists()
    with cache.locked(new.name, None):
        assert cache.prune(None, True) == []
    assert [e["name"] for e in cache.prune(None, True)] == [new.name]
    assert cache.list_envs() == []
