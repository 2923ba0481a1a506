"""How runs look on the terminal and in JSON: times, durations, values, sparklines, rows."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.store.mlflow_messages import json_number

SPARKS = "▁▂▃▄▅▆▇█"


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    s = (end - start) / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def fmt_value(v: float) -> str:
    """A metric value as tables show it."""
    return f"{v:.6g}"


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """A unicode sparkline of the last `width` values (NaN and inf shown as spaces)."""
    import math

    tail = list(values)[-width:]
    finite = [v for v in tail if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in tail:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[int((v - lo) / span * (len(SPARKS) - 1) + 0.5)])
    return "".join(out)


def run_to_dict(run: Any) -> dict[str, Any]:
    """The documented JSON shape of a run (schema mlrun.run-record/1)."""
    duration = None
    if run.start_time is not None and run.end_time is not None:
        duration = (run.end_time - run.start_time) / 1000
    return {
        "run_id": run.run_id,
        "name": run.name,
        "experiment_id": run.experiment_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": duration,
        "exit_code": run.exit_code,
        "user": run.user,
        "command": run.command,
        "lifecycle_stage": run.lifecycle_stage,
        "artifact_uri": run.artifact_uri,
        "params": dict(run.params),
        "metrics": {
            k: {"value": json_number(m.value), "step": m.step, "timestamp": m.timestamp}
            for k, m in run.metrics.items()
        },
        "tags": dict(run.tags),
    }


PROVENANCE = (
    ("source", "mlflow.source.name"),
    ("version", "mlrun.source.version"),
    ("commit", "mlflow.source.git.commit"),
    ("branch", "mlflow.source.git.branch"),
    ("repository", "mlflow.source.git.repoURL"),
    ("local repo", "mlrun.source.local_repo"),
    ("project", "mlrun.project.path"),
    ("dirty", "mlrun.git.dirty"),
    ("untracked", "mlrun.git.untracked"),
    ("rerun of", "mlrun.rerun_of"),
)
ENVIRONMENT = (
    ("manager", "mlflow.project.env"),
    ("key", "mlrun.env.key"),
    ("python", "mlrun.env.python"),
)


def provenance_rows(tags: Any) -> list[tuple[str, str]]:
    """Where a run's code came from, as (label, value) rows."""
    return [(label, tags[tag]) for label, tag in PROVENANCE if tag in tags]


def data_context(tags: Any) -> str:
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("key") == "mlflow.data.context":
            return str(tag.get("value"))
    return ""


COLUMN_ENTITIES = ("params", "metrics", "tags")


def parse_columns(text: str | None) -> list[str] | None:
    """`params.C,metrics.accuracy,tags.x` -> the keys; None when not given."""
    if text is None:
        return None
    import click

    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        entity, dot, name = key.partition(".")
        if not dot or not name or entity not in COLUMN_ENTITIES:
            raise click.BadParameter(
                f"{key!r}: use params.NAME, metrics.NAME or tags.NAME", param_hint="--columns"
            )
    return keys


def default_columns(runs: Sequence[Any], metrics: int = 4, params: int = 3) -> list[str]:
    """The metrics most of `runs` share (most common first) and the params whose values
    differ between them: what tells the runs apart."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.metrics:
            counts[key] = counts.get(key, 0) + 1
    shared = sorted(counts, key=lambda k: (-counts[k], k))[:metrics]
    differing = sorted(
        k for k in {k for r in runs for k in r.params} if len({r.params.get(k) for r in runs}) > 1
    )[:params]
    return [*(f"metrics.{k}" for k in shared), *(f"params.{k}" for k in differing)]


def column_value(run: Any, key: str) -> str:
    """The value of column `key` (params.NAME, metrics.NAME, tags.NAME) for `run`."""
    entity, _, name = key.partition(".")
    if entity == "metrics":
        metric = run.metrics.get(name)
        return fmt_value(metric.value) if metric is not None else ""
    return str((run.params if entity == "params" else run.tags).get(name, ""))


EXPORT_FORMATS = ("csv", "tsv", "json", "parquet")
_ATTRIBUTES = ("run_id", "name", "experiment_id", "status", "start_time", "end_time",
               "duration_s", "exit_code", "user", "command", "lifecycle_stage", "artifact_uri")  # fmt: skip


def export_rows(runs: Sequence[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns (attributes, then params., metrics., tags. sorted) and one row a run."""
    rows = []
    keys: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
    for run in runs:
        d = run_to_dict(run)
        row = {k: d[k] for k in _ATTRIBUTES}
        for k, v in run.params.items():
            row[f"params.{k}"] = v
        for k, m in run.metrics.items():
            row[f"metrics.{k}"] = json_number(m.value)
        for k, v in run.tags.items():
            row[f"tags.{k}"] = v
        for entity in keys:
            keys[entity].update(getattr(run, entity))
        rows.append(row)
    columns = [*_ATTRIBUTES]
    for entity in ("params", "metrics", "tags"):
        columns += [f"{entity}.{k}" for k in sorted(keys[entity])]
    return columns, rows


def export_runs(runs: Sequence[Any], fmt: str, output: Path | None) -> None:
    """Write `runs` in `fmt` to `output` (a file, atomically) or stdout."""
    import sys

    columns, rows = export_rows(runs)
    if fmt == "parquet":
        _write_parquet(columns, rows, output)
        return
    if fmt == "json":
        import json

        text = json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2) + "\n"
    else:
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        text = buf.getvalue()
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, output)


def _write_parquet(columns: list[str], rows: list[dict[str, Any]], output: Path | None) -> None:
    from mlrun_cli.errors import MlrunError

    if output is None:
        raise MlrunError("--format parquet writes a file: pass -o FILE")
    try:
        import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise MlrunError(
            "--format parquet needs pyarrow: pip install pyarrow (or use csv, tsv or json)"
        ) from None
    table = pa.table(
        {c: [None if r.get(c) is None else str(r.get(c)) for r in rows] for c in columns}
    )
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, output)
