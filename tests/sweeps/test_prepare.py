from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.sweeps.plan import spec_hash
from mlrun_cli.sweeps.prepare import current_spec, prepare
from mlrun_cli.sweeps.request import SweepRequest


def test_prepare_types_and_renders_every_trial(project: Path) -> None:
    prep = prepare(SweepRequest(uri=str(project), params={"x": "[1,2]", "mode": "b"}))
    assert prep.resolved == [{"x": "1", "mode": "b"}, {"x": "2", "mode": "b"}]
    assert prep.commands == ["python t.py 1 b", "python t.py 2 b"]
    assert prep.spec["count"] == 2 and prep.spec["varying"] == ["x"]
    assert prep.spec["commit"] is None and prep.spec["patch_sha"] is None  # not a git checkout
    assert prep.hash == spec_hash(prep.spec)


def test_the_same_request_is_the_same_sweep(project: Path) -> None:
    a = prepare(SweepRequest(uri=str(project), params={"x": "[1,2]"}))
    b = prepare(SweepRequest(uri=str(project), params={"x": "[1,2]"}))
    c = prepare(SweepRequest(uri=str(project), params={"x": "[1,3]"}))
    assert a.hash == b.hash != c.hash


@pytest.mark.parametrize(
    ("req", "message"),
    [
        ({"params": {"nope": "[1,2]"}}, "has no parameter 'nope'"),
        ({"params": {"x": "[1]"}, "jobs": 0}, "-j/--jobs must be 1 or more"),
    ],
)
def test_refusals(project: Path, req: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        prepare(SweepRequest(uri=str(project), **req))  # type: ignore[arg-type]


def test_current_spec_of_unchanged_sources_is_the_spec(project: Path) -> None:
    prep = prepare(SweepRequest(uri=str(project), params={"x": "[1,2]"}))
    assert spec_hash(current_spec(prep.spec)) == prep.hash
