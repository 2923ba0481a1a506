"""Ingest the JSON-lines file a child appends to into the store.

Each line is one JSON object with a ``type``:

- ``{"type": "param", "key": K, "value": V}``
- ``{"type": "metric", "key": K, "value": X, "step": N, "timestamp": MS}`` (step, timestamp
  optional; X may be a number or "NaN" / "Infinity" / "-Infinity")
- ``{"type": "tag", "key": K, "value": V}``
- ``{"type": "artifact", "path": P, "artifact_path": SUBDIR}`` (artifact_path optional;
  a relative P is relative to the project directory, the child's working directory)

Only complete lines (ending in a newline) are read, so a line being written is picked up
on the next read. A malformed line is reported with its number and skipped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mlrun_cli.store.base import Metric
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

_NUMBERS = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf}


@valueclass(frozen=False)
class Batch:
    metrics: list[Metric] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    param_lines: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.param_lines or self.metrics or self.tags or self.artifacts or self.problems
        )


def parse_line(text: str, base_dir: Path, batch: Batch, where: str) -> None:
    """Parse one line into `batch`; a problem is appended to `batch.problems`."""
    try:
        rec = json.loads(text)
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        kind = rec.get("type")
        if kind == "param":
            batch.param_lines.append((_key(rec), str(_required(rec, "value"))))
        elif kind == "metric":
            batch.metrics.append(
                Metric(
                    _key(rec),
                    _float(_required(rec, "value")),
                    int(rec.get("step") or 0),
                    int(rec.get("timestamp") or time.time() * 1000),
                )
            )
        elif kind == "tag":
            batch.tags[_key(rec)] = str(_required(rec, "value"))
        elif kind == "artifact":
            path = Path(str(_required(rec, "path")))
            if not path.is_absolute():
                path = base_dir / path
            sub = rec.get("artifact_path")
            batch.artifacts.append((path, str(sub) if sub else None))
        else:
            raise ValueError(f"unknown type {kind!r} (param, metric, tag or artifact)")
    except (ValueError, TypeError, KeyError) as exc:
        snippet = text if len(text) < 80 else text[:77] + "..."
        batch.problems.append(f"{where}: skipped a malformed line ({exc}): {snippet}")


def _key(rec: dict[str, Any]) -> str:
    key = rec.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("'key' must be a non-empty string")
    return key


def _required(rec: dict[str, Any], name: str) -> Any:
    if name not in rec or rec[name] is None:
        raise ValueError(f"missing {name!r}")
    return rec[name]


def _float(value: Any) -> float:
    if isinstance(value, str) and value.strip().lower() in _NUMBERS:
        return _NUMBERS[value.strip().lower()]
    if isinstance(value, bool):
        raise ValueError("a metric value must be a number")
    return float(value)


class EventReader:
    """Reads new complete lines of an events file, remembering where it stopped."""

    def __init__(self, path: Path, base_dir: Path) -> None:
        self.path = path
        self.base_dir = base_dir
        self.offset = 0
        self.line_no = 0

    def read(self) -> Batch:
        batch = Batch()
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return batch
        end = data.rfind(b"\n")
        if end < 0:
            return batch
        chunk = data[: end + 1]
        self.offset += len(chunk)
        for raw in chunk.splitlines():
            self.line_no += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                parse_line(text, self.base_dir, batch, f"{self.path.name} line {self.line_no}")
        return batch


def ingest(
    batch: Batch,
    run_id: str,
    log_batch: Callable[..., None],
    artifact_dir: Path,
    report: Callable[[str], None],
) -> None:
    """Record `batch` through `log_batch` (a store's); copy artifacts into `artifact_dir`."""
    from mlrun_cli.errors import MlrunError

    for problem in batch.problems:
        report(problem)
    for key, value in batch.param_lines:
        try:
            log_batch(run_id, params={key: value})
        except MlrunError as exc:
            report(str(exc))
    if batch.metrics or batch.tags:
        log_batch(run_id, metrics=batch.metrics, tags=batch.tags)
    for src, sub in batch.artifacts:
        try:
            copy_artifact(src, artifact_dir, sub)
        except OSError as exc:
            report(f"artifact {src}: cannot copy it ({exc.strerror or exc})")


def copy_artifact(src: Path, artifact_dir: Path, sub: str | None) -> Path:
    """Copy a file or directory into the run's artifacts (under `sub`); never outside it."""
    import shutil

    root = artifact_dir.resolve()
    dest_dir = (root / sub).resolve() if sub else root
    if dest_dir != root and root not in dest_dir.parents:
        raise OSError(0, f"artifact_path {sub!r} leaves the artifact folder")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if src.resolve() == dest:
        return dest  # written straight into the artifact folder already
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return dest


def append_events(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Append `records` as lines of an events file, in one write of whole lines (the command
    may append to the same file at the same time)."""
    if not records:
        return
    data = "".join(json.dumps(dict(r)) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def drainer(
    reader: EventReader,
    run_id: str,
    log_batch: Callable[..., None],
    artifact_dir: Path,
    capture: Any = None,
    mark: Path | None = None,
) -> Callable[[], None]:
    """A function that records the events file's new lines and the metrics `capture` (a
    MetricCapture) has matched since it last ran. With `mark`, how far the file was recorded
    is kept there after each read, so whoever finds the run lost records the rest only."""
    from mlrun_cli import console

    def drain() -> None:
        before = reader.offset
        batch = reader.read()
        if batch:
            ingest(batch, run_id, log_batch, artifact_dir, console.warn)
        if mark is not None:
            if reader.offset != before or not mark.exists():
                save_mark(mark, reader)
            else:
                with contextlib.suppress(OSError):
                    os.utime(mark)  # a sign of life: a lost run's end is the last one
        if capture is not None and (captured := capture.take()):
            log_batch(run_id, metrics=captured)

    return drain


def save_mark(mark: Path, reader: EventReader) -> None:
    """Remember how far `reader` has recorded its file (atomically; no fsync: a killed process
    leaves the page cache intact, and a lost power only repeats a few lines)."""
    tmp = mark.with_name(f".{mark.name}.{os.getpid()}.tmp")
    data = {"offset": reader.offset, "line": reader.line_no, "base_dir": str(reader.base_dir)}
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(data))
        os.replace(tmp, mark)


def resume_reader(path: Path, mark: Path, base_dir: Path) -> EventReader:
    """A reader of `path` that starts where the one that saved `mark` stopped."""
    try:
        saved = json.loads(mark.read_text())
    except (OSError, ValueError):
        saved = {}
    reader = EventReader(path, Path(saved.get("base_dir") or base_dir))
    reader.offset = int(saved.get("offset", 0))
    reader.line_no = int(saved.get("line", 0))
    return reader
