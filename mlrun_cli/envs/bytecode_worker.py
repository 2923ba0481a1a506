"""Compile an environment's bytecode in the background: run by the env's own interpreter.

    ENV/bin/python -I -S bytecode_worker.py ENV_DIR LOCK_FILE [PROJECT_DIR]

Started by `envs.bytecode` once an env is ready (and again by a later run if a compile was
interrupted), in a session of its own, at the lowest CPU priority (nice 19), with its output
in the env's build log. It uses only the standard library and nothing of mlrun_cli: the env's
interpreter may be another Python version than mlrun's, and mlrun is not installed in it.
Written for Python 3.7 and later, the oldest an env may have.

Why it is safe to interrupt, and to run beside runs of the env:

- Each `.pyc` is written by `py_compile`, which writes a temporary file beside it and renames
  it into place: an importer sees the old file, no file, or the whole new one. A run that
  imports a module meanwhile may write the same `.pyc` itself, the same way, with the same
  content.
- Files whose `.pyc` is already up to date are skipped (compileall's check of the header), so
  a compile that starts again after an interruption only does what is left.
- One compile per env at a time: the lock file is held (flock) for the whole compile; a second
  worker finding it held exits at once. The holder's pid is in the file, for whoever must stop
  it (a rebuild, a prune).
- The state file is replaced atomically, and says `complete` only after every file was
  compiled, and only while the env is still the one the compile started on (its completion
  marker unchanged): a rebuilt env never inherits another build's state.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time

ENV_MARKER = ".mlrun-env.json"
STATE = ".mlrun-bytecode.json"
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
PROGRESS_EVERY = 2.0  # seconds between state updates while compiling
CHECK_EVERY = 200  # files between checks that the env is still there and the same


def main(argv: list[str]) -> int:
    env_dir, lock_file = argv[0], argv[1]
    project = argv[2] if len(argv) > 2 else None
    lowest_priority()
    lock = _take_lock(lock_file)
    if lock is None:
        return 0  # another compile of this env is running
    identity = _identity(env_dir)
    if identity is None:
        return 0  # the env is gone (or being rebuilt)
    if _read_state(env_dir).get("complete"):
        return 0
    t0 = time.monotonic()
    files = ordered_files(env_dir, project)
    print(f"\n## compiling the bytecode of {len(files)} files (pid {os.getpid()})", flush=True)
    # Its pid in the env, beside the lock's: whoever lists or removes the env sees who compiles.
    _write_state(env_dir, {"complete": False, "done": 0, "total": len(files), "pid": os.getpid()})
    done, failed = compile_all(files, env_dir, identity)
    if done < 0:
        print("stopped: the environment was removed or rebuilt", flush=True)
        return 3
    _write_state(
        env_dir,
        {
            "complete": True,
            "files": len(files),
            "failed": failed,
            "seconds": round(time.monotonic() - t0, 2),
            "cache_tag": sys.implementation.cache_tag,
            "finished": int(time.time()),
        },
    )
    took = time.monotonic() - t0
    print(f"bytecode complete: {len(files)} files in {took:.1f}s ({failed} not compilable)")
    os.close(lock)
    return 0


def lowest_priority() -> None:
    """nice 19: the run that started us (and anything else at normal priority) comes first.

    On Linux with autogroup scheduling (the default on desktops, and here), nice only ranks
    the processes of one session against each other, and sessions share the CPU as equals: a
    worker in a session of its own would take half of it from the run. So the session's own
    autogroup is niced too. Not SCHED_IDLE: on a machine others keep busy it would starve
    the compile for good, while nice 19 leaves a normal-priority neighbour ~98% of a core.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.nice(19)
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as fh:
        fh.write("19")


def _take_lock(path: str) -> int | None:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    # A few tries: a run checking whether a compile is running holds the lock for an instant.
    for _attempt in range(5):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(0.1)
    else:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd  # held until this process exits, however it exits


def _identity(env_dir: str) -> tuple[int, int] | None:
    """The env's completion marker as (inode, mtime): it changes when the env is rebuilt."""
    try:
        st = os.stat(os.path.join(env_dir, ENV_MARKER))
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def _read_state(env_dir: str) -> dict[str, object]:
    try:
        with open(os.path.join(env_dir, STATE)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(env_dir: str, state: dict[str, object]) -> None:
    path = os.path.join(env_dir, STATE)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def site_packages(env_dir: str) -> list[str]:
    """The env's site-packages folders (lib/pythonX.Y/site-packages)."""
    found: list[str] = []
    lib = os.path.join(env_dir, "lib")
    try:
        names = sorted(os.listdir(lib))
    except OSError:
        return found
    for name in names:
        candidate = os.path.join(lib, name, "site-packages")
        if name.startswith("python") and os.path.isdir(candidate):
            found.append(candidate)
    return found


def imported_names(project: str | None, limit: int = 300) -> list[str]:
    """Top-level names the project's Python files import, in order of first appearance."""
    if not project or not os.path.isdir(project):
        return []
    names: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and d != "node_modules")
        if root.count(os.sep) - project.count(os.sep) >= 2:
            dirs[:] = []
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            seen += 1
            if seen > limit:
                return names
            _add_imports(os.path.join(root, name), names)
    return names


def _add_imports(path: str, names: list[str]) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(200_000)
    except OSError:
        return
    for match in IMPORT.finditer(text):
        if match.group(1) not in names:
            names.append(match.group(1))


def ordered_files(env_dir: str, project: str | None) -> list[str]:
    """Every .py file of the env's site-packages; what the project imports first.

    The order: the packages the project's files import, then what those packages' own
    `__init__` imports (two levels: sklearn brings numpy, scipy, joblib), then the rest by
    name. Cheap (a regex over a few files), and it is done in the background anyway.
    """
    entries: dict[str, list[str]] = {}  # top-level name -> its paths in site-packages
    for folder in site_packages(env_dir):
        for name in sorted(os.listdir(folder)):
            if name == "__pycache__" or name.endswith((".dist-info", ".egg-info", ".data")):
                continue
            top = name[:-3] if name.endswith(".py") else name
            entries.setdefault(top, []).append(os.path.join(folder, name))
    first = [n for n in imported_names(project) if n in entries]
    for _level in range(2):
        for name in list(first):
            for path in entries[name]:
                init = os.path.join(path, "__init__.py") if os.path.isdir(path) else path
                found: list[str] = []
                _add_imports(init, found)
                first.extend(n for n in found if n in entries and n not in first)
    order = first + sorted(n for n in entries if n not in first)
    files: list[str] = []
    for name in order:
        for path in entries[name]:
            if os.path.isdir(path):
                files.extend(_walk_py(path))
            elif path.endswith(".py"):
                files.append(path)
    return files


def _walk_py(top: str) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
    return found


_MARKER = ""  # the env's completion marker, set before the pool forks


def compile_one(path: str) -> bool:
    """Compile one file unless its .pyc is up to date; False if it cannot be compiled.

    Nothing is written once the env's marker is gone: a removal deletes it first, and
    py_compile would otherwise make `__pycache__` folders again in a tree being deleted
    (which then fails with "Directory not empty").
    """
    import compileall
    import py_compile

    if _MARKER and not os.path.exists(_MARKER):
        return False
    try:
        return bool(
            compileall.compile_file(
                path,
                quiet=2,
                # Timestamp-checked, as the import system writes them (SOURCE_DATE_EPOCH in
                # the environment would otherwise make py_compile write hash-checked ones).
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        )
    except Exception:  # a file removed under us, an unreadable one: not this compile's problem
        return False


def compile_all(files: list[str], env_dir: str, identity: tuple[int, int]) -> tuple[int, int]:
    """Compile `files` in order, on every core (all of them at the lowest priority).

    Returns (done, failed); done is -1 when the env was removed or rebuilt meanwhile.
    """
    global _MARKER
    _MARKER = os.path.join(env_dir, ENV_MARKER)
    jobs = min(os.cpu_count() or 1, 4)
    results = _results(files, jobs)
    done = failed = 0
    last = time.monotonic()
    try:
        for ok in results:
            done += 1
            failed += not ok
            if done % CHECK_EVERY == 0 and _identity(env_dir) != identity:
                return -1, failed
            if time.monotonic() - last > PROGRESS_EVERY:
                last = time.monotonic()
                state: dict[str, object] = {"complete": False, "done": done}
                state.update(total=len(files), pid=os.getpid())
                _write_state(env_dir, state)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if _identity(env_dir) != identity:
        return -1, failed
    return done, failed


class _Serial:
    def __init__(self, files: list[str]) -> None:
        self._it = (compile_one(f) for f in files)

    def __iter__(self) -> _Serial:
        return self

    def __next__(self) -> bool:
        return next(self._it)

    def close(self) -> None:
        pass


class _Pooled:
    """Results from a pool of forked processes, in the order of the files."""

    def __init__(self, files: list[str], jobs: int) -> None:
        import multiprocessing

        self._pool = multiprocessing.get_context("fork").Pool(jobs)
        self._it = self._pool.imap(compile_one, files, chunksize=16)

    def __iter__(self) -> _Pooled:
        return self

    def __next__(self) -> bool:
        return bool(next(self._it))

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _results(files: list[str], jobs: int) -> _Serial | _Pooled:
    import multiprocessing

    if jobs > 1 and len(files) > 200 and "fork" in multiprocessing.get_all_start_methods():
        try:
            return _Pooled(files, jobs)
        except OSError:
            pass
    return _Serial(files)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
