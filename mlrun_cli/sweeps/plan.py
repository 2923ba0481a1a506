"""Expand a sweep into trials: a grid product, seeded random samples, or rows of a file."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.errors import ParameterError
from mlrun_cli.sweeps.grammar import Domain, parse
from mlrun_cli.values import field, valueclass


@valueclass
class SweepPlan:
    method: str  # grid | random | tpe | file
    domains: tuple[Domain, ...]
    trials: tuple[Mapping[str, str], ...]  # the parameters of each trial (empty for tpe)
    count: int
    seed: int
    varying: tuple[str, ...] = field(default=())


def domains_of(params: Mapping[str, str], literal: Sequence[str]) -> tuple[Domain, ...]:
    return tuple(parse(name, text, name in literal) for name, text in params.items())


def expand(
    domains: Sequence[Domain],
    *,
    method: str | None,
    trials: int | None,
    seed: int | None,
    rows: Sequence[Mapping[str, str]] | None = None,
) -> SweepPlan:
    """The trials of a sweep. Random terms make it random (`trials` required, lists become choices)."""
    constants = {d.name: d.values[0] for d in domains if d.kind == "constant"}
    varying = [d for d in domains if d.kind != "constant"]
    is_random = any(d.kind == "random" for d in varying) or method in ("random", "tpe")
    # Only random draws need a seed; a grid's identity must not change from one call to the next.
    seed = (
        seed if seed is not None else (random.SystemRandom().randrange(2**31) if is_random else 0)
    )
    if rows is not None:
        if varying:
            raise ParameterError(
                f"-P {varying[0].name}: with --file, -P takes constants only (the file holds the trials)"
            )
        expanded = tuple({**constants, **row} for row in rows)
        names = sorted({k for row in rows for k in row})
        return SweepPlan("file", tuple(domains), expanded, len(expanded), seed, tuple(names))
    has_random_terms = any(d.kind == "random" for d in varying)
    method = method or ("random" if has_random_terms else "grid")
    if method == "grid" and has_random_terms:
        raise ParameterError("--method grid cannot take random terms (uniform, choice, ...)")
    if method in ("random", "tpe"):
        if not trials:
            raise ParameterError(f"a {method} sweep needs -n/--trials N")
        if method == "tpe":
            return SweepPlan(
                "tpe", tuple(domains), (), trials, seed, tuple(d.name for d in varying)
            )
        rng = random.Random(seed)
        expanded = tuple(
            {**constants, **{d.name: d.sample(rng) for d in varying}} for _ in range(trials)
        )
        return SweepPlan(
            "random", tuple(domains), expanded, trials, seed, tuple(d.name for d in varying)
        )
    if not varying:
        raise ParameterError(
            "nothing to sweep: give a grid such as -P alpha=[0.1,1] or a random term"
        )
    product = itertools.product(*(d.values for d in varying))
    expanded = tuple(
        {**constants, **dict(zip([d.name for d in varying], combo, strict=True))}
        for combo in product
    )
    if trials is not None and trials < len(expanded):
        expanded = expanded[:trials]
    return SweepPlan(
        "grid", tuple(domains), expanded, len(expanded), seed, tuple(d.name for d in varying)
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    """Trials from a CSV (a header row), or a YAML/JSON list of mappings.

    YAML goes through the same limits as an MLproject (size, alias expansion, depth): a
    trials file may come from anywhere a project does.
    """
    if path.suffix.lower() in (".yaml", ".yml"):
        from mlrun_cli.project.validation import read_yaml

        return _mappings(read_yaml(path, ParameterError, "give --file a trials file"), path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"--file {path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = [dict(r) for r in reader]
        for i, row in enumerate(rows, start=2):
            if None in row or any(v is None for v in row.values()):
                raise ParameterError(f"--file {path}: line {i} does not have one value per column")
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ParameterError(
                f"--file {path}: not valid JSON ({str(exc).splitlines()[0]})"
            ) from None
        return _mappings(data, path)
    if not rows:
        raise ParameterError(f"--file {path}: no trials in it")
    return rows


def _mappings(data: Any, path: Path) -> list[dict[str, str]]:
    """The trials of a YAML or JSON document: a non-empty list of mappings."""
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ParameterError(f"--file {path}: expected a list of mappings, one trial each")
    if not data:
        raise ParameterError(f"--file {path}: no trials in it")
    return [{str(k): str(v) for k, v in r.items()} for r in data]


def spec_hash(spec: Mapping[str, Any]) -> str:
    """The identity of a sweep: source commit and patch, entry point, trials, seed, method."""
    keys = (
        "commit",
        "patch_sha",
        "uri",
        "entry_point",
        "method",
        "seed",
        "trials",
        "count",
        "params",
    )
    payload = json.dumps({k: spec.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in (
        "commit",
        "patch_sha",
        "entry_point",
        "method",
        "seed",
        "count",
        "params",
        "trials",
    ):
        if old.get(key) != new.get(key):
            if key in ("trials", "params"):
                parts.append(f"{key} changed")
            else:
                parts.append(f"{key}: {str(old.get(key))[:12]} -> {str(new.get(key))[:12]}")
    return "; ".join(parts) or "spec changed"
