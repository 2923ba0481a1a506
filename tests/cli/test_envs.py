"""`mlrun envs list / prune`: exact output, on stand-in envs with real locks and real compiles.

A stand-in env is a folder with `bin/python` (this interpreter), a site-packages of generated
modules and a completion marker (tests/envs/test_bytecode.py); real builds are in
tests/integration/test_envs.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from mlrun_cli.envs import bytecode, cache
from mlrun_cli.paths import tool_path
from tests.envs.test_bytecode import make_env

Invoke = Callable[..., Result]
LAST_USED = 1_700_000_000  # a fixed "last used", so the table is exact


def shown(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def stand_in(root: Path, name: str, marker: dict[str, object] | None) -> Path:
    """A small env at root/name: its marker (none for a build that did not finish)."""
    env_dir = make_env(root, {"alpha": 1}, name=name)
    if marker is None:
        (env_dir / cache.MARKER).unlink()
    else:
        (env_dir / cache.MARKER).write_text(json.dumps(marker))
    (env_dir / cache.LAST_USED).write_text(str(LAST_USED))
    return env_dir


def hold(lock: Path) -> int:
    """Hold a lock as a build or a compile does (flock, released when the fd is closed)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, str(os.getpid()).encode())
    return fd


@pytest.fixture
def four_envs(isolated: Path, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A ready env with its bytecode done, one compiling (12 of 340 files), one being built,
    one whose build did not finish."""
    root = tmp_path / "envs"
    facts = {"manager": "uv", "python_version": "3.11.7", "bytecode": bytecode.BACKGROUND}
    envs = {
        "done": stand_in(root, "uv-aaaaaaaaaaaaaaaa", facts),
        "compiling": stand_in(root, "uv-bbbbbbbbbbbbbbbb", facts),
        "building": stand_in(root, "uv-cccccccccccccccc", None),
        "broken": stand_in(root, "virtualenv-dddddddddddddddd", None),
    }
    (envs["done"] / bytecode.STATE).write_text(json.dumps({"complete": True, "files": 4}))
    progress = {"complete": False, "done": 12, "total": 340, "pid": os.getpid()}
    (envs["compiling"] / bytecode.STATE).write_text(json.dumps(progress))
    held = [
        hold(bytecode.lock_path(envs["compiling"].name)),
        hold(tool_lock(envs["building"].name)),
    ]
    try:
        yield envs
    finally:
        for fd in held:
            os.close(fd)


def tool_lock(name: str) -> Path:
    """The build lock of env `name` (what `cache.locked` holds while building it)."""
    return tool_path("envs") / ".locks" / f"{name}.lock"


def size(env_dir: Path) -> str:
    n = cache.dir_size(env_dir)
    assert n < 1024  # a stand-in env is a few hundred bytes
    return f"{n} B"


def test_list_shows_each_env_s_state_and_bytecode(
    cli_run: Invoke, four_envs: dict[str, Path]
) -> None:
    result = cli_run("envs", "list")
    assert result.exit_code == 0, result.output
    d, c, b, x = (four_envs[k] for k in ("done", "compiling", "building", "broken"))
    rows = [
        ("key", "manager", "python", "size", "last used", "state", "bytecode"),
        (d.name, "uv", "3.11.7", size(d), shown(LAST_USED), "ready", "done"),
        (c.name, "uv", "3.11.7", size(c), shown(LAST_USED), "ready", "12/340"),
        (b.name, "?", "", size(b), shown(LAST_USED), "building", "-"),
        (x.name, "?", "", size(x), shown(LAST_USED), "incomplete", "-"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    want = "".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )
    assert result.stdout == want


def test_list_json_has_the_state_and_bytecode_fields(
    cli_run: Invoke, four_envs: dict[str, Path]
) -> None:
    result = cli_run("envs", "list", "--json")
    assert result.exit_code == 0, result.output
    got = {
        e["name"]: (e["state"], e["complete"], e["bytecode"], e["bytecode_progress"])
        for e in json.loads(result.stdout)["envs"]
    }
    assert got == {
        four_envs["done"].name: ("ready", True, "complete", None),
        four_envs["compiling"].name: ("ready", True, "compiling", [12, 340]),
        four_envs["building"].name: ("building", False, None, None),
        four_envs["broken"].name: ("incomplete", False, None, None),
    }


def test_prune_dry_run_lists_what_would_go_and_removes_nothing(
    cli_run: Invoke, four_envs: dict[str, Path]
) -> None:
    d, c, x = four_envs["done"], four_envs["compiling"], four_envs["broken"]
    freed = cache.dir_size(d) + cache.dir_size(c) + cache.dir_size(x)
    result = cli_run("envs", "prune", "--all", "--dry-run")
    assert result.exit_code == 0, result.output
    # Never the env being built; the one whose build did not finish always.
    assert result.stdout == (
        f"{d.name}  {size(d)}  ready  last used {shown(LAST_USED)}\n"
        f"{c.name}  {size(c)}  ready  last used {shown(LAST_USED)}\n"
        f"{x.name}  {size(x)}  incomplete  last used {shown(LAST_USED)}\n"
    )
    assert (
        result.stderr == f"would remove 3 environments, freeing {freed} B (nothing was removed)\n"
    )
    assert all(p.exists() and (p / "bin" / "python").exists() for p in four_envs.values())
    result = cli_run("envs", "prune", "--older-than", "100000", "--dry-run", "--json")
    got = json.loads(result.stdout)
    assert got["dry_run"] is True
    assert [e["name"] for e in got["removed"]] == [x.name]  # incomplete: always
    assert x.exists()


def test_prune_stops_a_background_compile_in_progress(cli_run: Invoke, isolated: Path) -> None:
    root = tool_path("envs")
    env_dir = make_env(root, {f"pkg{i}": 150 for i in range(30)})  # 4,500 files: seconds
    assert bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))
    deadline = time.monotonic() + 60
    while not (bytecode.compiling(env_dir.name) and bytecode.state(env_dir).get("pid")):
        assert time.monotonic() < deadline, "the compile never started"
        time.sleep(0.02)
    pid = bytecode.state(env_dir)["pid"]  # the compile records its pid in the env
    assert isinstance(pid, int)
    assert not bytecode.state(env_dir).get("complete")
    result = cli_run("envs", "prune", "--all")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("removed 1 environment, freed ")
    assert not env_dir.exists()
    assert not bytecode.compiling(env_dir.name)
    time.sleep(0.3)  # a compile still writing would make its folders again by now
    assert not env_dir.exists()
    assert not alive(pid)


def alive(pid: int) -> bool:
    """True if `pid` is a live process (an exited one awaiting its reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_compile_writes_nothing_into_an_env_removed_under_it(isolated: Path) -> None:
    # Removed by something other than mlrun (rm -rf, a test's tmp_path cleanup): the marker
    # goes with the rest, and the compile stops writing instead of making folders again.
    import shutil

    root = tool_path("envs")
    env_dir = make_env(root, {f"pkg{i}": 150 for i in range(30)})
    assert bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))
    deadline = time.monotonic() + 60
    while not bytecode.state(env_dir).get("pid"):
        assert time.monotonic() < deadline, "the compile never started"
        time.sleep(0.02)
    (env_dir / cache.MARKER).unlink()
    time.sleep(0.2)  # the files being compiled as the marker went are written by now
    shutil.rmtree(env_dir)  # and nothing more: no "Directory not empty"
    deadline = time.monotonic() + 60
    while bytecode.compiling(env_dir.name):
        assert time.monotonic() < deadline, "the compile kept going"
        time.sleep(0.05)
    assert not env_dir.exists()
    log = cache.build_log_path(env_dir.name).read_text()
    assert "stopped: the environment was removed or rebuilt" in log
