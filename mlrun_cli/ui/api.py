"""The view's JSON answers: each route a function of the store and the query.

The server calls `Api.get` / `Api.post`; the report calls the same routes and inlines what
they answer, so a report shows exactly what the live view would.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping

from mlrun_cli import tags as T
from mlrun_cli.errors import MlrunError, TrackingError
from mlrun_cli.store.base import RunIndex
from mlrun_cli.ui import detail, previews

Query = Mapping[str, str]
MAX_SERIES = 2_000  # (run, metric) pairs in one batched request
DATABASE = "mlrun.db"  # the embedded store's index, in its root


class ApiError(MlrunError):
    """A request the view cannot answer: its HTTP status and one line saying why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def dumps(value: object) -> bytes:
    """JSON for the browser: a non-finite float (which JSON has no word for) is null."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":")).encode()


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def split_or(text: str) -> list[str]:
    """A filter with OR between alternatives, as the alternatives (each AND-joined clauses,
    the grammar of `runs list --filter`). OR inside quotes or backticks is text."""
    parts: list[str] = []
    quote = ""
    start = i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif re.match(r"\s[oO][rR]\s", text[i : i + 4]):
            parts.append(text[start:i])
            start = i = i + 3
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _int(query: Query, key: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(float(str(raw)))
    except ValueError:
        raise ApiError(f"{key} must be a number, not {raw!r}") from None
    return max(lo, min(hi, value))


def _float(query: Query, key: str) -> float | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        return float(str(raw))
    except ValueError:
        raise ApiError(f"{key} must be a number, not {raw!r}") from None


def _list(query: Query, key: str) -> list[str]:
    return [v for v in (query.get(key) or "").split(",") if v]


class Api:
    """The routes over one store's index. Not thread-safe: the server keeps one per worker."""

    def __init__(self, index: RunIndex) -> None:
        self.index = index
        # A store with no database yet is read as an empty stand-in, which never sees the
        # first run recorded later: such an Api is `stale` once the database exists.
        self.empty_store = not (index.root / DATABASE).exists()
        self.routes: dict[str, Callable[[list[str], Query], object]] = {
            "info": self.info,
            "runs": self.runs,
            "run": self.run,
            "metric": self.metric,
            "metrics": self.metrics,
            "summary": self.summary,
            "log": self.log,
            "preview": self.preview,
            "changes": self.changes,
            "sweep": self.sweep,
            "models": self.models,
        }

    def stale(self) -> bool:
        return self.empty_store and (self.index.root / DATABASE).exists()

    def get(self, path: str, query: Query) -> object:
        """The answer to GET /api/<path>; raises ApiError (a 4xx) or MlrunError (a 400)."""
        name, *rest = path.strip("/").split("/")
        route = self.routes.get(name)
        if route is None:
            raise ApiError(f"no such route /api/{name}", 404)
        try:
            return route(rest, query)
        except TrackingError as exc:
            if "no run" in str(exc):
                raise ApiError(str(exc), 404) from None
            raise

    def _run_id(self, rest: list[str]) -> str:
        if not rest or not rest[0]:
            raise ApiError("a run id is missing from the path")
        return self.index.resolve_run_id(rest[0])

    def info(self, rest: list[str], query: Query) -> object:
        experiments = [
            {"id": e.experiment_id, "name": e.name, "stage": e.lifecycle_stage}
            for e in self.index.list_experiments()
        ]
        return {"store": self.index.shown, "experiments": experiments}

    def runs(self, rest: list[str], query: Query) -> object:
        experiments = _list(query, "exp")
        alternatives = split_or(query.get("filter") or "")
        deleted = query.get("deleted") == "1"
        if "ids" in query:
            ids = [self.index.resolve_run_id(r) for r in _list(query, "ids")]
            return self.index.run_table(experiments, alternatives, True, ids)
        return self.index.run_table(experiments, alternatives, deleted)

    def run(self, rest: list[str], query: Query) -> object:
        return detail.run_detail(self.index, self._run_id(rest))

    def metric(self, rest: list[str], query: Query) -> object:
        run_id = self._run_id([query.get("run", "")])
        return self._buckets(run_id, query.get("key", ""), query)

    def _buckets(self, run_id: str, key: str, query: Query) -> dict[str, object]:
        axis = query.get("axis") or "step"
        if axis not in ("step", "time"):
            raise ApiError(f"axis must be step or time, not {axis!r}")
        return self.index.metric_buckets(
            run_id,
            key,
            _int(query, "buckets", 1000, 1, 20_000),
            _float(query, "lo"),
            _float(query, "hi"),
            axis,
        )

    def metrics(self, rest: list[str], query: Query) -> object:
        """Many series in one request: every (run, key) of ``runs`` x ``keys``."""
        run_ids = [self.index.resolve_run_id(r) for r in _list(query, "runs")]
        keys = _list(query, "keys")
        if len(run_ids) * len(keys) > MAX_SERIES:
            raise ApiError(f"at most {MAX_SERIES} series in one request")
        return [self._buckets(r, k, query) for k in keys for r in run_ids]

    def summary(self, rest: list[str], query: Query) -> object:
        agg = query.get("agg") or "last"
        if agg not in ("last", "min", "max", "at"):
            raise ApiError(f"agg must be last, min, max or at, not {agg!r}")
        step = _int(query, "step", 0, -(2**62), 2**62) if agg == "at" else None
        return self.index.metric_summary(_list(query, "exp"), query.get("key", ""), agg, step)

    def log(self, rest: list[str], query: Query) -> object:
        run_id = self._run_id(rest)
        offset = query.get("offset")
        return detail.log_tail(self.index, run_id, None if offset in (None, "") else int(offset))

    def preview(self, rest: list[str], query: Query) -> object:
        run_id = self._run_id(rest)
        return previews.preview(self.index.artifact_dir(run_id), query.get("path", ""))

    def changes(self, rest: list[str], query: Query) -> object:
        """What changed since the cursor a previous answer gave (none: a first cursor)."""
        if not query.get("cursor"):
            cursor, since, _ = self.index.changed_since(2**62, 2**62)
            return {"cursor": cursor, "since": since, "table": None}
        cursor, since, ids = self.index.changed_since(
            _int(query, "cursor", 0, 0, 2**62), _int(query, "since", 0, 0, 2**62)
        )
        # The runs the page shows as active: their end is seen whatever end time it records.
        ids = list(dict.fromkeys([*ids, *_list(query, "watch")[:500]]))
        table = self.index.run_table([], (), True, ids) if ids else None
        return {"cursor": cursor, "since": since, "table": table}

    def sweep(self, rest: list[str], query: Query) -> object:
        run_id = self._run_id(rest)
        run = self.index.get_run(run_id)
        trials = self.index.tagged(T.SWEEP_ID, run_id)
        if not trials and T.SWEEP not in run.tags:
            raise ApiError(f"run {run_id[:8]} is not a sweep", 404)
        return {
            "id": run_id,
            "name": run.name,
            "status": run.status,
            "metric": run.tags.get(T.SWEEP_METRIC),
            "goal": run.tags.get(T.SWEEP_GOAL) or "minimize",
            "best": run.tags.get(T.SWEEP_BEST_RUN),
            "method": run.tags.get(T.SWEEP_METHOD),
            "count": run.tags.get(T.SWEEP_COUNT),
            "trials": self.index.run_table([], (), True, trials),
        }

    def models(self, rest: list[str], query: Query) -> object:
        return detail.models(self.index)

    def post(self, path: str, body: Mapping[str, object]) -> object:
        """POST /api/run/<id>/<delete|restore|tag|untag>: the few writes the view makes."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "run":
            raise ApiError(f"no such route /api/{path.strip('/')}", 404)
        run_id, action = self._run_id(parts[1:2]), parts[2]
        if action in ("delete", "restore"):
            self.index.set_lifecycle(run_id, "deleted" if action == "delete" else "active")
        elif action in ("tag", "untag"):
            key = str(body.get("key") or "").strip()
            if not key or len(key) > 250:
                raise ApiError("a tag needs a key of 1 to 250 characters")
            if action == "tag":
                self.index.log_batch(run_id, tags={key: str(body.get("value") or "")[:5000]})
            else:
                self.index.delete_tag(run_id, key)
        else:
            raise ApiError(f"no such action {action!r}", 404)
        return {"ok": True, "run": run_id}
