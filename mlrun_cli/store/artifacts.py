"""A run's artifacts, wherever its store keeps them: listed, and copied to a folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from mlrun_cli.errors import TrackingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlrun_cli.store.base import Store


def list_artifacts(store: Store, run_id: str) -> list[dict[str, object]]:
    """Every file of the run's artifacts: path (relative, POSIX) and size, sorted."""
    server = store.server()
    if server is not None:
        return server.list_artifacts(run_id)
    root = store.artifact_dir(run_id)
    if not root.is_dir():
        return []
    found: list[dict[str, object]] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            found.append({"path": full.relative_to(root).as_posix(), "size": full.stat().st_size})
    return sorted(found, key=lambda a: str(a["path"]))


def download(store: Store, run_id: str, path: str | None, dest: Path) -> list[Path]:
    """Copy the run's artifacts under `path` (all of them without one) into `dest`, keeping
    their layout; the files written. Nothing is written outside `dest`."""
    wanted = PurePosixPath(path.strip("/")) if path else None
    if wanted is not None and (wanted.is_absolute() or ".." in wanted.parts):
        raise TrackingError(f"artifact path {path!r} must be relative, without '..'")
    files = [
        str(a["path"])
        for a in list_artifacts(store, run_id)
        if wanted is None
        or PurePosixPath(str(a["path"])) == wanted
        or wanted in PurePosixPath(str(a["path"])).parents
    ]
    if not files:
        what = f"no artifact {path!r}" if path else "no artifacts"
        raise TrackingError(f"run {run_id[:8]} has {what}; see 'mlrun artifacts list {run_id[:8]}'")
    server = store.server()
    root = store.artifact_dir(run_id)
    written = []
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (
            server.read_artifact(run_id, rel) if server is not None else (root / rel).read_bytes()
        )
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        written.append(target)
    return written
