"""Find a Python interpreter by version among those on the machine. No pyenv needed.

Looked at, in order: the interpreter running mlrun, `pythonX.Y` / `python3` / `python` on PATH,
pyenv's versions directories, and uv-managed interpreters. Versions are read from directory
names where they say it, otherwise by asking the interpreter once; answers are remembered in
the cache by path and modification time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from mlrun_cli.errors import EnvError
from mlrun_cli.paths import tool_path
from mlrun_cli.values import valueclass

_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")


@valueclass
class Interpreter:
    """A Python interpreter on this machine and its exact version."""

    path: Path  # resolved executable
    version: str  # X.Y.Z


def current() -> Interpreter:
    """The interpreter running mlrun (no subprocess)."""
    return Interpreter(Path(sys.executable).resolve(), "{}.{}.{}".format(*sys.version_info[:3]))


def matches(version: str, wanted: str) -> bool:
    """`3.11` matches 3.11.x; `3.11.7` matches only itself; `3` matches 3.x.y."""
    return version == wanted or version.startswith(wanted + ".")


def find(wanted: str | None) -> Interpreter:
    """The interpreter for `wanted` (None: the one running mlrun). One clear error if none."""
    if wanted is None:
        return current()
    wanted = wanted.strip()
    if not _VERSION.match(wanted):
        raise EnvError(f"python version {wanted!r} is not of the form 3.11 or 3.11.7")
    cur = current()
    if matches(cur.version, wanted):
        return cur
    found: list[Interpreter] = []
    for candidate in _candidates(wanted):
        interp = _probe(candidate)
        if interp is None or interp in found:
            continue
        if matches(interp.version, wanted):
            return interp
        found.append(interp)
    seen = ", ".join(sorted({i.version for i in [cur, *found]})) or "none"
    raise EnvError(
        f"no Python {wanted} on this machine (found: {seen}); install it (e.g. "
        f"'uv python install {wanted}', pyenv, or your package manager) or change the "
        "python version in the environment file"
    )


def _candidates(wanted: str) -> list[Path]:
    major_minor = ".".join(wanted.split(".")[:2])
    names = [f"python{major_minor}", "python3", "python"]
    paths: list[Path] = []
    for name in names:
        exe = shutil.which(name)
        if exe:
            paths.append(Path(exe))
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), reverse=True):
            if matches(entry.name, wanted) or entry.name.startswith(major_minor):
                paths.append(entry / "bin" / "python")
    paths.extend(_uv_pythons())
    return paths


def _uv_pythons() -> list[Path]:
    uv = find_uv()
    if uv is None:
        return []
    from mlrun_cli.process import ProcessError, run

    try:
        proc = run(
            [uv, "python", "list", "--only-installed", "--output-format", "json"], timeout=20
        )
        return [Path(item["path"]) for item in json.loads(proc.stdout) if item.get("path")]
    except (ProcessError, ValueError, KeyError, TypeError):
        return []


def find_uv() -> str | None:
    """uv on PATH, or the binary of the `uv` package (the `mlrun-cli[uv]` extra)."""
    exe = shutil.which("uv")
    if exe:
        return exe
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def _probe(path: Path) -> Interpreter | None:
    """Ask `path` for its version (remembered by resolved path and mtime)."""
    try:
        real = path.resolve(strict=True)
        stamp = f"{real}:{real.stat().st_mtime_ns}"
    except OSError:
        return None
    memo_file = tool_path("cache") / "interpreters.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if stamp in memo:
        version, exe = memo[stamp]
        return Interpreter(Path(exe), version)
    from mlrun_cli.process import ProcessError, run

    try:
        proc = run(
            [
                str(path),
                "-c",
                "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)",
            ],
            timeout=20,
        )
    except ProcessError:
        return None
    lines = proc.stdout.split("\n")
    version = lines[0].strip()
    if not _VERSION.match(version) or len(lines) < 2 or not lines[1].strip():
        return None
    # A shim (pyenv's, say) reports the real interpreter behind it: build from that one.
    exe = str(Path(lines[1].strip()).resolve())
    memo[stamp] = [version, exe]
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_file.with_name(f"interpreters.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, memo_file)
    except OSError:
        pass
    return Interpreter(Path(exe), version)
