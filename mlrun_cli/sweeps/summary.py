"""What a sweep is and how it went: its spec, its trials as data, the best one, its end.

Both schedulers end here: the local one (`mlrun_cli.sweeps.scheduler`) and the cluster's
reconcile code, which records a submitted sweep's end when its last trial ended. So this
module imports nothing from `mlrun_cli.cluster`: the sweeps call the cluster, never the
other way round through here.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mlrun_cli import console, tags
from mlrun_cli.errors import MlrunError, ParameterError
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, SCHEDULED, Metric, Run, RunIndex

SPEC_FILE = "sweep.json"  # in the sweep run's artifacts: what was planned, for resume and show


def load_spec(store: RunIndex, sweep_id: str) -> dict[str, Any]:
    """The spec recorded when the sweep was planned (sources, method, trials, metric)."""
    data: dict[str, Any] = json.loads((store.artifact_dir(sweep_id) / SPEC_FILE).read_text())
    return data


def find_sweep(store: RunIndex, ref: str) -> Run:
    """A sweep by id, unique id prefix, or name."""
    ids = store.find_tagged(tags.SWEEP, ref)
    if not ids:
        raise ParameterError(f"no sweep {ref!r} in {store.root}; see 'mlrun sweep list'")
    if len(ids) > 1:
        raise ParameterError(f"sweep {ref!r} is ambiguous; give more of its id")
    return store.get_run(ids[0])


def trial_counts(store: RunIndex, sweep_id: str) -> dict[str, int]:
    """How many of the sweep's trials are in each status."""
    return store.count_tagged_by_status(tags.SWEEP_ID, sweep_id)


def trial_line(run: Run, spec: Mapping[str, Any], done: int, total: int) -> str:
    """The line said when a trial ends: `[done/total] trial I STATUS params metric (duration)`."""
    varying = " ".join(f"{k}={run.params.get(k, '')}" for k in spec.get("varying") or [])
    metric = spec.get("metric")
    value = f" {metric}={run.metrics[metric].value:.6g}" if metric and metric in run.metrics else ""
    duration = ""
    if run.start_time and run.end_time:
        duration = f" ({(run.end_time - run.start_time) / 1000:.1f}s)"
    return (
        f"[{done}/{total}] trial {run.tags.get(tags.SWEEP_INDEX)} {run.status} {varying}{value}"
        f"{duration}"
    )


def start_line(sweep_id: str, total: int, done: int, logged: bool = False) -> str:
    """The line said when a sweep starts or resumes: its id first, so it can be found again;
    and where the trials' output is when it is not shown."""
    line = f"sweep {sweep_id[:8]}: {total} trials" + (f", {done} done" if done else "")
    return line + ("; each trial's output is in its log (mlrun logs RUN)" if logged else "")


def report_start(sweep_id: str, total: int, done: int, logged: bool = False) -> None:
    """Say that a sweep starts (one line on stderr), before its environment is built."""
    console.info(start_line(sweep_id, total, done, logged))


def report_trial_start(run: Run, spec: Mapping[str, Any]) -> None:
    """Say that a trial starts (one line on stderr): which one, and what it was given."""
    varying = " ".join(f"{k}={run.params.get(k, '')}" for k in spec.get("varying") or [])
    given = f": {varying}" if varying else ""
    console.info(f"trial {run.tags.get(tags.SWEEP_INDEX)} started, run {run.run_id[:8]}{given}")


def report_trial(run: Run, spec: Mapping[str, Any], done: int, total: int) -> None:
    """Say that a trial ended (one line on stderr), as a sweep without a live table does."""
    console.info(trial_line(run, spec, done, total))


def trial_row(run: Run, value: float | None) -> dict[str, Any]:
    """One trial of `mlrun sweep show --json` (`value` is its metric, aggregated)."""
    duration = (
        (run.end_time - run.start_time) / 1000
        if run.start_time and run.end_time and run.status != SCHEDULED
        else None
    )
    return {
        "index": int(run.tags.get(tags.SWEEP_INDEX, "0")),
        "run_id": run.run_id,
        "status": run.status,
        "params": dict(run.params),
        "metric": value,
        "duration_s": duration,
        "lost": run.tags.get(tags.LOST) == "true",
        "linked_run": run.tags.get(tags.SWEEP_LINKED_RUN),
    }


def best_trial(trials: Sequence[Mapping[str, Any]], goal: str) -> dict[str, Any] | None:
    """The FINISHED trial with the best metric (not NaN) toward `goal`, or None.

    Ties go to the first of `trials`, as min and max keep the first of equal values.
    """
    scored = [
        t
        for t in trials
        if t["metric"] is not None and t["status"] == FINISHED and not math.isnan(t["metric"])
    ]
    if not scored:
        return None
    best = (min if goal == "minimize" else max)(scored, key=lambda t: t["metric"])
    return {
        "index": best["index"],
        "run_id": best["run_id"],
        "value": best["metric"],
        "params": best["params"],
    }


def rank_trials(trials: list[dict[str, Any]], ranked: bool, goal: str) -> None:
    """Sort `trials` in place: best metric first (none last) when `ranked`, else by index."""
    if ranked:
        sign = 1 if goal == "minimize" else -1
        trials.sort(key=lambda t: (t["metric"] is None, sign * (t["metric"] or 0), t["index"]))
    else:
        trials.sort(key=lambda t: t["index"])


def _metric_values(
    store: RunIndex, runs: Sequence[Run], ids: Sequence[str], metric: str, agg: str
) -> dict[str, float]:
    if agg == "last":
        return {r.run_id: r.metrics[metric].value for r in runs if metric in r.metrics}
    return store.metric_extremes(ids, metric, "min" if agg == "min" else "max")


def show(
    store: RunIndex, sweep_id: str, sort: str | None = None, agg: str = "last"
) -> dict[str, Any]:
    """The documented summary of a sweep (schema mlrun.sweep/1)."""
    sweep = store.get_run(sweep_id)
    spec = load_spec(store, sweep.run_id)
    metric = sort or spec.get("metric")
    goal = spec.get("goal") or "maximize"
    ids = store.tagged(tags.SWEEP_ID, sweep.run_id)
    runs = store.load_runs(ids) if ids else []
    values = _metric_values(store, runs, ids, metric, agg) if metric else {}
    trials = [trial_row(r, values.get(r.run_id)) for r in runs]
    best = best_trial(trials, goal)
    rank_trials(trials, bool(metric), goal)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {
        "schema": "mlrun.sweep/1",
        "sweep": {
            "run_id": sweep.run_id,
            "name": sweep.name,
            "status": sweep.status,
            "method": spec.get("method"),
            "count": spec.get("count"),
            "seed": spec.get("seed"),
        },
        "metric": metric,
        "goal": goal,
        "agg": agg,
        "varying": spec.get("varying") or [],
        "counts": counts,
        "best": best,
        "trials": trials,
    }


def list_sweeps(store: RunIndex) -> list[dict[str, Any]]:
    """The sweeps of the store with their trial counts, newest first."""
    out = []
    for rid in store.tagged(tags.SWEEP, "true"):
        run = store.get_run(rid)
        out.append(
            {
                "run_id": run.run_id,
                "name": run.name,
                "status": run.status,
                "start_time": run.start_time,
                "count": int(run.tags.get(tags.SWEEP_COUNT, "0")),
                "counts": trial_counts(store, rid),
            }
        )
    return sorted(out, key=lambda s: -(s["start_time"] or 0))


def _record_best(store: RunIndex, sweep_id: str, summary: Mapping[str, Any]) -> None:
    best = summary.get("best")
    if best and best.get("value") is not None:
        store.log_batch(sweep_id, tags={tags.SWEEP_BEST_RUN: best["run_id"]})
        # The best value is a courtesy: a store refusing it must not keep the end unrecorded.
        with contextlib.suppress(MlrunError):
            store.log_batch(
                sweep_id,
                metrics=[
                    Metric(f"best_{summary['metric']}", best["value"], 0, int(time.time() * 1000))
                ],
            )


def finish_sweep(store: RunIndex, sweep_id: str, interrupted: int | None) -> dict[str, Any]:
    """Record the sweep's end (status, best trial) once no trial runs; returns its summary.

    `interrupted` is the signal that stopped the sweep, if one did; the summary's exit_code
    is 128 + that signal, 0 when every trial finished, 1 otherwise.
    """
    summary = show(store, sweep_id)
    total = int(summary["sweep"]["count"] or 0)
    if interrupted:
        status = KILLED
    else:
        status = FINISHED if summary["counts"].get(FINISHED, 0) == total else FAILED
    _record_best(store, sweep_id, summary)
    store.set_terminated(sweep_id, status, int(time.time() * 1000), None)
    summary = show(store, sweep_id)
    summary["exit_code"] = 128 + interrupted if interrupted else (0 if status == FINISHED else 1)
    return summary
