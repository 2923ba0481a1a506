from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.project.mlproject import EntryPoint, Parameter
from mlrun_cli.project.params import parse_assignments, render_command, resolve


def entry(command: str, *params: Parameter) -> EntryPoint:
    return EntryPoint("main", command, {p.name: p for p in params})


def test_parse_assignments_splits_on_first_equals() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["a"], "-P 'a': expected NAME=VALUE, e.g. -P alpha=0.5"),
        (["=1"], "-P '=1': expected NAME=VALUE"),
        (["a=1", "a=2"], "-P a: given twice; pass each parameter once"),
    ],
)
def test_parse_assignments_errors(items: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        parse_assignments(items)


def test_missing_required_are_all_named_in_one_error(tmp_path: Path) -> None:
    e = entry("x {a} {b} {c}", Parameter("a", "float"), Parameter("b"), Parameter("c", "int", 1))
    with pytest.raises(ParameterError) as err:
        resolve(e, {}, project_dir=tmp_path)
    assert str(err.value) == (
        "entry point 'main': missing required parameters a, b; pass -P a=... -P b=..."
    )


@pytest.mark.parametrize(
    ("ptype", "good", "bad"),
    [
        ("float", ["1", "1.5", "-2e-3", "inf"], ["abc", "1,5", ""]),
        ("int", ["3", "-7", "+2"], ["3.5", "x", ""]),
        ("bool", ["true", "False", "1", "no"], ["maybe", "2"]),
    ],
)
def test_values_are_checked_by_type(
    tmp_path: Path, ptype: str, good: list[str], bad: list[str]
) -> None:
    e = entry("x {v}", Parameter("v", ptype))
    for value in good:
        assert resolve(e, {"v": value}, project_dir=tmp_path).declared == {"v": value}
    for value in bad:
        with pytest.raises(ParameterError, match=f"parameter v: .* is not a valid {ptype}"):
            resolve(e, {"v": value}, project_dir=tmp_path)


def test_other_types_are_accepted_as_is(tmp_path: Path) -> None:
    e = entry("x {a} {b}", Parameter("a", "list[int]"), Parameter("b", "str"))
    assert resolve(e, {"a": "[1,2]", "b": "x"}, project_dir=tmp_path).declared == {
        "a": "[1,2]",
        "b": "x",
    }


def test_path_from_cli_resolves_against_cwd_and_default_against_project(tmp_path: Path) -> None:
    project, cwd = tmp_path / "project", tmp_path / "cwd"
    project.mkdir()
    cwd.mkdir()
    (project / "data.csv").write_text("")
    (cwd / "mine.csv").write_text("")
    e = entry("x {d}", Parameter("d", "path", "data.csv"))
    assert resolve(e, {}, project_dir=project, cwd=cwd).declared["d"] == str(project / "data.csv")
    given = resolve(e, {"d": "mine.csv"}, project_dir=project, cwd=cwd)
    assert given.declared["d"] == str(cwd / "mine.csv")
    assert resolve(e, {"d": "s3://b/k"}, project_dir=project, cwd=cwd).declared["d"] == "s3://b/k"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    e = entry("x {d}", Parameter("d", "path"))
    with pytest.raises(ParameterError, match=r"parameter d: given path 'nope.csv' does not exist"):
        resolve(e, {"d": "nope.csv"}, project_dir=tmp_path, cwd=tmp_path)


def test_uri_needs_a_scheme(tmp_path: Path) -> None:
    e = entry("x {u}", Parameter("u", "uri"))
    assert (
        resolve(e, {"u": "s3://bucket/key"}, project_dir=tmp_path).declared["u"]
        == "s3://bucket/key"
    )
    with pytest.raises(ParameterError, match=r"parameter u: 'data/x' is not a URI"):
        resolve(e, {"u": "data/x"}, project_dir=tmp_path)


def test_render_quotes_values_like_mlflow(tmp_path: Path) -> None:
    e = entry(
        "python t.py --a {a} --b {b} {{literal}}", Parameter("a"), Parameter("b", "float", 0.5)
    )
    p = resolve(e, {"a": "it's here", "extra key": "v w", "n": "1"}, project_dir=tmp_path)
    assert render_command(e, p) == (
        "python t.py --a 'it'\"'\"'s here' --b 0.5 {literal} --'extra key' 'v w' --n 1"
    )


def test_trailing_whitespace_is_stripped_before_extras(tmp_path: Path) -> None:
    e = entry("python t.py\n  ")
    assert render_command(e, resolve(e, {"x": "1"}, project_dir=tmp_path)) == "python t.py --x 1"
    assert render_command(e, resolve(e, {}, project_dir=tmp_path)) == "python t.py\n  "


def test_undeclared_placeholder_is_named(tmp_path: Path) -> None:
    e = entry("python t.py {alpha} {beta}", Parameter("alpha", "float", 1))
    with pytest.raises(ParameterError) as err:
        render_command(e, resolve(e, {}, project_dir=tmp_path))
    assert "command uses {beta}, which is not a declared parameter (declared: alpha)" in str(
        err.value
    )


def test_default_values_render_as_python_str(tmp_path: Path) -> None:
    e = entry("x {a} {b}", Parameter("a", "bool", True), Parameter("b", "float", 1e-05))
    assert render_command(e, resolve(e, {}, project_dir=tmp_path)) == "x True 1e-05"
