"""MLflow 3's logged models, a run's dataset inputs and its model outputs, in the embedded store.

Models and datasets are plain dictionaries in the shape the loopback endpoint serves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.sqlite.connection import Database, now_ms, transaction

_MODEL_COLUMNS = (
    "model_id",
    "experiment_id",
    "name",
    "source_run_id",
    "status",
    "model_type",
    "creation_time",
    "last_updated",
    "artifact_location",
)
_SEARCHABLE = ("name", "source_run_id", "status", "model_id", "model_type")


class ModelTables(Database):
    """The ``logged_models`` tables and the ``run_inputs`` / ``run_outputs`` links."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> dict[str, object]:
        model_id = "m-" + os.urandom(16).hex()
        location = self.root / "models" / model_id / "artifacts"
        location.mkdir(parents=True, exist_ok=True)
        now = now_ms()
        with transaction(self.writer()) as conn:
            conn.execute(
                "INSERT INTO logged_models VALUES (?, ?, ?, ?, 'LOGGED_MODEL_PENDING', ?, ?, ?, ?)",
                (
                    model_id,
                    int(experiment_id),
                    name,
                    source_run_id,
                    model_type,
                    now,
                    now,
                    str(location),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_params VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in params.items()],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_tags VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in tags.items()],
            )
        model = self.get_logged_model(model_id)
        assert model is not None
        return model

    def get_logged_model(self, model_id: str) -> dict[str, object] | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_MODEL_COLUMNS)} FROM logged_models WHERE model_id = ?",
            (model_id,),
        ).fetchone()
        if row is None:
            return None
        model: dict[str, object] = dict(zip(_MODEL_COLUMNS, row, strict=True))
        model["experiment_id"] = str(model["experiment_id"])
        model["params"] = dict(
            self.conn.execute(
                "SELECT key, value FROM logged_model_params WHERE model_id = ?", (model_id,)
            ).fetchall()
        )
        model["tags"] = dict(
            self.conn.execute(
                "SELECT key, value FROM logged_model_tags WHERE model_id = ?", (model_id,)
            ).fetchall()
        )
        return model

    def update_logged_model(
        self, model_id: str, status: str | None = None, tags: Mapping[str, str] | None = None
    ) -> None:
        with transaction(self.writer()) as conn:
            if status:
                conn.execute(
                    "UPDATE logged_models SET status = ?, last_updated = ? WHERE model_id = ?",
                    (status, now_ms(), model_id),
                )
            conn.executemany(
                "INSERT OR REPLACE INTO logged_model_tags VALUES (?, ?, ?)",
                [(model_id, k, str(v)) for k, v in (tags or {}).items()],
            )

    def search_logged_models(
        self, experiment_ids: Sequence[str], equals: Mapping[str, str]
    ) -> list[dict[str, object]]:
        """Logged models of the experiments whose columns equal `equals` (name, source_run_id)."""
        where = (
            [f"experiment_id IN ({','.join('?' * len(experiment_ids))})"] if experiment_ids else []
        )
        args: list[object] = [int(e) for e in experiment_ids]
        for column, value in equals.items():
            # Column names are spliced into the SQL: only known ones get there.
            if column not in _SEARCHABLE:
                raise TrackingError(f"cannot search logged models by {column!r}")
            where.append(f"{column} = ?")
            args.append(value)
        sql = "SELECT model_id FROM logged_models"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY creation_time DESC"
        found = []
        for (mid,) in self.conn.execute(sql, args).fetchall():
            model = self.get_logged_model(mid)
            if model is not None:
                found.append(model)
        return found

    def run_models(self, run_id: str) -> list[dict[str, object]]:
        """Logged models of a run: created by it, or named as its outputs."""
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT model_id FROM logged_models WHERE source_run_id = ? "
                "UNION SELECT model_id FROM run_outputs WHERE run_id = ?",
                (run_id, run_id),
            ).fetchall()
        ]
        return [m for m in (self.get_logged_model(i) for i in sorted(ids)) if m is not None]

    def log_inputs(self, run_id: str, datasets: Sequence[Mapping[str, object]]) -> None:
        import json

        with transaction(self.writer()) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        str(d.get("name") or ""),
                        str(d.get("digest") or ""),
                        d.get("source_type"),
                        d.get("source"),
                        d.get("schema"),
                        d.get("profile"),
                        json.dumps(d.get("tags") or []),
                    )
                    for d in datasets
                ],
            )

    def run_inputs(self, run_id: str) -> list[dict[str, object]]:
        import json

        rows = self.conn.execute(
            "SELECT name, digest, source_type, source, schema, profile, tags FROM run_inputs "
            "WHERE run_id = ? ORDER BY name",
            (run_id,),
        ).fetchall()
        return [
            {
                "name": r[0],
                "digest": r[1],
                "source_type": r[2],
                "source": r[3],
                "schema": r[4],
                "profile": r[5],
                "tags": json.loads(r[6] or "[]"),
            }
            for r in rows
        ]

    def log_outputs(self, run_id: str, models: Sequence[tuple[str, int]]) -> None:
        with transaction(self.writer()) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_outputs VALUES (?, ?, ?)",
                [(run_id, mid, step) for mid, step in models],
            )

    def run_outputs(self, run_id: str) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in self.conn.execute(
                "SELECT model_id, step FROM run_outputs WHERE run_id = ? ORDER BY model_id",
                (run_id,),
            ).fetchall()
        ]
