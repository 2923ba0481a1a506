from __future__ import annotations

import random

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.sweeps.grammar import parse


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("[0.1,0.5,1]", ("0.1", "0.5", "1")),
        ("[linear, rbf]", ("linear", "rbf")),
        ("range(0,10,3)", ("0", "3", "6", "9")),
        ("range(1,4)", ("1", "2", "3")),
        ("range(0,1,0.25)", ("0", "0.25", "0.5", "0.75")),
        ("linspace(0,1,5)", ("0", "0.25", "0.5", "0.75", "1")),
        ("logspace(-4,-1,4)", ("0.0001", "0.001", "0.01", "0.1")),
    ],
)
def test_grids(text: str, values: tuple[str, ...]) -> None:
    d = parse("a", text)
    assert (d.kind, d.values) == ("grid", values)


@pytest.mark.parametrize("text", ["64,64", "0.5", "hello", "f(x)", "layers"])
def test_constants(text: str) -> None:
    assert parse("a", text) == parse("a", text) and parse("a", text).values == (text,)
    assert parse("a", text).kind == "constant"


def test_literal_opts_out() -> None:
    assert parse("a", "[1,2]", literal=True).kind == "constant"


def test_random_terms_are_seeded() -> None:
    for text in ("uniform(0,1)", "loguniform(1e-4,1e-1)", "randint(1,6)", "choice(a,b,c)"):
        d = parse("a", text)
        assert d.kind == "random"
        first = [d.sample(random.Random(7)) for _ in range(3)]
        assert first == [d.sample(random.Random(7)) for _ in range(3)]
    assert all(
        1 <= int(parse("a", "randint(1,6)").sample(random.Random(i))) <= 6 for i in range(50)
    )
    assert all(
        1e-4 <= float(parse("a", "loguniform(1e-4,1e-1)").sample(random.Random(i))) <= 0.1
        for i in range(50)
    )


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("[1,2", "unclosed '['", 5),
        ("[]", "empty grid", 2),
        ("[1,,2]", "empty value in the grid", 2),
        ("range(0,x,1)", "'x' is not a number", 9),
        ("range(0,1,0)", "step cannot be 0", 7),
        ("linspace(0,1)", "expected 3 numbers", 10),
        ("uniform(2,1)", "needs low <= high", 9),
        ("loguniform(0,1)", "needs positive bounds", 12),
        ("randint(1.5,3)", "needs whole numbers", 9),
        ("choice()", "choice() needs values", 8),
        ("uniform(0,1", "unclosed '('", 12),
    ],
)
def test_errors_point_at_the_character(text: str, message: str, column: int) -> None:
    with pytest.raises(ParameterError) as err:
        parse("alpha", text)
    text_ = str(err.value)
    assert text_.startswith(f"-P alpha={text}: ") and text_.endswith(f" at column {column}")
    assert message in text_ and "\n" not in text_
