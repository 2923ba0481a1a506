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

ERROR_SCHEMA = "mlrun.error/1"


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for JSON (`--json` before any `--`)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def report(exc: BaseException, *, as_json: bool = False) -> int:
    """Say what `exc` means to the user; the exit code it calls for. Under --json the error
    is also one JSON object on stdout, so a tool reading stdout always gets JSON."""
    if isinstance(exc, MlrunError):
        lines = str(exc).splitlines()
        for line in lines[:1]:
            console.error(line)
        if lines[1:]:
            sys.stderr.write(redact("\n".join(lines[1:])) + "\n")
        code, message = exc.exit_code, (lines[:1] or [""])[0]
    elif isinstance(exc, KeyboardInterrupt):
        console.error("interrupted")
        code, message = 130, "interrupted"
    else:
        path = crash_log()
        message = f"unexpected error; the traceback is in {path}; please report it"
        console.error(message)
        code = 3
    if as_json:
        error_json(message, code)
    return code


def error_json(message: str, code: int) -> None:
    """The error as JSON on stdout (schema mlrun.error/1)."""
    console.json_out({"schema": ERROR_SCHEMA, "error": message, "exit_code": code})


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
