"""Serving and batch scoring of a model: its scoring server (`scoring_server`, a script) run
by the interpreter of the model's environment.

The listening socket is bound here, before the environment is prepared or anything is
loaded, so a port in use is one line at once; the server inherits it. The server runs in a
session of its own: Ctrl-C and SIGTERM reach mlrun, which ends the server and waits for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from mlrun_cli.errors import MlrunError

SCRIPT = Path(__file__).with_name("scoring_server.py")
CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
}


def bind(host: str, port: int) -> socket.socket:
    """The listening socket of the server; one clear error if the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == 98 else f"cannot be bound ({exc.strerror})"
        raise MlrunError(f"port {port} on {host} {reason}; pass another with --port") from None
    sock.listen(128)
    return sock


def serve(
    python: str, model_dir: Path, sock: socket.socket, workers: int, env: dict[str, str]
) -> int:
    """Run the scoring server until it ends or mlrun is told to stop; its exit code."""
    fd = sock.fileno()
    proc = subprocess.Popen(
        [python, str(SCRIPT), "serve", str(model_dir), "--fd", str(fd), "--workers", str(workers)],
        pass_fds=(fd,),
        env=env,
        start_new_session=True,
    )
    sock.close()  # the server holds it now
    stopping: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = proc.wait(timeout=10 if stopping else None)
                break
            except subprocess.TimeoutExpired:
                proc.kill()  # it did not stop within 10 s of being asked
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopping:
        return 0  # stopped as asked
    if code != 0:
        raise MlrunError(
            f"the scoring server for {model_dir} exited with code {code}; see its output above"
        )
    return 0


def predict(
    python: str, model_dir: Path, source: Path, output: Path | None, env: dict[str, str]
) -> int:
    """Score the file `source` (csv, json or parquet) in the model's environment."""
    content_type = CONTENT_TYPES.get(source.suffix.lower())
    if content_type is None:
        raise MlrunError(
            f"{source}: unknown input format {source.suffix!r}; give a .csv, .json or .parquet file"
        )
    if not source.is_file():
        raise MlrunError(f"{source}: no such input file")
    argv = [python, str(SCRIPT), "predict", str(model_dir), "--input", str(source)]
    argv += ["--content-type", content_type]
    if output is not None:
        argv += ["--output", str(output)]
    proc = subprocess.run(argv, env=env, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        said = [ln for ln in lines if ln.startswith("error: ")]
        detail = (said or lines or ["no output"])[-1].removeprefix("error: ")
        raise MlrunError(f"scoring {source} failed: {detail}")
    return 0
