"""The environment cache: keys, locks, atomic builds, health checks, rebuild reasons.

The protocol (after pre-commit's store): compute the key from every input; if a complete,
healthy env is there, use it. Otherwise take the env's file lock, check again (another
process may have finished the build while we waited), remove whatever half-built or broken
env is in the way, build at the final path (a virtualenv is not relocatable), health-check
it, and write the completion marker last with an atomic rename. An env without its marker is
never used.

Running the build steps is `buildlog`'s; listing and pruning the cache (`mlrun envs`) are here.
An env's bytecode compile (`bytecode`) runs in the background after the marker is written;
before an env directory is removed, a compile running in it is stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.digest import sha256
from mlrun_cli.envs import BuildInterrupted
from mlrun_cli.errors import EnvError
from mlrun_cli.paths import tool_path
from mlrun_cli.values import valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:  # the build log is loaded by a build only, not by a warm run
    from typing import Any

    from mlrun_cli.envs.buildlog import BuildLog, Cancelled

    HealthCheck = Callable[[Path, Mapping[str, Any]], str | None]
    Build = Callable[[Path, BuildLog], Mapping[str, Any]]

FORMAT_VERSION = 1
MARKER = ".mlrun-env.json"
LAST_USED = ".mlrun-last-used"
FREEZE = "mlrun-freeze.txt"


@valueclass
class EnvKey:
    """An env's identity: the digest of every input that matters, and the inputs themselves."""

    manager: str
    digest: str
    inputs: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.manager}-{self.digest[:16]}"

    @property
    def path(self) -> Path:
        return tool_path("envs") / self.name


def make_key(manager: str, inputs: Mapping[str, Any]) -> EnvKey:
    """sha256 over the cache format version, the manager and every input, canonically encoded."""
    payload = json.dumps(
        {"format": FORMAT_VERSION, "manager": manager, **inputs}, sort_keys=True, default=str
    )
    return EnvKey(manager, sha256(payload.encode()).hexdigest(), dict(inputs))


def platform_tag() -> str:
    """The OS and machine an env was built for (a key input: envs are not portable)."""
    return f"{sys.platform}-{os.uname().machine}"


def read_marker(env_dir: Path) -> dict[str, Any] | None:
    """The completion marker of the env at `env_dir`, or None if it is not complete."""
    try:
        data = json.loads((env_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _lock_path(name: str) -> Path:
    return tool_path("envs") / ".locks" / f"{name}.lock"


@contextlib.contextmanager
def locked(name: str, cancelled: Cancelled | None) -> Iterator[None]:
    """Hold the env's exclusive file lock; say so once if another process holds it."""
    path = _lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    console.info(f"waiting for another process building environment {name}")
                    told = True
                if cancelled is not None and cancelled():
                    raise BuildInterrupted() from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(name: str) -> bool:
    """True while some process holds env `name`'s lock (it is being built)."""
    path = _lock_path(name)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def touch_last_used(env_dir: Path) -> None:
    """Record that the env was used now (what `prune --older-than` goes by)."""
    with contextlib.suppress(OSError):
        (env_dir / LAST_USED).write_text(str(int(time.time())))


def ensure(
    key: EnvKey,
    *,
    build: Build,
    health: HealthCheck,
    cancelled: Cancelled | None = None,
    project: str | None = None,
) -> tuple[Path, dict[str, Any], bool]:
    """A ready env for `key`: (path, marker, reused). Builds it at most once across processes.

    `build(path, log)` creates the env at `path` and returns facts for the marker;
    `health(path, marker)` returns None when the env is usable, else the reason it is not.
    """
    env_dir = key.path
    marker = read_marker(env_dir)
    if marker is not None and marker.get("key") == key.digest:
        problem = health(env_dir, marker)
        if problem is None:
            touch_last_used(env_dir)
            return env_dir, marker, True
    with locked(key.name, cancelled):
        # Checked again under the lock: another process may have built it meanwhile.
        marker = read_marker(env_dir)
        if marker is not None and marker.get("key") == key.digest:
            problem = health(env_dir, marker)
            if problem is None:
                touch_last_used(env_dir)
                return env_dir, marker, True
            console.info(f"environment {key.name} is broken ({problem}); rebuilding it")
        elif env_dir.exists():
            console.info(f"environment {key.name} was not completely built; rebuilding it")
        else:
            reason = _change_reason(project, key)
            if reason:
                console.info(f"environment changed ({reason}); building {key.name}")
        marker = _build(key, build, health, cancelled)
        _remember_project(project, key)
        return env_dir, marker, False


def _build(
    key: EnvKey, build: Build, health: HealthCheck, cancelled: Cancelled | None
) -> dict[str, Any]:
    """Build the env at its final path under the held lock; the marker is written last."""
    from mlrun_cli.envs.buildlog import BuildLog

    env_dir = key.path
    _remove(env_dir)
    env_dir.mkdir(parents=True)
    log = BuildLog(build_log_path(key.name), cancelled)
    t0 = time.monotonic()
    try:
        facts = dict(build(env_dir, log))
        problem = health(env_dir, {**facts, "key": key.digest})
        if problem is not None:
            raise EnvError(f"environment {key.name} failed its health check: {problem}")
    except BaseException:
        # Interrupts too: a half-built env must not be left where a later run could find it.
        log.close()
        _remove(env_dir)
        raise
    log.close()
    marker = {
        "key": key.digest,
        "name": key.name,
        "manager": key.manager,
        "created": int(time.time()),
        "build_seconds": round(time.monotonic() - t0, 2),
        "inputs": key.inputs,
        **facts,
    }
    tmp = env_dir / f"{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(marker, indent=1, default=str))
    os.replace(tmp, env_dir / MARKER)  # last: only now is the env complete
    touch_last_used(env_dir)
    return marker


def build_log_path(name: str) -> Path:
    """The installer log of env `name`'s latest build; kept beside the env, also on failure."""
    return tool_path("envs") / ".logs" / f"{name}.log"


def _remove(env_dir: Path) -> None:
    """Remove an env directory (the marker first, so nobody takes it for complete).

    A bytecode compile running in it is stopped first: it would write into the directory
    while it is deleted (leaving it behind), or into the env rebuilt at the same path.
    """
    if not env_dir.exists():
        return
    import shutil

    from mlrun_cli.envs import bytecode

    with contextlib.suppress(OSError):
        (env_dir / MARKER).unlink()  # also tells a running compile to write nothing more
    bytecode.stop(env_dir.name)
    for _attempt in range(10):
        shutil.rmtree(env_dir, ignore_errors=True)
        if not env_dir.exists():
            return
        time.sleep(0.1)  # a straggler (a file being written as we looked) wrote into it
    try:
        shutil.rmtree(env_dir)  # still there: this time say why
    except OSError as exc:
        raise EnvError(f"cannot remove {env_dir}: {exc}; remove it by hand") from None


def _project_record(project: str, manager: str) -> Path:
    digest = sha256(f"{project}\0{manager}".encode()).hexdigest()[:24]
    return tool_path("envs") / ".projects" / f"{digest}.json"


def _remember_project(project: str | None, key: EnvKey) -> None:
    if project is None:
        return
    path = _project_record(project, key.manager)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"name": key.name, "inputs": key.inputs}, default=str))
        os.replace(tmp, path)


def _change_reason(project: str | None, key: EnvKey) -> str | None:
    """What changed since this project's previous env (tox-style), or None for a first build."""
    if project is None:
        return None
    try:
        before = json.loads(_project_record(project, key.manager).read_text())["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return describe_change(before, dict(key.inputs)) or "inputs changed"


def describe_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What differs between two sets of key inputs, field by field (added, removed, changed)."""
    parts: list[str] = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            added = [x for x in new if x not in old]
            removed = [x for x in old if x not in new]
            bits = [f"+{x}" for x in added] + [f"-{x}" for x in removed]
            parts.append(f"{field}: {' '.join(bits) or 'reordered'}")
        elif isinstance(old, dict) and isinstance(new, dict):
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            parts.append(f"{', '.join(Path(k).name for k in changed)} changed")
        else:
            parts.append(f"{field}: {old} -> {new}")
    return "; ".join(parts)


def dir_size(path: Path) -> int:
    """Bytes used by the files under `path` (symlinks counted as links)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def list_envs() -> list[dict[str, Any]]:
    """Every env in the cache with its marker facts, size, last use and state: ready,
    building (its build holds its lock), or incomplete (a build that did not finish)."""
    root = tool_path("envs")
    found: list[dict[str, Any]] = []
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        marker = read_marker(entry)
        state = "ready" if marker is not None else "building" if is_locked(entry.name) else None
        try:
            last = int((entry / LAST_USED).read_text())
        except (OSError, ValueError):
            last = int(entry.stat().st_mtime)
        found.append(
            {
                "name": entry.name,
                "path": str(entry),
                "manager": (marker or {}).get("manager", "?"),
                "python": (marker or {}).get("python_version"),
                "complete": marker is not None,
                "state": state or "incomplete",
                "size": dir_size(entry),
                "last_used": last,
                "created": (marker or {}).get("created"),
                **_bytecode_fields(entry, marker),
            }
        )
    return found


def _bytecode_fields(env_dir: Path, marker: dict[str, Any] | None) -> dict[str, Any]:
    """`bytecode`: complete, compiling or incomplete (None for an incomplete env), and
    `bytecode_progress`: [files done, files in all] while a compile reports it."""
    from mlrun_cli.envs import bytecode

    if marker is None:
        return {"bytecode": None, "bytecode_progress": None}
    state = bytecode.status(env_dir, env_dir.name, marker)
    progress = bytecode.progress(env_dir) if state != bytecode.COMPLETE else None
    return {"bytecode": state, "bytecode_progress": list(progress) if progress else None}


def prune(
    older_than_days: float | None, everything: bool, *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Remove envs unused for `older_than_days` (or all, or incomplete ones); never one being
    built. Returns the envs removed (with `dry_run`, the ones that would be, left in place)."""
    now = time.time()
    removed = []
    for env in list_envs():
        too_old = older_than_days is not None and now - env["last_used"] > older_than_days * 86400
        if not (everything or too_old or not env["complete"]) or is_locked(env["name"]):
            continue
        if not dry_run:
            _remove(Path(env["path"]))  # a compile running in it is stopped first
        removed.append(env)
    return removed
