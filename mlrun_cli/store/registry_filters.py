"""The filter strings of MLflow's registry searches: ``name = 'iris'``, ``name ILIKE '%ir%'``,
``run_id IN ('a', 'b')``, ``tags.stage = 'prod'``, joined by AND. Standard library only."""

from __future__ import annotations

import re

from mlrun_cli.store.base import RegistryError
from mlrun_cli.values import valueclass

OPS = ("!=", "=", "LIKE", "ILIKE", "IN")
_CLAUSE = re.compile(
    r"""\s*(?P<key>(?:tags\.)?(?:`[^`]+`|"[^"]+"|[\w.]+))\s*
        (?P<op>!=|=|(?i:ilike|like|in))\s*
        (?P<value>'(?:[^']|'')*'|"(?:[^"]|"")*"|\((?:[^()'"]|'[^']*'|"[^"]*")*\)|[\w.-]+)\s*""",
    re.VERBOSE,
)
_VALUE = re.compile(r"""'((?:[^']|'')*)'|"((?:[^"]|"")*)"|([\w.-]+)""")


@valueclass
class Clause:
    key: str  # "name", "run_id", ... or "tags.<key>"
    op: str  # one of OPS
    values: tuple[str, ...]  # one value, or the list of an IN


def _unquote(text: str) -> str:
    m = _VALUE.fullmatch(text.strip())
    if m is None:
        raise RegistryError("INVALID_PARAMETER_VALUE", f"invalid value {text!r} in the filter")
    if m.group(1) is not None:
        return m.group(1).replace("''", "'")
    if m.group(2) is not None:
        return m.group(2).replace('""', '"')
    return m.group(3)


def parse_filter(text: str | None) -> list[Clause]:
    """The clauses of a filter string; INVALID_PARAMETER_VALUE for one we cannot read."""
    text = (text or "").strip()
    clauses: list[Clause] = []
    pos = 0
    while text and pos < len(text):
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise RegistryError("INVALID_PARAMETER_VALUE", f"Invalid filter string {text!r}")
        key = m.group("key")
        prefix = "tags." if key.startswith("tags.") else ""
        key = prefix + key[len(prefix) :].strip('`"')
        op = m.group("op").upper()
        raw = m.group("value")
        if op == "IN":
            if not raw.startswith("("):
                raise RegistryError("INVALID_PARAMETER_VALUE", f"IN needs a list: {text!r}")
            values = tuple(_unquote(v) for v in re.findall(r"'[^']*'|\"[^\"]*\"|[\w.-]+", raw))
        else:
            values = (_unquote(raw),)
        clauses.append(Clause(key, op, values))
        pos = m.end()
        rest = re.match(r"(?i:and)\s+", text[pos:])
        if rest is None:
            if text[pos:].strip():
                raise RegistryError("INVALID_PARAMETER_VALUE", f"Invalid filter string {text!r}")
            break
        pos += rest.end()
    return clauses
