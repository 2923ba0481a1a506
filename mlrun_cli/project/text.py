"""Quoting what a file says inside a one-line message: printable, and bounded.

A message quotes keys, values and commands taken from files that may be binary junk or
hostile (a git URL is anyone's): control characters would break the line (or drive the
terminal), and a 4 KB value would bury the message. Every quote goes through here.
"""

from __future__ import annotations

LIMIT = 60  # characters of a quoted value; enough to recognise it


def printable(text: str, limit: int = LIMIT) -> str:
    """`text` with non-printable characters escaped (``\\n``, ``\\x00``), cut after `limit`."""
    cut = text[:limit]
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return out + "..." if len(text) > limit else out


def quoted(value: object, limit: int = LIMIT) -> str:
    """`value` as ``repr`` shows it (a str in quotes), escaped and cut after `limit` characters."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return repr(value[:limit]) + "..."
    return printable(repr(value), limit)
