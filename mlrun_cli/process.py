"""Every short-lived subprocess goes through `run`: argv lists, readable errors.

(The entry point itself is long-lived and streamed; `run.supervise` spawns it.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.errors import MlrunError


class ProcessError(MlrunError):
    """A command failed: shows the command, its exit code and the tail of its output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, hint: str = "") -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        msg = f"command failed with exit code {returncode}: {' '.join(argv)}"
        if hint:
            msg += f"; {hint}"
        if tail:
            msg += "\n" + tail
        super().__init__(msg)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    hint: str = "",
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to completion, capturing stdout and stderr as text.

    With `check`, a non-zero exit raises `ProcessError`; a missing executable raises too.
    """
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ProcessError(args, 127, f"{args[0]}: not found", hint) from None
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        raise ProcessError(args, -1, f"{out}\ntimed out after {timeout} s", hint) from None
    if check and proc.returncode != 0:
        raise ProcessError(args, proc.returncode, proc.stdout + proc.stderr, hint)
    return proc


def killpg(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False if it is gone or not ours."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def alive(ident: int, group: bool = True) -> bool:
    """Signal 0 to a process group (or one process): does it exist?"""
    try:
        (os.killpg if group else os.kill)(ident, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
