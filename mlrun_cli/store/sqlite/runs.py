"""Reading runs from the embedded store: by id or prefix, by search, their metric history."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import Metric, Run
from mlrun_cli.store.sqlite.connection import Database


class RunReads(Database):
    """Queries of the ``runs`` table and of the params, tags and metrics of runs."""

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run `run_id` names: the id itself or a unique prefix of it."""
        # Only hex digits reach the query: a range scan of the primary key, no LIKE escaping.
        if not run_id or not all(c in "0123456789abcdef" for c in run_id.lower()):
            raise TrackingError(f"{run_id!r} is not a run id; see 'mlrun runs list'")
        rows = self.conn.execute(
            "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? LIMIT 2",
            (run_id.lower(), run_id.lower() + "g"),
        ).fetchall()
        if not rows:
            raise TrackingError(f"no run {run_id!r} in {self.root}; see 'mlrun runs list'")
        if len(rows) > 1:
            raise TrackingError(
                f"run id prefix {run_id!r} is ambiguous in {self.root}; give more characters"
            )
        return str(rows[0][0])

    def get_run(self, run_id: str) -> Run:
        full = self.resolve_run_id(run_id)
        runs = self.load_runs([full])
        return runs[0]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        include_deleted: bool = False,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching the filter (MLflow's grammar), newest first unless ordered otherwise."""
        # Imported here: compiling the grammar's regular expressions is not worth paying on
        # the path of `mlrun run`, which never searches.
        from mlrun_cli.store.filters import parse_filter, parse_order_by
        from mlrun_cli.store.sqlite.search import order_sql, where_sql

        where: list[str] = []
        args: list[object] = []
        if experiment_ids:
            where.append(f"runs.experiment_id IN ({','.join('?' * len(experiment_ids))})")
            args += [int(e) for e in experiment_ids]
        if statuses:
            where.append(f"runs.status IN ({','.join('?' * len(statuses))})")
            args += list(statuses)
        if not include_deleted:
            where.append("runs.lifecycle_stage = 'active'")
        clauses = parse_filter(filter_string)
        if clauses:
            fragment, fargs = where_sql(clauses)
            where.append(fragment)
            args += fargs
        order, oargs = order_sql(parse_order_by(order_by))
        sql = "SELECT runs.run_id FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        ids = [r[0] for r in self.conn.execute(sql, [*args, *oargs, limit, offset]).fetchall()]
        return self.load_runs(ids)

    def load_runs(self, ids: Sequence[str]) -> list[Run]:
        """The runs with these full ids, in that order, with params, tags and latest metrics."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        conn = self.conn
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, Metric]] = {i: {} for i in ids}
        for rid, k, v in conn.execute(
            f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks})", ids
        ):
            params[rid][k] = v
        for rid, k, v in conn.execute(
            f"SELECT run_id, key, value FROM tags WHERE run_id IN ({marks})", ids
        ):
            tags[rid][k] = v
        for rid, k, v, step, ts in conn.execute(
            f"SELECT run_id, key, value, step, timestamp FROM latest_metrics "
            f"WHERE run_id IN ({marks})",
            ids,
        ):
            metrics[rid][k] = Metric(k, math.nan if v is None else v, step, ts)
        rows = {
            r[0]: r
            for r in conn.execute(
                "SELECT run_id, experiment_id, name, status, start_time, end_time, exit_code, "
                f"user, command, lifecycle_stage FROM runs WHERE run_id IN ({marks})",
                ids,
            )
        }
        result = []
        for rid in ids:
            r = rows[rid]
            result.append(
                Run(
                    run_id=rid,
                    experiment_id=str(r[1]),
                    name=r[2],
                    status=r[3],
                    start_time=r[4],
                    end_time=r[5],
                    exit_code=r[6],
                    user=r[7],
                    command=r[8],
                    lifecycle_stage=r[9],
                    artifact_uri=str(self.artifact_dir(rid)),
                    params=params[rid],
                    tags=tags[rid],
                    metrics=metrics[rid],
                )
            )
        return result

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        rows = self.conn.execute(
            "SELECT value, step, timestamp, model_id, dataset_name, dataset_digest FROM metrics "
            "WHERE run_id = ? AND key = ? ORDER BY step, timestamp, rowid",
            (run_id, key),
        ).fetchall()
        return [
            Metric(key, math.nan if v is None else v, s, t, m, dn, dd)
            for v, s, t, m, dn, dd in rows
        ]

    def metrics_since(self, run_id: str, after: int) -> list[tuple[int, Metric]]:
        """Metric points of the run logged after cursor `after`, oldest first, each with its
        cursor: pass the last one back to read only what is new (0 reads them all)."""
        rows = self.conn.execute(
            "SELECT rowid, key, value, step, timestamp FROM metrics "
            "WHERE run_id = ? AND rowid > ? ORDER BY rowid",
            (run_id, after),
        ).fetchall()
        return [
            (int(rowid), Metric(key, math.nan if value is None else value, step, timestamp))
            for rowid, key, value, step, timestamp in rows
        ]
