"""MLflow's run search grammar (parsed by `mlrun_cli.store.filters`) compiled to SQL."""

from __future__ import annotations

from collections.abc import Sequence

from mlrun_cli.store.filters import ATTRIBUTES, Clause, OrderBy

# entity -> the table holding its key/value rows; a metric compares its latest value
TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}


def where_sql(clauses: Sequence[Clause]) -> tuple[str, list[object]]:
    """A WHERE fragment over table ``runs`` (with its arguments) for `clauses`."""
    parts: list[str] = []
    args: list[object] = []
    for c in clauses:
        if c.entity == "attribute":
            column = f"runs.{ATTRIBUTES[c.key][0]}"
            expr, vals = _compare(column, c.op, c.value)
            parts.append(expr)
            args += vals
            continue
        table = TABLES[c.entity]
        expr, vals = _compare("x.value", c.op, c.value)
        parts.append(
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = runs.run_id AND x.key = ? AND {expr})"
        )
        args += [c.key, *vals]
    return " AND ".join(parts), args


def _compare(
    column: str, op: str, value: float | str | tuple[str, ...]
) -> tuple[str, list[object]]:
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        return f"{column} {op} ({','.join('?' * len(value))})", list(value)
    if op == "LIKE":
        return f"{column} LIKE ? ESCAPE '\\'", [value]
    if op == "ILIKE":
        return f"lower({column}) LIKE lower(?) ESCAPE '\\'", [value]
    return f"{column} {op} ?", [value]


def order_sql(orders: Sequence[OrderBy]) -> tuple[str, list[object]]:
    """An ORDER BY list (NULLs last) for `orders`, ending with newest first."""
    parts: list[str] = []
    args: list[object] = []
    for o in orders:
        direction = "DESC" if o.descending else "ASC"
        if o.entity == "attribute":
            expr = f"runs.{ATTRIBUTES[o.key][0]}"
        else:
            expr = f"(SELECT x.value FROM {TABLES[o.entity]} x WHERE x.run_id = runs.run_id AND x.key = ?)"
            args.append(o.key)
        parts.append(f"{expr} IS NULL, {expr} {direction}")
        if o.entity != "attribute":
            args.append(o.key)  # the expression appears twice
    parts.append("runs.start_time DESC, runs.run_id")
    return ", ".join(parts), args
