"""MLflow's run search grammar, parsed into clauses (the embedded store compiles them to SQL).

    metrics.accuracy > 0.9 and params.kernel = 'linear' and tags.`my tag` LIKE 'x%'
    attributes.status IN ('FINISHED', 'FAILED')

Clauses are joined by AND (any case). An identifier is ``<entity>.<key>`` with entity
``metrics``/``metric``, ``params``/``param``, ``tags``/``tag`` or ``attributes``/``attribute``
/``attr``/``run``; a key with spaces or dots is quoted with backticks or double quotes.
Metrics and numeric attributes compare with ``= != < <= > >=`` against numbers; params, tags
and string attributes with ``= != LIKE ILIKE IN NOT IN`` against quoted strings. LIKE is
case-sensitive, ILIKE is not, as in MLflow. Errors point at the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlrun_cli.errors import MlrunError
from mlrun_cli.values import valueclass


class FilterError(MlrunError):
    """A filter or order-by expression is malformed."""


ENTITIES = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param", "parameters": "param", "parameter": "param",
    "tags": "tag", "tag": "tag",
    "attributes": "attribute", "attribute": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
# attribute name -> (the Run field it names, also its column in the embedded store; numeric)
ATTRIBUTES = {
    "status": ("status", False),
    "run_name": ("name", False),
    "run_id": ("run_id", False),
    "user_id": ("user", False),
    "lifecycle_stage": ("lifecycle_stage", False),
    "experiment_id": ("experiment_id", True),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
    "exit_code": ("exit_code", True),
}
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<op><=|>=|!=|=|<|>)
    | (?P<punct>[(),.])
    | (?P<word>[A-Za-z_][\w\-/:]*)
    )""",
    re.VERBOSE,
)


@valueclass
class Token:
    kind: str
    text: str
    pos: int


@valueclass
class Clause:
    entity: str  # metric | param | tag | attribute
    key: str
    op: str
    value: float | str | tuple[str, ...]


def _tokens(text: str, what: str = "filter") -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise _error(text, start, f"unexpected character {text[start]!r}", what)
        kind = m.lastgroup or ""
        start = m.start(kind)
        tokens.append(Token(kind, m.group(kind), start))
        pos = m.end()
    return tokens


def _error(text: str, pos: int, message: str, what: str = "filter") -> FilterError:
    return FilterError(
        f"{what} {text!r}: {message} at column {pos + 1}; the grammar is in "
        "'mlrun runs list --help'"
    )


def _unquote(tok: Token) -> str:
    if tok.kind in ("string", "backtick"):
        body = tok.text[1:-1]
        return re.sub(r"\\(.)", r"\1", body) if tok.kind == "string" else body
    return tok.text


class _Parser:
    def __init__(self, text: str, what: str = "filter") -> None:
        self.text = text
        self.what = what  # what the text is, for messages: the filter, or an --order-by
        self.toks = _tokens(text, what)
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise _error(self.text, len(self.text), f"expected {what}, found the end", self.what)
        self.i += 1
        return tok

    def fail(self, tok: Token, message: str) -> FilterError:
        return _error(self.text, tok.pos, f"{message}, found {tok.text!r}", self.what)

    def identifier(self) -> tuple[str, str, Token]:
        first = self.take("an identifier such as metrics.accuracy")
        if first.kind != "word" or first.text.lower() not in ENTITIES:
            raise self.fail(first, "expected metrics., params., tags. or attributes.")
        entity = ENTITIES[first.text.lower()]
        dot = self.take("'.'")
        if dot.text != ".":
            raise self.fail(dot, "expected '.' after the entity")
        key_tok = self.take("a key")
        if key_tok.kind not in ("word", "backtick", "string", "number"):
            raise self.fail(key_tok, "expected a key")
        key = _unquote(key_tok)
        # Unquoted keys may contain dots (metrics.val.loss), as MLflow allows.
        while (nxt := self.peek()) is not None and nxt.text == "." and key_tok.kind == "word":
            self.i += 1
            part = self.take("a key")
            key += "." + _unquote(part)
        if entity == "attribute" and key not in ATTRIBUTES:
            raise self.fail(key_tok, f"unknown attribute (one of {', '.join(sorted(ATTRIBUTES))})")
        return entity, key, key_tok

    def clause(self) -> Clause:
        entity, key, _ = self.identifier()
        op_tok = self.take("a comparison")
        op = op_tok.text.upper()
        if op == "NOT":
            nxt = self.take("IN")
            if nxt.text.upper() != "IN":
                raise self.fail(nxt, "expected IN after NOT")
            op = "NOT IN"
        numeric = entity == "metric" or (entity == "attribute" and ATTRIBUTES[key][1])
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise self.fail(op_tok, f"expected one of {', '.join(allowed)}")
        if op in ("IN", "NOT IN"):
            return Clause(entity, key, op, self.tuple())
        val = self.take("a value")
        if numeric:
            if val.kind != "number":
                raise self.fail(val, "expected a number")
            return Clause(entity, key, op, float(val.text))
        if val.kind != "string":
            raise self.fail(val, "expected a quoted string")
        return Clause(entity, key, op, _unquote(val))

    def tuple(self) -> tuple[str, ...]:
        open_ = self.take("'('")
        if open_.text != "(":
            raise self.fail(open_, "expected '(' after IN")
        items: list[str] = []
        while True:
            val = self.take("a quoted string")
            if val.kind != "string":
                raise self.fail(val, "expected a quoted string")
            items.append(_unquote(val))
            sep = self.take("',' or ')'")
            if sep.text == ")":
                return tuple(items)
            if sep.text != ",":
                raise self.fail(sep, "expected ',' or ')'")

    def parse(self) -> list[Clause]:
        clauses = [self.clause()]
        while (tok := self.peek()) is not None:
            if tok.kind != "word" or tok.text.upper() != "AND":
                raise self.fail(tok, "expected AND between clauses (OR is not supported)")
            self.i += 1
            clauses.append(self.clause())
        return clauses


def parse_filter(text: str | None) -> list[Clause]:
    """The clauses of a filter expression (empty for None or blank)."""
    if text is None or not text.strip():
        return []
    return _Parser(text).parse()


@valueclass
class OrderBy:
    entity: str
    key: str
    descending: bool


def parse_order_by(items: Sequence[str]) -> list[OrderBy]:
    """``metrics.accuracy DESC``, ``attributes.start_time``, ``params.C ASC``."""
    result = []
    for item in items:
        parser = _Parser(item, "--order-by")
        entity, key, _ = parser.identifier()
        descending = False
        tok = parser.peek()
        if tok is not None:
            if tok.kind != "word" or tok.text.upper() not in ("ASC", "DESC"):
                raise parser.fail(tok, "expected ASC or DESC")
            descending = tok.text.upper() == "DESC"
            parser.i += 1
            if (extra := parser.peek()) is not None:
                raise parser.fail(extra, "expected the end of the order-by")
        result.append(OrderBy(entity, key, descending))
    return result
