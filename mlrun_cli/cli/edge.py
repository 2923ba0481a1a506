"""The error edge every command passes: a user-fixable error is one line and its exit code
(2 for bad input), Ctrl-C is 130, anything unexpected is 3 with the traceback in a log file.
Used by the click group and by the click-free path of `mlrun run` alike."""

from __future__ import annotations

import os
import sys
import time

from mlrun_cli import __version__, console
from mlrun_cli.errors import MlrunError
from mlrun_cli.redact import redact


def report(exc: BaseException) -> int:
    """Say what `exc` means to the user; the exit code it calls for."""
    if isinstance(exc, MlrunError):
        lines = str(exc).splitlines()
        for line in lines[:1]:
            console.error(line)
        if lines[1:]:
            sys.stderr.write(redact("\n".join(lines[1:])) + "\n")
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        console.error("interrupted")
        return 130
    path = crash_log()
    console.error(f"unexpected error; the traceback is in {path}; please report it")
    return 3


def crash_log() -> str:
    """Write the traceback being handled to a crash log; its path."""
    import traceback

    from mlrun_cli.paths import tool_path

    text = traceback.format_exc()
    try:
        logs = tool_path("logs")
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(redact(f"mlrun {__version__}\nargv: {sys.argv}\n\n{text}"))
        return str(path)
    except OSError:
        sys.stderr.write(redact(text))
        return "(could not write a log; printed above)"
