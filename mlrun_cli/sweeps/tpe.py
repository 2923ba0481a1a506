"""Bayesian search with optuna's TPE sampler: each trial's parameters are asked for when it starts.

The study lives in memory only; it is rebuilt from the store's trials each time the scheduler
starts, so a resumed sweep continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FINISHED, Run, RunIndex


class TpeSampler:
    """Asks optuna for a trial's parameters when it is claimed; tells it each trial's result."""

    def __init__(self, store: RunIndex, sweep_id: str, spec: Mapping[str, Any]) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.store = store
        self.metric = spec.get("metric")
        if not self.metric:
            raise ParameterError("--method tpe needs --metric NAME to optimise")
        self.direction: Literal["minimize", "maximize"] = (
            "minimize" if spec.get("goal") == "minimize" else "maximize"
        )
        self.constants, self.dists = self._distributions(spec)
        self._asked: dict[str, Any] = {}  # run id -> the optuna trial asked for it
        self.study = optuna.create_study(
            direction=self.direction,
            sampler=optuna.samplers.TPESampler(seed=int(spec.get("seed") or 0)),
        )
        for rid in store.tagged(tags.SWEEP_ID, sweep_id):
            self.tell(store.get_run(rid))

    def _distributions(self, spec: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        """The constant parameters, and an optuna distribution for each one that varies."""
        from mlrun_cli.sweeps.grammar import parse

        dists_of = self.optuna.distributions
        constants: dict[str, str] = {}
        dists: dict[str, Any] = {}
        for name, text in (spec.get("params") or {}).items():
            d = parse(name, text, name in (spec.get("literal") or []))
            if d.kind == "constant":
                constants[name] = d.values[0]
            elif d.dist in ("uniform", "loguniform"):
                dists[name] = dists_of.FloatDistribution(d.low, d.high, log=d.dist == "loguniform")
            elif d.dist == "randint":
                dists[name] = dists_of.IntDistribution(int(d.low), int(d.high))
            else:
                dists[name] = dists_of.CategoricalDistribution(list(d.values))
        return constants, dists

    def ask(self, run_id: str) -> None:
        """Choose the parameters of the trial `run_id` (just claimed) and record them on it."""
        trial = self.study.ask(self.dists)
        params = {**self.constants, **{k: str(v) for k, v in trial.params.items()}}
        self.store.log_batch(run_id, params=params, tags={tags.SWEEP_TPE_NUMBER: str(trial.number)})
        self._asked[run_id] = trial

    def tell(self, run: Run) -> None:
        """Tell the study how trial `run` ended (asked here, or recorded before a resume)."""
        asked = self._asked.pop(run.run_id, None)
        value = run.metrics.get(self.metric) if self.metric else None
        if run.status != FINISHED or value is None:
            if asked is not None:
                self.study.tell(asked, state=self.optuna.trial.TrialState.FAIL)
            return
        if asked is not None:
            self.study.tell(asked, value.value)
            return
        params = self._recorded_params(run)
        if params is None:
            return  # not a point of this study's space (another spec, or edited by hand)
        self.study.add_trial(
            self.optuna.trial.create_trial(
                params=params, distributions=self.dists, value=value.value
            )
        )

    def _recorded_params(self, run: Run) -> dict[str, Any] | None:
        """A recorded trial's parameters as optuna values, or None if they do not fit."""
        dists_of = self.optuna.distributions
        try:
            return {
                k: self.dists[k].to_external_repr(
                    self.dists[k].to_internal_repr(
                        int(run.params[k])
                        if isinstance(self.dists[k], dists_of.IntDistribution)
                        else float(run.params[k])
                        if isinstance(self.dists[k], dists_of.FloatDistribution)
                        else run.params[k]
                    )
                )
                for k in self.dists
            }
        except (KeyError, ValueError):
            return None
