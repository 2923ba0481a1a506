"""Value classes: the dataclass behaviour the tool relies on, without importing dataclasses."""

from __future__ import annotations

import pytest

from mlrun_cli.values import FrozenInstanceError, field, replace, valueclass


@valueclass
class Point:
    x: int
    y: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    note: str = field(default="", compare=False)


@valueclass
class Celsius:
    degrees: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "degrees", float(self.degrees))


@valueclass(frozen=False)
class Counter:
    n: int = 0
    seen: list[int] = field(default_factory=list)


def test_init_defaults_and_factories() -> None:
    p = Point(1)
    assert (p.x, p.y, p.tags, p.note) == (1, 0, {}, "")
    assert Point(1).tags is not Point(1).tags  # a new dict each time
    assert Point(1, y=2, tags={"a": "b"}).tags == {"a": "b"}
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_frozen_equal_hashable_and_repr() -> None:
    p = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x  # type: ignore[misc]
    assert Point(1, 2) == Point(1, 2, note="ignored")  # compare=False
    assert Point(1, 2) != Point(2, 1)
    assert Point(1, 2) != (1, 2)
    assert hash(Celsius(1.0)) == hash(Celsius(1.0))
    with pytest.raises(TypeError):
        hash(Point(1, 2))  # a dict field makes it unhashable, as with dataclasses
    assert repr(Point(1)) == "Point(x=1, y=0, tags={}, note='')"


def test_post_init_and_replace() -> None:
    c = Celsius(3)  # type: ignore[arg-type]
    assert isinstance(c.degrees, float)
    p = replace(Point(1, 2), y=5)
    assert p == Point(1, 5)
    with pytest.raises(TypeError):
        replace(Point(1), z=1)


def test_mutable_values_assign_and_are_unhashable() -> None:
    c = Counter()
    c.n += 1
    c.seen.append(1)
    assert c == Counter(1, [1])
    with pytest.raises(TypeError):
        hash(c)


def test_a_default_before_a_required_field_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default field"):

        @valueclass
        class Bad:
            a: int = 0
            b: int
