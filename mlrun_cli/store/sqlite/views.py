"""What a view of the embedded store asks at scale: every run of an experiment as columns,
a metric history downsampled per pixel bucket, a metric summarised over many runs, and the
runs that changed since a cursor.

A downsampled history keeps each bucket's minimum and maximum (and its mean), so a spike
between two drawn pixels is never lost, and says how many points it stands for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from mlrun_cli import tags
from mlrun_cli.store.sqlite.connection import Database, now_ms

TABLE_TAG_CHARS = 200  # a tag value as a table cell; the run page shows it whole
AXES = {"step": "step", "time": "timestamp"}
AGGREGATES = ("last", "min", "max", "at")
# Tags never shown as table columns: large (a patch) or shown elsewhere.
HIDDEN_TAGS = (tags.GIT_DIRTY, tags.PARAMS_GIVEN, tags.COMMAND, tags.RUN_NAME)


def _selection(
    experiment_ids: Sequence[str],
    alternatives: Sequence[str],
    include_deleted: bool,
    run_ids: Sequence[str] | None = None,
) -> tuple[str, list[object]]:
    """A WHERE fragment over ``runs``: in the experiments (and among `run_ids` if given),
    matching any of the alternatives."""
    # Imported here: the grammar's regular expressions are compiled on import.
    from mlrun_cli.store.filters import parse_filter
    from mlrun_cli.store.sqlite.search import where_sql

    where: list[str] = []
    args: list[object] = []
    if experiment_ids:
        where.append(f"runs.experiment_id IN ({','.join('?' * len(experiment_ids))})")
        args += [int(e) for e in experiment_ids]
    if run_ids is not None:
        # A JSON array read by SQLite: any number of ids, not SQLite's 32,766 parameters.
        where.append("runs.run_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(run_ids)))
    if not include_deleted:
        where.append("runs.lifecycle_stage = 'active'")
    ors: list[str] = []
    for text in alternatives:
        clauses = parse_filter(text)
        if not clauses:
            continue
        fragment, fargs = where_sql(clauses)
        ors.append(f"({fragment})")
        args += fargs
    if ors:
        where.append("(" + " OR ".join(ors) + ")")
    return (" AND ".join(where) or "1"), args


class RunViews(Database):
    """Reads for a view of many runs; none of them builds a `Run` per run."""

    def run_table(
        self,
        experiment_ids: Sequence[str],
        alternatives: Sequence[str] = (),
        include_deleted: bool = False,
        run_ids: Sequence[str] | None = None,
    ) -> dict[str, object]:
        """Every matching run (among `run_ids` if given) as columns, newest first: ``ids``,
        ``names``, ``status``, ``start``, ``end``, ``parent``, ``stage``, ``experiment``, and
        ``params``/``metrics``/``tags``, each a key -> list of values aligned with ``ids``
        (None where a run has no such key)."""
        where, args = _selection(experiment_ids, alternatives, include_deleted, run_ids)
        rows = self.conn.execute(
            "SELECT run_id, name, status, start_time, end_time, lifecycle_stage, experiment_id "
            f"FROM runs WHERE {where} ORDER BY start_time DESC, run_id",
            args,
        ).fetchall()
        position = {r[0]: i for i, r in enumerate(rows)}
        n = len(rows)
        out: dict[str, object] = {
            "ids": [r[0] for r in rows],
            "names": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "start": [r[3] for r in rows],
            "end": [r[4] for r in rows],
            "stage": [r[5] for r in rows],
            "experiment": [str(r[6]) for r in rows],
        }
        parent: list[str | None] = [None] * n
        for entity, table in (
            ("params", "params"),
            ("metrics", "latest_metrics"),
            ("tags", "tags"),
        ):
            columns: dict[str, list[object]] = {}
            cursor = self.conn.execute(
                f"SELECT x.key, x.run_id, x.value FROM runs JOIN {table} x "
                f"ON x.run_id = runs.run_id WHERE {where}",
                args,
            )
            get = columns.get
            for key, rid, value in cursor:
                column = get(key)
                if column is None:
                    column = columns[key] = [None] * n
                column[position[rid]] = value
            if entity == "tags":
                if tags.PARENT_RUN in columns:
                    parent = [str(v) if v is not None else None for v in columns[tags.PARENT_RUN]]
                for key in HIDDEN_TAGS:
                    columns.pop(key, None)
                for column in columns.values():
                    for i, v in enumerate(column):
                        if v is not None and len(str(v)) > TABLE_TAG_CHARS:
                            column[i] = str(v)[:TABLE_TAG_CHARS]
            out[entity] = columns
        out["parent"] = parent
        return out

    def metric_buckets(
        self,
        run_id: str,
        key: str,
        buckets: int,
        lo: float | None = None,
        hi: float | None = None,
        axis: str = "step",
    ) -> dict[str, object]:
        """Metric `key` of the run between `lo` and `hi` on `axis` (step or time), at most
        `buckets` buckets: each its x (mean), y (mean), min, max and point count. Where the
        range holds no more than 2 points a bucket, the points themselves (``raw``)."""
        column = AXES.get(axis)
        if column is None:
            raise ValueError(f"axis must be step or time, not {axis!r}")
        buckets = max(1, min(int(buckets), 20_000))
        where = "WHERE run_id = ? AND key = ?"
        # Two queries: each alone is answered from the index's ends (on the step axis).
        (first,) = self.conn.execute(
            f"SELECT MIN({column}) FROM metrics {where}", (run_id, key)
        ).fetchone()
        (last,) = self.conn.execute(
            f"SELECT MAX({column}) FROM metrics {where}", (run_id, key)
        ).fetchone()
        out: dict[str, object] = {"run": run_id, "key": key, "axis": axis}
        if first is None:
            return {
                **out,
                "total": 0,
                "count": 0,
                "raw": True,
                "x": [],
                "y": [],
                "min": [],
                "max": [],
            }
        whole = lo is None and hi is None
        lo = first if lo is None else max(float(first), float(lo))
        hi = last if hi is None else min(float(last), float(hi))
        assert lo is not None and hi is not None
        span = f"{where} AND {column} >= ? AND {column} <= ?"
        rng = (run_id, key, lo, hi)
        stats: list[tuple[object, ...]] | None = None
        # A step per point is the common case: a long range is bucketed without counting it
        # first (counting 1M points costs 60 ms); the buckets' counts say how many there were.
        if axis == "step" and hi - lo + 1 > 50 * buckets:
            stats = self._ranged(column, rng, buckets)
            count = sum(int(str(g[5])) for g in stats)
        else:
            (count,) = self.conn.execute(f"SELECT COUNT(*) FROM metrics {span}", rng).fetchone()
        out.update(lo=lo, hi=hi, count=count, total=count if whole else None)
        if count <= 2 * buckets:
            points = self.conn.execute(
                f"SELECT {column}, value FROM metrics {span} ORDER BY {column}, rowid", rng
            ).fetchall()
            ys = [v for _, v in points]
            return {**out, "raw": True, "x": [p[0] for p in points], "y": ys, "min": ys, "max": ys}
        if stats is None:
            # Bucket i holds [lo + i*width, lo + (i+1)*width); the last one includes hi.
            stats = self.conn.execute(
                f"SELECT MIN(CAST(({column} - ?) / ? AS INTEGER), ?) AS b, AVG({column}), "
                f"AVG(value), MIN(value), MAX(value), COUNT(*) FROM metrics {span} "
                "GROUP BY b ORDER BY b",
                ((lo, (hi - lo) / buckets, buckets - 1, *rng)),
            ).fetchall()
        stats = [g for g in stats if g[5]]
        return {
            **out,
            "raw": False,
            "x": [g[1] for g in stats],
            "y": [g[2] for g in stats],
            "min": [g[3] for g in stats],
            "max": [g[4] for g in stats],
            "n": [g[5] for g in stats],
        }

    def _ranged(
        self, column: str, rng: tuple[str, str, float, float], buckets: int
    ) -> list[tuple[object, ...]]:
        """One indexed range query a bucket: on a long history this beats a GROUP BY, which
        sorts every point into a temporary tree (1M points: 0.28 s against 0.65 s)."""
        run_id, key, lo, hi = rng
        width = (hi - lo) / buckets
        stats: list[tuple[object, ...]] = []
        # No AVG of the axis: a bucket's x is its middle (15% less work on 1M points), and
        # the mean value is a total and a count (NaN, stored as NULL, counts in neither).
        select = "SELECT TOTAL(value), COUNT(value), MIN(value), MAX(value), COUNT(*) FROM metrics "
        query = select + f"WHERE run_id = ? AND key = ? AND {column} >= ? AND {column} < ?"
        last = select + f"WHERE run_id = ? AND key = ? AND {column} >= ? AND {column} <= ?"
        execute = self.conn.execute
        for i in range(buckets):
            a, b = lo + i * width, (hi if i == buckets - 1 else lo + (i + 1) * width)
            total, valued, low, high, n = execute(
                last if i == buckets - 1 else query, (run_id, key, a, b)
            ).fetchone()
            stats.append((i, (a + b) / 2, total / valued if valued else None, low, high, n))
        return stats

    def metric_summary(
        self, experiment_ids: Sequence[str], key: str, agg: str, step: int | None = None
    ) -> dict[str, float | None]:
        """Metric `key` of every run of the experiments, summarised by `agg`: last (the
        latest value), min, max over its history, or at (the value at `step`, else the last
        one logged before it). Runs without the metric are left out."""
        if agg not in AGGREGATES:
            raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}, not {agg!r}")
        where, args = _selection(experiment_ids, (), True)
        if agg == "last":
            sql = (
                "SELECT m.run_id, m.value FROM runs JOIN latest_metrics m "
                f"ON m.run_id = runs.run_id AND m.key = ? WHERE {where}"
            )
            args = [key, *args]
        elif agg == "at":
            sql = (
                "SELECT runs.run_id, (SELECT m.value FROM metrics m WHERE m.run_id = runs.run_id "
                "AND m.key = ? AND m.step <= ? ORDER BY m.step DESC, m.timestamp DESC LIMIT 1) "
                f"AS v FROM runs WHERE {where} AND v IS NOT NULL"
            )
            args = [key, step or 0, *args]
        else:
            sql = (
                f"SELECT m.run_id, {agg.upper()}(m.value) FROM runs JOIN metrics m "
                f"ON m.run_id = runs.run_id AND m.key = ? WHERE {where} GROUP BY m.run_id"
            )
            args = [key, *args]
        return {str(rid): value for rid, value in self.conn.execute(sql, args)}

    def changed_since(self, cursor: int, since: int) -> tuple[int, int, list[str]]:
        """Runs that may have changed since a poll: new metric points after `cursor` (a row
        position in the metric history), active runs, runs started or ended at or after
        `since` (ms). Returns the next cursor, the next `since` and the run ids."""
        now = now_ms()
        (top,) = self.conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM metrics").fetchone()
        ids: dict[str, None] = {}
        if top > cursor:
            for (rid,) in self.conn.execute(
                "SELECT DISTINCT run_id FROM metrics WHERE rowid > ? AND rowid <= ?", (cursor, top)
            ):
                ids[rid] = None
        for (rid,) in self.conn.execute(
            "SELECT run_id FROM runs WHERE status IN ('RUNNING', 'SCHEDULED') "
            "OR start_time >= ? OR end_time >= ?",
            (since, since),
        ):
            ids[rid] = None
        # A second's margin: a write committed with an earlier clock reading is seen again.
        return int(top), now - 1000, list(ids)
