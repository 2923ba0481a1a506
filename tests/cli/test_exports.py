"""Exports for people and tools: runs as csv/tsv/json; a run's artifacts listed and copied."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mlrun_cli.store.base import Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

Cli = Callable[..., Result]
RID = "a" * 32


@pytest.fixture
def store(isolated: Path) -> SqliteStore:
    s = SqliteStore(isolated / ".mlrun")
    s.create_run(NewRun(RID, "0", "r0", "ann", "t", {"C": "1"}, {"x": "y"}, start_time=1000))
    s.create_run(NewRun("b" * 32, "0", "r1", "ann", "t", {"C": "2"}, {}, start_time=2000))
    s.log_batch(RID, metrics=[Metric("acc", 0.5, 0, 1000), Metric("acc", 0.9, 1, 1000)])
    s.set_terminated(RID, "FINISHED", 3000, 0)
    art = s.artifact_dir(RID)
    (art / "model").mkdir(parents=True)
    (art / "model" / "model.pkl").write_bytes(b"\x00pickle")
    (art / "report.txt").write_text("ok\n")
    return s


def test_export_csv_tsv_json(cli_run: Cli, store: SqliteStore, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(cli_run("runs", "export").stdout)))
    assert [r["name"] for r in rows] == ["r1", "r0"]
    assert rows[1]["params.C"] == "1" and rows[1]["metrics.acc"] == "0.9"
    assert rows[1]["tags.x"] == "y" and rows[0]["tags.x"] == ""
    tsv = cli_run("runs", "export", "--format", "tsv").stdout
    assert tsv.splitlines()[0].split("\t")[:3] == ["run_id", "name", "experiment_id"]
    out = tmp_path / "runs.json"
    result = cli_run(
        "runs", "export", "--format", "json", "-o", str(out), "--filter", "params.C = '1'"
    )
    assert result.stderr == f"1 run written to {out}\n"
    (only,) = json.loads(out.read_text())
    assert only["run_id"] == RID and only["duration_s"] == 2.0


def test_export_parquet_needs_a_file_and_pyarrow(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("runs", "export", "--format", "parquet")
    assert result.exit_code == 2
    assert result.stderr == "error: --format parquet writes a file: pass -o FILE\n"


def test_artifacts_list_and_download(cli_run: Cli, store: SqliteStore, tmp_path: Path) -> None:
    listed = json.loads(cli_run("artifacts", "list", RID[:6], "--json").stdout)
    assert [a["path"] for a in listed["artifacts"]] == ["model/model.pkl", "report.txt"]
    dest = tmp_path / "out"
    result = cli_run("artifacts", "download", RID[:6], "model", "-o", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "model" / "model.pkl").read_bytes() == b"\x00pickle"
    assert not (dest / "report.txt").exists()
    everything = cli_run("artifacts", "download", RID[:6], "-o", str(tmp_path / "all"))
    assert everything.stderr == f"2 files written to {tmp_path / 'all'}\n"


def test_artifact_paths_cannot_leave_the_folder(cli_run: Cli, store: SqliteStore) -> None:
    result = cli_run("artifacts", "download", RID[:6], "../../etc", "-o", "x")
    assert result.exit_code == 2
    assert "must be relative" in result.stderr
    missing = cli_run("artifacts", "download", RID[:6], "nope")
    assert missing.exit_code == 2
    assert missing.stderr == (
        f"error: run {RID[:8]} has no artifact 'nope'; see 'mlrun artifacts list {RID[:8]}'\n"
    )
