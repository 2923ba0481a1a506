"""Value objects without the cost of `dataclasses` at start-up.

`dataclasses` imports `inspect` (and with it `ast`, `dis`, `tokenize`): about 10 ms, a fifth
of what `mlrun run` may spend before its command starts. `@valueclass` makes the same kind of
class, frozen by default: an ``__init__`` taking the annotated fields in order (defaults and
`field(default_factory=...)` as in dataclasses), ``__post_init__``, ``__repr__``, ``__eq__``
and, when frozen, ``__hash__`` and an error on assignment. Type checkers see it as a
dataclass (PEP 681). `replace(obj, **changes)` is `dataclasses.replace` for these classes.

    @valueclass
    class Point:
        x: int
        y: int = 0
        tags: dict[str, str] = field(default_factory=dict)
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")

_MISSING: Any = object()
_FIELDS = "__value_fields__"


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen value."""


class Field:
    """How one field is made: its default, or a factory called for each new instance."""

    __slots__ = ("compare", "default", "default_factory", "name")

    def __init__(self, default: Any, default_factory: Any, compare: bool) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    compare: bool = True,
) -> Any:
    """A field's default (`default`, or `default_factory()` per instance) and whether
    equality compares it."""
    return Field(default, default_factory, compare)


def _fields_of(cls: type) -> list[Field]:
    found: list[Field] = []
    # The class's own annotations (inspect.get_annotations would import inspect).
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        spec = cls.__dict__.get(name, _MISSING)
        f = spec if isinstance(spec, Field) else Field(spec, None, True)
        f.name = name
        found.append(f)
    return found


def _make(cls: type, frozen: bool) -> type:
    fields = _fields_of(cls)
    params, body, env = [], [], {"_MISSING": _MISSING}
    setter = "object.__setattr__(self, {n!r}, {v})" if frozen else "self.{n} = {v}"
    seen_default = False
    for f in fields:
        if f.default_factory is not None:
            env[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            value_expr = f"_factory_{f.name}() if {f.name} is _MISSING else {f.name}"
            seen_default = True
        elif f.default is not _MISSING:
            env[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            value_expr = f.name
            seen_default = True
        else:
            if seen_default:
                raise TypeError(f"{cls.__name__}: non-default field {f.name!r} after a default")
            params.append(f.name)
            value_expr = f.name
        body.append(setter.format(n=f.name, v=value_expr))
        if f.name in cls.__dict__:
            delattr(cls, f.name)  # the class attribute was only the default
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    if not params:
        src = "def __init__(self):\n    " + "\n    ".join(body or ["pass"])
    exec(src, env)  # one small function per class, like dataclasses, without its imports
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    compared = tuple(f.name for f in fields if f.compare)
    names = tuple(f.name for f in fields)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in compared)

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in compared))

    def __setattr__(self: Any, name: str, val: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    methods: dict[str, Any] = {"__init__": init, _FIELDS: tuple(fields)}
    # As dataclasses do: a __repr__ or __eq__ the class defines itself is kept.
    for name, fn in (("__repr__", __repr__), ("__eq__", __eq__)):
        if name not in cls.__dict__:
            methods[name] = fn
    if frozen:
        methods.update(__hash__=__hash__, __setattr__=__setattr__, __delattr__=__delattr__)
    elif "__eq__" in methods:
        methods["__hash__"] = None  # mutable values are unhashable, as dataclasses make them
    for name, attr in methods.items():
        setattr(cls, name, attr)
    return cls


if TYPE_CHECKING:

    @overload
    def valueclass(cls: type[T], /) -> type[T]: ...

    @overload
    def valueclass(*, frozen: bool = True) -> Callable[[type[T]], type[T]]: ...

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def valueclass(cls: type[T] | None = None, /, *, frozen: bool = True) -> Any: ...

else:

    def valueclass(cls=None, /, *, frozen=True):
        """Make `cls` a value class (see the module's docstring); `frozen=False` allows
        assignment."""
        if cls is None:
            return lambda c: _make(c, frozen)
        return _make(cls, frozen)


def replace(obj: T, **changes: Any) -> T:
    """A copy of the value `obj` with `changes` applied."""
    fields = getattr(type(obj), _FIELDS)
    kwargs = {f.name: getattr(obj, f.name) for f in fields}
    unknown = set(changes) - set(kwargs)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    kwargs.update(changes)
    return type(obj)(**kwargs)
