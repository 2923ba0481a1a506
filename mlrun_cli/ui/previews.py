"""Bounded previews of a run's artifacts, and the one way a path in a request becomes a file.

A preview reads at most `PREVIEW_BYTES` of a file however large it is (a 10 GB log costs what
a 64 KiB one does); an image is shown by the browser from the file's own URL only below
`IMAGE_BYTES`; HTML is shown in a sandboxed frame (no scripts, no same origin). Every file
also has a plain download link, which never previews.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath

from mlrun_cli.errors import MlrunError

PREVIEW_BYTES = 64 * 1024
JSON_BYTES = 1024 * 1024  # parsed and pretty-printed below this size; else shown as text
IMAGE_BYTES = 20 * 1024 * 1024
CSV_ROWS = 50
IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
HTML = (".html", ".htm")
TYPES = {
    **IMAGES,
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
}


class NotAnArtifact(MlrunError):
    """The path names no file among the run's artifacts."""


def artifact_file(root: Path, path: str) -> Path:
    """The file `path` (relative, POSIX) names below `root`; never a file outside it, even
    through a symbolic link."""
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts or "\\" in path or "\x00" in path:
        raise NotAnArtifact(f"artifact path {path!r} must be relative, without '..'")
    full = (root / rel).resolve()
    base = root.resolve()
    if base not in full.parents or not full.is_file():
        raise NotAnArtifact(f"no artifact {path!r}")
    return full


def content_type(path: Path) -> str:
    return TYPES.get(path.suffix.lower(), "application/octet-stream")


def preview(root: Path, path: str) -> dict[str, object]:
    """What the run page shows of one artifact: its kind, and a bounded excerpt."""
    full = artifact_file(root, path)
    size = full.stat().st_size
    suffix = full.suffix.lower()
    out: dict[str, object] = {"path": path, "size": size}
    if suffix in IMAGES:
        return {**out, "kind": "image" if size <= IMAGE_BYTES else "none"}
    if suffix in HTML:
        return {**out, "kind": "html"}
    with full.open("rb") as f:
        head = f.read(JSON_BYTES if suffix == ".json" else PREVIEW_BYTES)
    truncated = size > len(head)
    if suffix == ".json" and not truncated:
        try:
            text = json.dumps(json.loads(head), indent=2)[:PREVIEW_BYTES]
            return {**out, "kind": "json", "text": text, "truncated": len(text) >= PREVIEW_BYTES}
        except (ValueError, UnicodeDecodeError):
            pass
    head = head[:PREVIEW_BYTES]
    truncated = size > len(head)
    if b"\x00" in head[:8192]:
        return {**out, "kind": "none"}
    text = head.decode("utf-8", "replace")
    if suffix in (".csv", ".tsv"):
        rows = _rows(text, "\t" if suffix == ".tsv" else ",", truncated)
        return {**out, "kind": "csv", "rows": rows, "truncated": truncated or len(rows) > CSV_ROWS}
    return {**out, "kind": "text", "text": text, "truncated": truncated}


def _rows(text: str, delimiter: str, truncated: bool) -> list[list[str]]:
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    reader = csv.reader(io.StringIO("\n".join(lines[: CSV_ROWS + 2])), delimiter=delimiter)
    return [row[:50] for row in reader][: CSV_ROWS + 1]
