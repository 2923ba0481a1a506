"""What a user asks of a new sweep: the command line's options, or a --spec YAML filling them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.errors import ParameterError
from mlrun_cli.values import field, replace, valueclass


@valueclass
class SweepRequest:
    """Everything `mlrun sweep URI ...` was given; `start` plans, records and runs it."""

    uri: str
    entry_point: str = "main"
    params: Mapping[str, str] = field(default_factory=dict)
    literal: Sequence[str] = ()
    file: Path | None = None
    spec_file: Path | None = None
    trials: int | None = None
    seed: int | None = None
    jobs: int = 1
    fail_fast: bool = False
    max_failures: int | None = None
    metric: str | None = None
    goal: str = "maximize"
    skip_existing: bool = False
    name: str | None = None
    method: str | None = None
    env_manager: str | None = None
    version: str | None = None
    tracking_uri: str | None = None
    experiment_name: str | None = None
    as_json: bool = False
    backend: str = "local"
    backend_config: str | None = None
    detach: bool = False
    command: str = "mlrun sweep"  # the command line recorded on the sweep run


def apply_spec_file(req: SweepRequest) -> SweepRequest:
    """Fill the request from a --spec YAML (validated by schemas/sweep.schema.json).

    Options given on the command line win over the file; its parameters are merged under
    the -P ones.
    """
    if req.spec_file is None:
        return req
    from mlrun_cli.project.validation import load_validated

    doc = load_validated("sweep", req.spec_file, ParameterError) or {}
    params = {}
    for name, value in (doc.get("parameters") or {}).items():
        if isinstance(value, list):
            value = "[" + ",".join(str(v) for v in value) + "]"  # a YAML list is a grid
        params[str(name)] = str(value)
    jobs = doc.get("jobs", req.jobs)
    return replace(
        req,
        entry_point=doc.get("entry_point", req.entry_point),
        params={**params, **req.params},
        method=req.method or doc.get("method"),
        trials=req.trials or doc.get("trials"),
        seed=req.seed if req.seed is not None else doc.get("seed"),
        metric=req.metric or doc.get("metric"),
        goal=doc.get("goal", req.goal),
        jobs=(os.cpu_count() or 1) if jobs == "auto" else int(jobs),
    )
