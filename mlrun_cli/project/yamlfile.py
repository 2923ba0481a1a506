"""Reading a YAML file the tool was given, within limits.

An MLproject can come from any git URL, so its YAML is hostile until loaded. PyYAML keeps an
alias as a reference to the node it names, so a 400-byte "billion laughs" loads quickly, and
then whatever walks the result (the schema, the JSON memo) walks every repetition: seven
nested levels cost 40 s and 4 GB. The events are therefore counted before anything is
constructed, each alias adding the size of what it names, and a document that would expand
beyond `MAX_NODES` values or `MAX_TEXT` characters, nests deeper than `MAX_DEPTH`, or names
itself through an alias is refused. Counting is one pass over the parser's events, which
(unlike composing) never recurses. Files in the wild are a few KB: the limits are far above
them (and a file's size is bounded before it is read: `validation.MAX_BYTES`).

Duplicate keys are refused too: YAML forbids them, and PyYAML silently keeps the last, so an
entry point declared twice would run the one the reader did not look at.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from mlrun_cli.errors import MlrunError
from mlrun_cli.project.text import printable, quoted

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

MAX_NODES = 100_000  # values after alias expansion (each scalar, list and mapping is one)
MAX_TEXT = 4 * 1024 * 1024  # characters of scalars after alias expansion
MAX_DEPTH = 100  # nested lists and mappings
MAX_INT_TEXT = 1000  # characters of an integer (hex or not: well under 4300 decimal digits)


def decode(raw: bytes, path: Path, error: type[MlrunError]) -> str:
    """`raw` as UTF-8 text (a byte-order mark is allowed), or one line saying it is not."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(f"{path}: the file is UTF-16 or UTF-32, not UTF-8; save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None


def load_text(text: str, path: Path, error: type[MlrunError]) -> Any:
    """Safe-load one YAML document within the limits; YAML errors are one-line `error`s."""
    import yaml

    loader = _loader()
    try:
        _check_expansion(yaml.parse(text, Loader=loader), path, error)
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise error(_syntax_message(exc, text, path)) from None


def _syntax_message(exc: Any, text: str, path: Path) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f" line {mark.line + 1}, column {mark.column + 1}:"
    elif isinstance(getattr(exc, "position", None), int):  # a ReaderError: no mark
        line = text.count("\n", 0, exc.position) + 1
        where = f" line {line}:"
    else:
        where = ""
    import yaml

    problem = printable(getattr(exc, "problem", None) or (str(exc).splitlines() or [""])[0], 160)
    if isinstance(exc, yaml.constructor.ConstructorError):  # a value, not the syntax
        hint = "" if "; " in problem else "; fix the YAML"  # ours say what to do
        return f"{path}:{where} YAML error: {problem}{hint}"
    return f"{path}:{where} YAML syntax error: {problem}; fix the YAML"


def _check_expansion(events: Any, path: Path, error: type[MlrunError]) -> None:
    """Count what the events expand to; raise `error` at the first limit crossed."""
    import yaml

    open_nodes: list[tuple[str | None, int, int]] = []  # (anchor, nodes, text) at its start
    anchors: dict[str, tuple[int, int] | None] = {}  # None: still open (an alias is recursive)
    nodes = text = 0
    aliased = False
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in anchors and anchors[event.anchor] is None:
                raise error(
                    f"{path}: line {_line(event)}: alias *{printable(event.anchor)} "
                    "is inside the node it names (a recursive alias); write the value out"
                )
            # an undefined alias counts as one value: the loader refuses it next
            size = anchors.get(event.anchor or "") or (1, 0)
            nodes, text, aliased = nodes + size[0], text + size[1], True
        elif isinstance(event, yaml.ScalarEvent):
            nodes, text = nodes + 1, text + len(event.value)
            if event.anchor is not None:
                anchors[event.anchor] = (1, len(event.value))
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise error(
                    f"{path}: line {_line(event)}: nested more than {MAX_DEPTH} "
                    "levels deep; flatten it"
                )
            open_nodes.append((event.anchor, nodes, text))
            nodes += 1
            if event.anchor is not None:
                anchors[event.anchor] = None
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes_before, text_before = open_nodes.pop()
            if anchor is not None:
                anchors[anchor] = (nodes - nodes_before, text - text_before)
        if nodes > MAX_NODES or text > MAX_TEXT:
            line = _line(event)
            if aliased:
                raise error(
                    f"{path}: line {line}: the document expands to more than {MAX_NODES} values "
                    f"or {MAX_TEXT // 1024 // 1024} MiB of text through its aliases (*name); "
                    "write it without nested aliases"
                )
            raise error(
                f"{path}: line {line}: more than {MAX_NODES} values or "
                f"{MAX_TEXT // 1024 // 1024} MiB of text; shorten it"
            )


def _line(event: Any) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 0


@cache
def _loader() -> Any:
    """The safe loader (libyaml's when PyYAML has it) refusing duplicate keys in a mapping."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merge = "tag:yaml.org,2002:merge"

    class Loader(base):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[tuple[str, str], int] = {}
                for key, _ in node.value:
                    if not isinstance(key, yaml.ScalarNode) or key.tag == merge:
                        continue
                    first = seen.get((key.tag, key.value))
                    if first is not None:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"duplicate key {quoted(key.value)} (first on line {first})",
                            key.start_mark,
                        )
                    seen[(key.tag, key.value)] = key.start_mark.line + 1
            return super().construct_mapping(node, deep)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, OverflowError) as exc:  # `2020-13-45` reads as a bad date
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"cannot read {quoted(node.value)} ({printable(str(exc), 80)}); quote it "
                    "to make it a string",
                    node.start_mark,
                ) from None

        def construct_yaml_int(self, node: Any) -> Any:
            # Python refuses to print an int over 4300 digits (and a hex one parses fine
            # first): refused here, or the schema's message about it would crash.
            if len(node.value) > MAX_INT_TEXT:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"an integer written in {len(node.value)} characters is too large; quote "
                    "it to make it a string",
                    node.start_mark,
                )
            return super().construct_yaml_int(node)

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    return Loader
