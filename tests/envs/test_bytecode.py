"""The background bytecode compile: real worker processes on a small stand-in env.

The env is a folder with `bin/python` (this interpreter), a site-packages of generated
modules and a completion marker: what the worker needs, without installing anything.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlrun_cli.envs import bytecode, cache
from mlrun_cli.envs.bytecode_worker import compile_all, imported_names, ordered_files

PY = "python{}.{}".format(*sys.version_info[:2])


def make_env(root: Path, packages: dict[str, int], name: str = "uv-0123456789abcdef") -> Path:
    """An env at root/name whose site-packages has each package with that many modules."""
    env_dir = root / name
    site = env_dir / "lib" / PY / "site-packages"
    site.mkdir(parents=True)
    (env_dir / "bin").mkdir()
    (env_dir / "bin" / "python").symlink_to(sys.executable)
    for package, modules in packages.items():
        (site / package).mkdir()
        (site / package / "__init__.py").write_text("VALUE = 1\n")
        for i in range(modules):
            (site / package / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
        (site / f"{package}-1.0.dist-info").mkdir()
    (site / "single.py").write_text("X = 1\n")
    (site / "broken.py").write_text("def (:\n")  # not Python 3: counted, never compiled
    (env_dir / cache.MARKER).write_text(json.dumps({"bytecode": bytecode.BACKGROUND}))
    return env_dir


def sources(env_dir: Path) -> list[Path]:
    return sorted((env_dir / "lib").rglob("*.py"))


def compiled(source: Path) -> bool:
    return Path(importlib.util.cache_from_source(str(source))).exists()


@pytest.fixture
def env_root(isolated: Path, tmp_path: Path) -> Path:
    root = tmp_path / "envs"
    root.mkdir(exist_ok=True)
    return root


def start_and_wait(env_dir: Path, timeout: float = 120) -> None:
    log = cache.build_log_path(env_dir.name)
    assert bytecode.start(env_dir, env_dir.name, log)
    assert bytecode.wait(env_dir, timeout), log.read_text() if log.exists() else "no log"


def test_a_compile_writes_every_pyc_and_then_says_complete(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 3, "beta": 2})
    assert bytecode.status(env_dir, env_dir.name, {"bytecode": "background"}) == "incomplete"
    start_and_wait(env_dir)
    state = bytecode.state(env_dir)
    assert state["complete"] is True
    assert (state["files"], state["failed"]) == (len(sources(env_dir)), 1)
    assert state["cache_tag"] == sys.implementation.cache_tag
    assert [s.name for s in sources(env_dir) if not compiled(s)] == ["broken.py"]
    assert bytecode.status(env_dir, env_dir.name, {"bytecode": "background"}) == "complete"
    log = cache.build_log_path(env_dir.name).read_text()
    assert f"## compiling the bytecode of {len(sources(env_dir))} files (pid " in log
    assert "bytecode complete: " in log
    # Once complete, nothing more is started (the warm path: one small file read).
    assert not bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))


def test_runs_under_dontwritebytecode_load_the_compiled_files(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 2})
    start_and_wait(env_dir)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    proc = subprocess.run(
        [sys.executable, "-v", "-c", "import alpha.m1"],
        env={**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    pyc = importlib.util.cache_from_source(str(site / "alpha" / "m1.py"))
    assert f"# code object from '{pyc}'" in proc.stderr  # loaded, not compiled again


def test_an_interrupted_compile_is_finished_by_the_next_start(env_root: Path) -> None:
    env_dir = make_env(env_root, {f"pkg{i}": 60 for i in range(8)})
    files = sources(env_dir)
    assert bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))
    deadline = time.monotonic() + 120
    while not any(compiled(f) for f in files[:60]):  # pkg0 comes first
        assert time.monotonic() < deadline, "the compile never started"
        time.sleep(0.02)
    bytecode.stop(env_dir.name)  # as a rebuild, a prune or a reboot would
    assert not bytecode.compiling(env_dir.name)
    assert not bytecode.state(env_dir).get("complete")
    assert bytecode.status(env_dir, env_dir.name, {"bytecode": "background"}) == "incomplete"
    done = [f for f in files if compiled(f)]
    before = {f: os.stat(importlib.util.cache_from_source(str(f))).st_mtime_ns for f in done}
    start_and_wait(env_dir)
    assert all(compiled(f) for f in files if f.name != "broken.py")
    after = {f: os.stat(importlib.util.cache_from_source(str(f))).st_mtime_ns for f in done}
    assert after == before  # what the first compile wrote was kept, not compiled again


def test_only_one_compile_runs_at_a_time(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 2})
    lock = bytecode.lock_path(env_dir.name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running compile holds it
    try:
        assert bytecode.compiling(env_dir.name)
        assert not bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))
        # A worker started anyway (two runs racing) finds the lock held and leaves at once.
        worker = [str(env_dir / "bin" / "python"), "-I", "-S", str(bytecode.WORKER)]
        proc = subprocess.run([*worker, str(env_dir), str(lock)], timeout=60, check=False)
        assert proc.returncode == 0
        assert not any(compiled(s) for s in sources(env_dir))
    finally:
        os.close(fd)
    assert not bytecode.compiling(env_dir.name)


def test_a_rebuilt_env_never_gets_the_old_compile_s_state(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 2})
    files = [str(f) for f in sources(env_dir)]
    marker = os.stat(env_dir / cache.MARKER)
    identity = (marker.st_ino, marker.st_mtime_ns + 1)  # not the env the compile started on
    done, _failed = compile_all(files, str(env_dir), identity)
    assert done == -1


def test_removing_an_env_stops_its_compile(env_root: Path) -> None:
    env_dir = make_env(env_root, {f"pkg{i}": 60 for i in range(8)})
    assert bytecode.start(env_dir, env_dir.name, cache.build_log_path(env_dir.name))
    deadline = time.monotonic() + 60
    while not bytecode.compiling(env_dir.name):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (removed,) = cache.prune(None, everything=True)
    assert removed["name"] == env_dir.name and removed["bytecode"] in ("compiling", "complete")
    assert not env_dir.exists()
    assert not bytecode.compiling(env_dir.name)


def test_the_project_s_imports_are_compiled_first(tmp_path: Path) -> None:
    env_dir = make_env(tmp_path, {"aaa": 1, "numpy": 1, "sklearn": 1, "zzz": 1})
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "sklearn" / "__init__.py").write_text("import numpy\nfrom . import m0\n")
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "train.py").write_text("import os\nfrom sklearn import svm\nimport zzz as z\n")
    (project / "src" / "util.py").write_text("import single\n")
    assert imported_names(str(project)) == ["os", "sklearn", "zzz", "single"]
    order = [Path(f).relative_to(site).parts[0] for f in ordered_files(str(env_dir), str(project))]
    firsts = list(dict.fromkeys(order))
    # The project's imports, then what sklearn's __init__ imports, then the rest by name.
    assert firsts == ["sklearn", "zzz", "single.py", "numpy", "aaa", "broken.py"]


def test_status_of_envs_built_before_bytecode_moved_to_the_background(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 1})
    assert bytecode.status(env_dir, env_dir.name, {}) == "complete"  # its installer compiled
    assert bytecode.progress(env_dir) is None


def test_follow_reports_the_count_until_the_compile_is_complete(env_root: Path) -> None:
    env_dir = make_env(env_root, {f"pkg{i}": 60 for i in range(8)})
    log = cache.build_log_path(env_dir.name)
    assert bytecode.start(env_dir, env_dir.name, log)
    seen: list[tuple[int, int]] = []
    assert bytecode.follow(env_dir, env_dir.name, log, lambda d, t: seen.append((d, t)))
    total = len(sources(env_dir))
    assert seen and seen[0] == (0, total)  # the compile says how many files, at once
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert bytecode.state(env_dir)["complete"] is True


def test_follow_starts_a_compile_that_was_stopped(env_root: Path) -> None:
    env_dir = make_env(env_root, {"alpha": 3})
    log = cache.build_log_path(env_dir.name)
    assert not bytecode.compiling(env_dir.name)  # none running (an interrupted build)
    assert bytecode.follow(env_dir, env_dir.name, log, lambda d, t: None)
    assert bytecode.state(env_dir)["complete"] is True
