from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.sweeps.plan import describe_difference, domains_of, expand, read_rows, spec_hash


def test_a_grid_is_the_product_with_constants() -> None:
    plan = expand(
        domains_of({"a": "[1,2]", "b": "[x,y]", "c": "7"}, ()), method=None, trials=None, seed=None
    )
    assert plan.method == "grid" and plan.count == 4 and plan.seed == 0
    assert plan.varying == ("a", "b")
    assert plan.trials[0] == {"c": "7", "a": "1", "b": "x"}
    assert [(t["a"], t["b"]) for t in plan.trials] == [
        ("1", "x"),
        ("1", "y"),
        ("2", "x"),
        ("2", "y"),
    ]


def test_random_draws_are_seeded() -> None:
    domains = domains_of({"x": "uniform(0,1)"}, ())
    a = expand(domains, method=None, trials=3, seed=5)
    b = expand(domains, method=None, trials=3, seed=5)
    assert a.method == "random" and a.trials == b.trials and a.count == 3


def test_tpe_plans_no_trials_up_front() -> None:
    plan = expand(domains_of({"x": "uniform(0,1)"}, ()), method="tpe", trials=4, seed=1)
    assert (plan.method, plan.trials, plan.count) == ("tpe", (), 4)


@pytest.mark.parametrize(
    ("params", "method", "trials", "message"),
    [
        ({"x": "uniform(0,1)"}, None, None, "a random sweep needs -n/--trials N"),
        ({"x": "uniform(0,1)"}, "grid", None, "--method grid cannot take random terms"),
        ({"x": "1"}, None, None, "nothing to sweep"),
    ],
)
def test_refusals(
    params: dict[str, str], method: str | None, trials: int | None, message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        expand(domains_of(params, ()), method=method, trials=trials, seed=None)


def test_rows_of_a_file(tmp_path: Path) -> None:
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("x,y\n1,a\n2,b\n")
    rows = read_rows(csv_file)
    assert rows == [{"x": "1", "y": "a"}, {"x": "2", "y": "b"}]
    plan = expand(domains_of({"z": "0"}, ()), method=None, trials=None, seed=None, rows=rows)
    assert plan.method == "file" and plan.trials[1] == {"z": "0", "x": "2", "y": "b"}
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text("- {x: 1}\n- {x: 2}\n")
    assert read_rows(yaml_file) == [{"x": "1"}, {"x": "2"}]
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1\n")
    with pytest.raises(ParameterError, match="line 2 does not have one value per column"):
        read_rows(bad)


def test_spec_hash_and_difference() -> None:
    spec = {
        "commit": "a" * 40,
        "patch_sha": None,
        "uri": ".",
        "trials": [{"x": "1"}],
        "goal": "maximize",
    }
    assert spec_hash(spec) == spec_hash({**spec, "goal": "minimize"})  # not part of the identity
    changed = {**spec, "patch_sha": "b" * 64}
    assert spec_hash(changed) != spec_hash(spec)
    assert describe_difference(spec, changed) == "patch_sha: None -> bbbbbbbbbbbb"
    assert describe_difference(spec, {**spec, "trials": []}) == "trials changed"


def test_a_yaml_trials_file_is_read_within_limits(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        levels.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    bomb.write_text("\n".join(levels) + "\n")
    with pytest.raises(
        ParameterError, match=r"bomb\.yaml: line 5: the document expands to more than"
    ):
        read_rows(bomb)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(ParameterError, match="no trials in it"):
        read_rows(empty)
    bad = tmp_path / "bad.yml"
    bad.write_text("- {x: 1\n")
    with pytest.raises(ParameterError, match=r"bad\.yml.*line"):
        read_rows(bad)
