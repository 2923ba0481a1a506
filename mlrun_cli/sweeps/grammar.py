"""The value grammar of `mlrun sweep -P name=EXPR` (never used by `mlrun run`).

Grid terms expand to every value: ``[0.1,0.5,1]``, ``range(a,b,step)`` (stop excluded),
``linspace(a,b,n)``, ``logspace(a,b,n)`` (10**a .. 10**b). Random terms are sampled:
``uniform(a,b)``, ``loguniform(a,b)``, ``randint(a,b)`` (both ends included), ``choice(x,y,...)``.
Anything else is a constant (``layers=64,64`` too).
"""

from __future__ import annotations

import math
import random
import re

from mlrun_cli.errors import ParameterError
from mlrun_cli.values import valueclass

GRID_FUNCS = ("range", "linspace", "logspace")
RANDOM_FUNCS = ("uniform", "loguniform", "randint", "choice")
_CALL = re.compile(r"^(?P<name>[a-z]+)\((?P<args>.*)\)$", re.DOTALL)


@valueclass
class Domain:
    """A parameter's values: constant (one value), grid (all values) or random (a distribution)."""

    name: str
    kind: str  # constant | grid | random
    values: tuple[str, ...] = ()  # constant and grid; choices of a random choice
    dist: str = ""  # uniform | loguniform | randint | choice
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: random.Random) -> str:
        if self.kind != "random":
            return rng.choice(self.values) if len(self.values) > 1 else self.values[0]
        if self.dist == "choice":
            return rng.choice(self.values)
        if self.dist == "uniform":
            return fmt(rng.uniform(self.low, self.high))
        if self.dist == "loguniform":
            return fmt(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return str(rng.randint(int(self.low), int(self.high)))


def fmt(value: float) -> str:
    """Numbers as a person writes them: 0.1, 1e-05, 3."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".12g")


def _error(name: str, text: str, column: int, message: str) -> ParameterError:
    return ParameterError(f"-P {name}={text}: {message} at column {column + 1}")


def _numbers(name: str, text: str, args: str, offset: int, count: int) -> list[float]:
    parts = [a.strip() for a in args.split(",")]
    if len(parts) != count or not all(parts):
        raise _error(name, text, offset, f"expected {count} numbers")
    out = []
    pos = offset
    for raw, part in zip(args.split(","), parts, strict=True):
        try:
            out.append(float(part))
        except ValueError:
            raise _error(
                name, text, pos + (len(raw) - len(raw.lstrip())), f"{part!r} is not a number"
            ) from None
        pos += len(raw) + 1
    return out


def parse(name: str, text: str, literal: bool = False) -> Domain:
    """The domain of `-P name=text`; a malformed expression is an error pointing at the character."""
    stripped = text.strip()
    if literal:
        return Domain(name, "constant", (text,))
    if stripped.startswith("["):
        if not stripped.endswith("]"):
            raise _error(name, text, len(text), "unclosed '[' (expected ']')")
        items = [v.strip() for v in stripped[1:-1].split(",")]
        if stripped[1:-1].strip() == "":
            raise _error(name, text, text.index("[") + 1, "empty grid")
        if any(v == "" for v in items):
            raise _error(name, text, text.index("[") + 1, "empty value in the grid")
        return Domain(name, "grid", tuple(items))
    m = _CALL.match(stripped)
    if m is None:
        head = re.match(r"^([a-z]+)\(", stripped)
        if head and head.group(1) in GRID_FUNCS + RANDOM_FUNCS:
            raise _error(name, text, len(text), f"unclosed '(' in {head.group(1)}(...)")
        return Domain(name, "constant", (text,))
    func, args = m.group("name"), m.group("args")
    offset = text.index("(") + 1
    if func not in GRID_FUNCS + RANDOM_FUNCS:
        return Domain(name, "constant", (text,))
    if func == "choice":
        choices = tuple(v.strip() for v in args.split(","))
        if not args.strip() or any(v == "" for v in choices):
            raise _error(name, text, offset, "choice() needs values")
        return Domain(name, "random", choices, "choice")
    if func in ("uniform", "loguniform", "randint"):
        low, high = _numbers(name, text, args, offset, 2)
        if low > high:
            raise _error(name, text, offset, f"{func}() needs low <= high")
        if func == "loguniform" and low <= 0:
            raise _error(name, text, offset, "loguniform() needs positive bounds")
        if func == "randint" and not (low.is_integer() and high.is_integer()):
            raise _error(name, text, offset, "randint() needs whole numbers")
        return Domain(name, "random", (), func, low, high)
    if func == "range":
        parts = [a for a in args.split(",")]
        start, stop, step = _numbers(name, text, args, offset, 3 if len(parts) == 3 else 2) + (
            [] if len(parts) == 3 else [1.0]
        )
        if step == 0:
            raise _error(name, text, offset, "range() step cannot be 0")
        values = []
        i = 0
        while (start + i * step < stop - 1e-12) if step > 0 else (start + i * step > stop + 1e-12):
            values.append(fmt(round(start + i * step, 12)))
            i += 1
            if i > 100_000:
                raise _error(name, text, offset, "range() gives more than 100000 values")
    else:
        a, b, n = _numbers(name, text, args, offset, 3)
        if not n.is_integer() or n < 1:
            raise _error(name, text, offset, f"{func}() needs a whole number of points")
        count = int(n)
        points = [a + (b - a) * i / (count - 1) for i in range(count)] if count > 1 else [a]
        if func == "logspace":
            points = [10**p for p in points]
        values = [fmt(round(p, 12)) for p in points]
    if not values:
        raise _error(name, text, offset, "empty grid")
    return Domain(name, "grid", tuple(values))
