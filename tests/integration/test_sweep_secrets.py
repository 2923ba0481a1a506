"""A sweep of a URL with credentials records and prints none of them, and its trials run the
commit the sweep was planned on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MLPROJECT = """name: s
entry_points:
  main:
    parameters:
      x: {type: float, default: 1}
    command: "cat version.txt; echo x={x}"
"""


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _mlrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


def test_no_credentials_anywhere(tmp_path: Path, isolated: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "MLproject").write_text(MLPROJECT)
    (src / "version.txt").write_text("one\n")
    _git("init", "-q", "-b", "main", cwd=src)
    _git("add", ".", cwd=src)
    _git("commit", "-qm", "one", cwd=src)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    url = f"file://user:p@ss-secret@localhost{bare}"
    proc = _mlrun("sweep", url, "-P", "x=[1,2]", "--env-manager", "local", "--json", cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    assert "secret" not in proc.stdout + proc.stderr
    assert proc.stderr.count("one") == 2  # both trials ran the planned commit
    outputs = [
        _mlrun("runs", "list", "--json", cwd=isolated).stdout,
        _mlrun("sweep", "list", "--json", cwd=isolated).stdout,
    ]
    for run_id in (line.split('"')[3] for line in outputs[0].splitlines() if '"run_id"' in line):
        outputs.append(_mlrun("runs", "show", run_id, "--json", cwd=isolated).stdout)
    assert all("secret" not in o for o in outputs)
    for path in (isolated / ".mlrun").rglob("*"):
        if path.is_file():
            assert b"secret" not in path.read_bytes(), path
