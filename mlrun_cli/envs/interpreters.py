"""Find a Python interpreter by version among those on the machine. No pyenv needed.

Looked at, in order: the interpreter running mlrun, `pythonX.Y` / `python3` / `python` on PATH,
pyenv's versions directories, and uv-managed interpreters. Versions are read from directory
names where they say it, otherwise by asking the interpreter once; answers are remembered in
the cache by path and modification time.

uv is found here too (`find_uv`), and whether it can run on this machine (`uv_problem`) is
asked once per binary and remembered the same way, so a warm run starts no process for it.
"""

from __future__ import annotations

import json
import os
import re
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
        exe = which(name)
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


def which(name: str) -> str | None:
    """`shutil.which` for a plain name, without importing shutil on the warm path."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def find_uv() -> str | None:
    """The uv binary: the one installed with mlrun-cli (the `uv` dependency), else uv on PATH.

    Ours first: it is the version mlrun-cli declares (uv>=0.4), wherever PATH points. It sits
    beside the interpreter running mlrun (a virtualenv, pipx); a `--user` or system install
    is found by the uv package itself.
    """
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    if os.access(beside, os.X_OK):
        return beside
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    return which("uv")


def uv_problem(exe: str) -> str | None:
    """Why the uv binary `exe` cannot run here (None when it can).

    A uv wheel for another platform, a binary the C library cannot load, or a crash at start
    all show as `uv --version` failing. The answer is remembered by the binary's path, size and
    modification time, so this costs a process once per uv binary, not once per run.
    """
    try:
        st = os.stat(exe)
    except OSError as exc:
        return f"{exe}: {exc.strerror}"
    stamp = f"{exe}:{st.st_size}:{st.st_mtime_ns}"
    memo_file = tool_path("cache") / "uv-probe.json"
    try:
        memo = json.loads(memo_file.read_text())
        if memo.get("stamp") == stamp:
            return memo.get("problem")
    except (OSError, ValueError, AttributeError):
        pass
    problem, version = _probe_uv(exe)
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_file.with_name(f"uv-probe.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "problem": problem, "version": version}))
        os.replace(tmp, memo_file)
    except OSError:
        pass
    return problem


def uv_version(exe: str) -> str | None:
    """The version `uv --version` printed when `exe` was probed (None if unknown)."""
    if uv_problem(exe) is not None:
        return None
    try:
        version = json.loads((tool_path("cache") / "uv-probe.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def usable_uv() -> str | None:
    """A uv binary that runs on this machine, or None (then virtualenv + pip is the default)."""
    exe = find_uv()
    if exe is None or uv_problem(exe) is not None:
        return None
    return exe


def _probe_uv(exe: str) -> tuple[str | None, str | None]:
    import subprocess

    from mlrun_cli.process import ProcessError, run

    try:
        proc = run([exe, "--version"], check=False, timeout=30)
    except ProcessError as exc:  # not found, or timed out
        return str(exc).splitlines()[0], None
    except OSError as exc:  # exec format error, permission denied: a binary for elsewhere
        return f"{exe} does not start ({exc.strerror or exc})", None
    except subprocess.SubprocessError as exc:
        return f"{exe} does not start ({exc})", None
    words = proc.stdout.split()
    if proc.returncode != 0 or len(words) < 2 or words[0] != "uv":
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return f"{exe} --version failed (exit code {proc.returncode}) {tail[0][:200]}".strip(), None
    return None, words[1]


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
