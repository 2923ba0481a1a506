"""Virtualenvs with MLflow's client for the tests, built once and reused across sessions.

`MLRUN_TEST_MLFLOW_VENV` / `MLRUN_TEST_MLFLOW_SKINNY_VENV` point at ready ones; otherwise they
are built with uv under the system temp dir, keyed by the version. A failed install skips
the tests that need them, with the reason.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

MLFLOW_VERSION = "3.17.2"
SPECS = {
    "full": (f"mlflow=={MLFLOW_VERSION}",),
    "skinny": (f"mlflow-skinny=={MLFLOW_VERSION}",),
}


def mlflow_venv(kind: str) -> Path:
    """The venv's root; built on first use (under a lock, so parallel sessions wait)."""
    override = os.environ.get(
        "MLRUN_TEST_MLFLOW_VENV" if kind == "full" else "MLRUN_TEST_MLFLOW_SKINNY_VENV"
    )
    if override:
        return Path(override)
    from mlrun_cli.envs.interpreters import find_uv

    root = (
        Path(tempfile.gettempdir())
        / "mlrun-test-venvs"
        / f"mlflow-{kind}-{MLFLOW_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    )
    done = root / ".complete"
    if done.exists():
        return root
    uv = find_uv()
    if uv is None:
        pytest.skip("building the MLflow test virtualenv needs uv (pip install 'mlrun-cli[test]')")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(str(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return root
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_CACHE_DIR")}
        steps = [
            [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(root)],
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(root / "bin" / "python"),
                *SPECS[kind],
            ],
        ]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                pytest.skip(
                    f"cannot install {SPECS[kind]} for the tests: {proc.stderr.strip()[-300:]}"
                )
        done.write_text("ok\n")
    return root
