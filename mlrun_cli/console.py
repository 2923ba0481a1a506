"""The only place that prints.

Short messages are written directly (no rich import on the hot path); tables and other
rich renderables go through one lazily created rich Console. NO_COLOR and --quiet are honoured.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from mlrun_cli.redact import redact

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import IO, Any

if TYPE_CHECKING:
    from rich.console import Console


class _State:
    quiet = False
    verbose = False
    # With --json the machine-readable object owns stdout; messages go to stderr regardless.
    _rich: Console | None = None


def configure(*, quiet: bool = False, verbose: bool = False) -> None:
    _State.quiet = quiet
    _State.verbose = verbose


def reset() -> None:
    """Forget configuration and the cached rich Console (tests call this)."""
    _State.quiet = False
    _State.verbose = False
    _State._rich = None


def _color(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def _line(stream: IO[str], prefix: str, style: str, text: str) -> None:
    if prefix and _color(stream):
        prefix = f"\x1b[{style}m{prefix}\x1b[0m"
    stream.write(f"{prefix}{redact(text)}\n")
    stream.flush()


def info(text: str) -> None:
    """A progress or status line on stderr (suppressed by --quiet)."""
    if not _State.quiet:
        _line(sys.stderr, "", "", text)


def progress(text: str) -> None:
    """A status line that rewrites itself on a terminal; nothing when stderr is not one."""
    if not _State.quiet and sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{redact(text)}")
        sys.stderr.flush()


def progress_done() -> None:
    """Clear the status line left by `progress`."""
    if not _State.quiet and sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def detail(text: str) -> None:
    """A line shown only with -v."""
    if _State.verbose and not _State.quiet:
        _line(sys.stderr, "", "", text)


def warn(text: str) -> None:
    _line(sys.stderr, "warning: ", "33", text)


def error(text: str) -> None:
    _line(sys.stderr, "error: ", "31;1", text)


def out(text: str) -> None:
    """Plain text on stdout (a result, not a message)."""
    text = redact(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def json_out(obj: Any) -> None:
    import json

    out(json.dumps(obj, indent=2, sort_keys=False, default=str))


def rich_console() -> Console:
    if _State._rich is None:
        from rich.console import Console

        width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
        _State._rich = Console(
            no_color=bool(os.environ.get("NO_COLOR")),
            width=width,
            highlight=False,
            soft_wrap=False,
        )
    return _State._rich


def table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
) -> None:
    """Render rows as a table on stdout: rich on a terminal, plain aligned text otherwise."""
    if not _is_terminal(sys.stdout):
        _plain_table(title, columns, rows, show_header=kwargs.get("show_header", True))
        return
    kwargs.setdefault("keep", 1)
    from rich import box
    from rich.table import Table

    keep = kwargs.pop("keep", 1)
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", **kwargs)
    for i, col in enumerate(columns):
        # The first `keep` columns (ids, statuses, dates) never wrap: narrower columns are
        # cut short first, with an ellipsis.
        if i < keep:
            width = max([len(col), *(len(str(row[i])) for row in rows if i < len(row))])
            t.add_column(col, no_wrap=True, min_width=width)
        else:
            t.add_column(col, overflow="ellipsis", no_wrap=True)
    for row in rows:
        t.add_row(*("" if v is None else redact(str(v)) for v in row))
    rich_console().print(t)


def _is_terminal(stream: IO[str]) -> bool:
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def _plain_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], show_header: bool
) -> None:
    """Space-aligned columns, one row a line, no box drawing: stable for scripts and diffs."""
    cells = [["" if v is None else str(v).replace("\n", " ") for v in row] for row in rows]
    table = [list(columns), *cells] if show_header else cells
    widths = [max((len(r[i]) for r in table if i < len(r)), default=0) for i in range(len(columns))]
    lines = []
    if title:
        lines.append(f"{title}:")
    for row in table:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
    out("\n".join(lines))


def render(obj: Any) -> None:
    """Print any rich renderable (a table built by the caller, a panel, text)."""
    rich_console().print(obj)
