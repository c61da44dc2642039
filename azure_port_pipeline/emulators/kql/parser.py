"""Recursive-descent parser for the KQL subset: text -> immutable syntax tree.

The parser knows the grammar only; names of functions and columns are resolved later by
`evaluate`, which has the table schemas. Operators outside the subset are rejected here with
the operator's name and position so the emulator answers like the service (400 InvalidQuery).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from azure_port_pipeline.emulators.kql.lexer import (
    TIMESPAN_UNITS,
    KqlError,
    Token,
    error_at,
    tokenize,
)

# ---------------------------------------------------------------- expression nodes


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    """`base.key` or `base['key']`: property access on a dynamic value."""

    base: Any
    key: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Index:
    """`base[expr]` with a non-literal or integer subscript."""

    base: Any
    index: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Any
    right: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class InList:
    op: str  # in, !in, in~, !in~, has_any, has_all
    left: Any
    items: tuple[Any, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Between:
    negated: bool
    left: Any
    low: Any
    high: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Star:
    pos: int = 0


# ---------------------------------------------------------------- tabular nodes


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = expr` or a bare `expr` (name None: derived later)."""

    name: str | None
    expr: Any


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Any
    desc: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Where:
    predicate: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Extend:
    items: tuple[Assign, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Project:
    items: tuple[Assign, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class ProjectAway:
    patterns: tuple[tuple[str, int], ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class ProjectRename:
    pairs: tuple[tuple[str, str, int], ...]  # (new, old, pos)
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Summarize:
    aggregates: tuple[Assign, ...]
    by: tuple[Assign, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Top:
    count: Any
    key: SortKey
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Take:
    count: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Count:
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Distinct:
    items: tuple[Assign, ...] | None  # None means `distinct *`
    pos: int = 0


@dataclass(frozen=True, slots=True)
class MvItem:
    name: str | None
    expr: Any
    cast: str | None  # `to typeof(T)`: applied to each expanded element


@dataclass(frozen=True, slots=True)
class MvExpand:
    items: tuple[MvItem, ...]
    limit: Any | None
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Join:
    kind: str
    right: Pipeline
    on: tuple[tuple[str, str, int], ...]  # (left column, right column, pos)
    pos: int = 0


@dataclass(frozen=True, slots=True)
class TableRef:
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Pipeline:
    source: Any  # TableRef | Pipeline
    operators: tuple[Any, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Any  # an expression or a Pipeline
    tabular: bool
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Query:
    lets: tuple[Let, ...]
    body: Pipeline


# ---------------------------------------------------------------- vocabulary

SUPPORTED_OPERATORS = frozenset(
    {
        "where",
        "filter",
        "extend",
        "project",
        "project-away",
        "project-rename",
        "summarize",
        "order",
        "sort",
        "top",
        "take",
        "limit",
        "count",
        "distinct",
        "mv-expand",
        "mvexpand",
        "join",
    }
)
# Real Kusto tabular operators this emulator does not evaluate: named in the error.
KNOWN_UNSUPPORTED_OPERATORS = frozenset(
    {
        "render",
        "evaluate",
        "union",
        "parse",
        "parse-where",
        "parse-kv",
        "make-series",
        "mv-apply",
        "as",
        "consume",
        "facet",
        "fork",
        "getschema",
        "invoke",
        "lookup",
        "partition",
        "print",
        "reduce",
        "sample",
        "sample-distinct",
        "scan",
        "search",
        "serialize",
        "find",
        "range",
        "datatable",
        "externaldata",
        "top-nested",
        "top-hitters",
        "project-keep",
        "project-reorder",
        "project-smart",
        "make-graph",
        "graph-match",
        "extend-schema",
        "materialize",
    }
)
STRING_OPERATORS = frozenset(
    {
        "contains",
        "!contains",
        "contains_cs",
        "!contains_cs",
        "startswith",
        "!startswith",
        "startswith_cs",
        "!startswith_cs",
        "endswith",
        "!endswith",
        "endswith_cs",
        "!endswith_cs",
        "has",
        "!has",
        "has_cs",
        "!has_cs",
        "hasprefix",
        "!hasprefix",
        "hasprefix_cs",
        "!hasprefix_cs",
        "hassuffix",
        "!hassuffix",
        "hassuffix_cs",
        "!hassuffix_cs",
    }
)
COMPARISONS = frozenset({"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"})
LIST_OPERATORS = frozenset({"in", "!in", "in~", "!in~", "has_any", "has_all"})
UNSUPPORTED_BINARY_WORDS = frozenset({"matches", "like", "notlike", "has_any_cs"})
_KEYWORDS_NOT_COLUMNS = frozenset({"and", "or", "by", "asc", "desc"})


@lru_cache(maxsize=512)
def parse(text: str) -> Query:
    """Parse a whole query. Cached: the tree is immutable and the emulator re-sends the same
    query text for every page of a listing."""
    return _Parser(text).parse_query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # ---- token helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def is_op(self, *values: str) -> bool:
        return self.tok.kind == "OP" and self.tok.value in values

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "NAME" and self.tok.value in words

    def accept_op(self, value: str) -> bool:
        if self.is_op(value):
            self.advance()
            return True
        return False

    def accept_word(self, word: str) -> bool:
        if self.is_word(word):
            self.advance()
            return True
        return False

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            raise self.error(f"Expected '{value}' but found '{self.tok.text}'.")
        return self.advance()

    def expect_name(self, what: str = "a name") -> Token:
        if self.tok.kind != "NAME":
            raise self.error(f"Expected {what} but found '{self.tok.text}'.")
        return self.advance()

    def error(self, detail: str, tok: Token | None = None, code: str = "ParserFailure") -> KqlError:
        tok = tok or self.tok
        return error_at(self.text, tok.pos, detail, code=code, token=tok.text)

    # ---- statements

    def parse_query(self) -> Query:
        lets: list[Let] = []
        while self.is_word("let"):
            lets.append(self.parse_let())
        if self.tok.kind == "EOF":
            raise self.error("The query is empty: expected a tabular expression.")
        body = self.parse_pipeline()
        while self.accept_op(";"):
            pass
        if self.tok.kind != "EOF":
            if self.is_op(")"):
                raise self.error("Unbalanced parentheses: unexpected ')'.")
            raise self.error(f"Unexpected '{self.tok.text}'.")
        return Query(tuple(lets), body)

    def parse_let(self) -> Let:
        start = self.advance()
        name = self.expect_name("a name after 'let'").value
        self.expect_op("=")
        value: Any
        if self._starts_tabular():
            value, tabular = self.parse_pipeline(), True
        else:
            value, tabular = self.parse_expr(), False
        self.expect_op(";")
        return Let(name, value, tabular, start.pos)

    def _starts_tabular(self) -> bool:
        """`let x = resources | ...` vs `let x = ago(1d);`: a bare name followed by '|' or ';'
        is a table reference; a parenthesised pipeline too."""
        if self.tok.kind == "NAME" and self.peek().kind == "OP" and self.peek().value == "|":
            return True
        return (
            self.is_op("(")
            and self.peek().kind == "NAME"
            and self.peek(2).kind == "OP"
            and (self.peek(2).value == "|")
        )

    def parse_pipeline(self) -> Pipeline:
        source: Any
        if self.accept_op("("):
            source = self.parse_pipeline()
            self.expect_op(")")
        elif self.tok.kind == "NAME":
            tok = self.advance()
            if self.is_op("("):
                raise self.error(
                    f"Tabular function '{tok.value}' is not supported.",
                    tok,
                    code="UnsupportedOperator",
                )
            source = TableRef(tok.value, tok.pos)
        elif self.tok.kind == "OP" and self.tok.value in KNOWN_UNSUPPORTED_OPERATORS:
            raise self.error(
                f"Operator '{self.tok.value}' is not supported.", code="UnsupportedOperator"
            )
        else:
            raise self.error(f"Expected a table name but found '{self.tok.text}'.")
        operators: list[Any] = []
        while self.accept_op("|"):
            operators.append(self.parse_operator())
        return Pipeline(source, tuple(operators))

    # ---- tabular operators

    def parse_operator(self) -> Any:
        tok = self.tok
        if tok.kind not in ("NAME", "OP") or (tok.kind == "OP" and "-" not in str(tok.value)):
            raise self.error(f"Expected a tabular operator after '|' but found '{tok.text}'.")
        name = str(tok.value).lower() if tok.kind == "OP" else tok.value
        if name in KNOWN_UNSUPPORTED_OPERATORS or (
            name not in SUPPORTED_OPERATORS and name.lower() in KNOWN_UNSUPPORTED_OPERATORS
        ):
            raise self.error(f"Operator '{name}' is not supported.", code="UnsupportedOperator")
        if name not in SUPPORTED_OPERATORS:
            raise self.error(f"Unknown tabular operator '{tok.text}'.")
        self.advance()
        method = getattr(self, "op_" + name.replace("-", "_"))
        return method(tok.pos)

    def op_where(self, pos: int) -> Where:
        return Where(self.parse_expr(), pos)

    op_filter = op_where

    def op_extend(self, pos: int) -> Extend:
        return Extend(self.parse_assignments(), pos)

    def op_project(self, pos: int) -> Project:
        return Project(self.parse_assignments(), pos)

    def op_project_away(self, pos: int) -> ProjectAway:
        patterns: list[tuple[str, int]] = []
        while True:
            start = self.tok
            parts: list[str] = []
            while self.tok.kind == "NAME" or self.is_op("*"):
                parts.append(self.advance().text)
                if self.tok.pos != start.pos + len("".join(parts)):
                    break
            if not parts:
                raise self.error("Expected a column name in project-away.")
            patterns.append(("".join(parts), start.pos))
            if not self.accept_op(","):
                return ProjectAway(tuple(patterns), pos)

    def op_project_rename(self, pos: int) -> ProjectRename:
        pairs: list[tuple[str, str, int]] = []
        while True:
            new = self.expect_name("a new column name")
            self.expect_op("=")
            old = self.expect_name("an existing column name")
            pairs.append((new.value, old.value, old.pos))
            if not self.accept_op(","):
                return ProjectRename(tuple(pairs), pos)

    def op_summarize(self, pos: int) -> Summarize:
        self.skip_hints()
        aggregates: tuple[Assign, ...] = ()
        if not self.is_word("by"):
            aggregates = self.parse_assignments()
        by: tuple[Assign, ...] = ()
        if self.accept_word("by"):
            by = self.parse_assignments()
        if not aggregates and not by:
            raise self.error("summarize needs aggregations or a 'by' clause.")
        return Summarize(aggregates, by, pos)

    def op_order(self, pos: int) -> Sort:
        if not self.accept_word("by"):
            raise self.error("Expected 'by' after 'order'.")
        keys = [self.parse_sort_key()]
        while self.accept_op(","):
            keys.append(self.parse_sort_key())
        return Sort(tuple(keys), pos)

    op_sort = op_order

    def op_top(self, pos: int) -> Top:
        count = self.parse_expr()
        if not self.accept_word("by"):
            raise self.error("Expected 'by' in top.")
        return Top(count, self.parse_sort_key(), pos)

    def op_take(self, pos: int) -> Take:
        return Take(self.parse_expr(), pos)

    op_limit = op_take

    def op_count(self, pos: int) -> Count:
        return Count(pos)

    def op_distinct(self, pos: int) -> Distinct:
        if self.accept_op("*"):
            return Distinct(None, pos)
        return Distinct(self.parse_assignments(), pos)

    def op_mv_expand(self, pos: int) -> MvExpand:
        options = ("bagexpansion", "with_itemindex", "kind")
        if (
            self.tok.kind == "NAME"
            and self.tok.value in options
            and self.peek().kind == "OP"
            and self.peek().value == "="
        ):
            raise self.error(
                f"mv-expand option '{self.tok.value}' is not supported.", code="UnsupportedOperator"
            )
        items = [self.parse_mv_item()]
        while self.accept_op(","):
            items.append(self.parse_mv_item())
        limit = None
        if self.accept_word("limit"):
            limit = self.parse_expr()
        return MvExpand(tuple(items), limit, pos)

    op_mvexpand = op_mv_expand

    def parse_mv_item(self) -> MvItem:
        item = self.parse_assignment()
        cast = None
        if self.accept_word("to"):
            if not self.accept_word("typeof"):
                raise self.error("Expected 'typeof' after 'to'.")
            self.expect_op("(")
            cast = self.expect_name("a type name").value
            self.expect_op(")")
        return MvItem(item.name, item.expr, cast)

    def op_join(self, pos: int) -> Join:
        kind = "innerunique"
        while True:
            self.skip_hints()
            if not (self.is_word("kind") and self.peek().kind == "OP" and self.peek().value == "="):
                break
            self.advance()
            self.advance()
            kind = self.expect_name("a join kind").value
        if kind not in ("inner", "innerunique", "leftouter"):
            raise self.error(f"Join kind '{kind}' is not supported.", code="UnsupportedOperator")
        if self.accept_op("("):
            right = self.parse_pipeline()
            self.expect_op(")")
        else:
            tok = self.expect_name("a table name")
            right = Pipeline(TableRef(tok.value, tok.pos), ())
        if not self.accept_word("on"):
            raise self.error("Expected 'on' in join.")
        on = [self.parse_join_key()]
        while self.accept_op(","):
            on.append(self.parse_join_key())
        return Join(kind, right, tuple(on), pos)

    def skip_hints(self) -> None:
        """`hint.strategy=shuffle` and friends only steer Kusto's execution: ignore them."""
        while self.is_word("hint") and self.peek().kind == "OP" and self.peek().value == ".":
            self.advance()
            self.advance()
            self.expect_name("a hint name")
            self.expect_op("=")
            if self.tok.kind not in ("NAME", "STRING", "INT"):
                raise self.error("Expected a hint value.")
            self.advance()

    def parse_join_key(self) -> tuple[str, str, int]:
        tok = self.tok
        if tok.kind == "NAME" and tok.value == "$left":
            left = self.parse_side("$left")
            self.expect_op("==")
            right = self.parse_side("$right")
            return left, right, tok.pos
        name = self.expect_name("a join column").value
        return name, name, tok.pos

    def parse_side(self, side: str) -> str:
        if not self.accept_word(side):
            raise self.error(f"Expected '{side}'.")
        self.expect_op(".")
        return self.expect_name("a column name").value

    # ---- shared pieces

    def parse_assignments(self) -> tuple[Assign, ...]:
        items = [self.parse_assignment()]
        while self.accept_op(","):
            items.append(self.parse_assignment())
        return tuple(items)

    def parse_assignment(self) -> Assign:
        if self.tok.kind == "NAME" and self.peek().kind == "OP" and self.peek().value == "=":
            name = self.advance().value
            self.advance()
            return Assign(name, self.parse_expr())
        if (
            self.is_op("[")
            and self.peek().kind == "STRING"
            and self.peek(2).kind == "OP"
            and self.peek(2).value == "]"
            and self.peek(3).kind == "OP"
            and self.peek(3).value == "="
        ):
            self.advance()
            name = self.advance().value
            self.advance()
            self.advance()
            return Assign(name, self.parse_expr())
        if self.tok.kind == "EOF" or self.is_op("|"):
            raise self.error("Expected an expression.")
        return Assign(None, self.parse_expr())

    def parse_sort_key(self) -> SortKey:
        expr = self.parse_expr()
        desc = True
        if self.accept_word("asc"):
            desc = False
        elif self.accept_word("desc"):
            desc = True
        nulls_first = not desc
        if self.accept_word("nulls"):
            if self.accept_word("first"):
                nulls_first = True
            elif self.accept_word("last"):
                nulls_first = False
            else:
                raise self.error("Expected 'first' or 'last' after 'nulls'.")
        return SortKey(expr, desc, nulls_first)

    # ---- expressions (precedence: or < and < comparison < additive < multiplicative < unary)

    def parse_expr(self) -> Any:
        if self.tok.kind == "EOF" or self.is_op("|", ")", ","):
            raise self.error(f"Expected an expression but found '{self.tok.text}'.")
        left = self.parse_and()
        while self.is_word("or"):
            tok = self.advance()
            left = Binary("or", left, self.parse_and(), tok.pos)
        return left

    def parse_and(self) -> Any:
        left = self.parse_comparison()
        while self.is_word("and"):
            tok = self.advance()
            left = Binary("and", left, self.parse_comparison(), tok.pos)
        return left

    def parse_comparison(self) -> Any:
        left = self.parse_additive()
        tok = self.tok
        op = tok.value if tok.kind in ("OP", "NAME") else None
        if tok.kind == "OP" and op in COMPARISONS:
            self.advance()
            return Binary("!=" if op == "<>" else op, left, self.parse_additive(), tok.pos)
        if op in STRING_OPERATORS:
            self.advance()
            return Binary(op, left, self.parse_additive(), tok.pos)
        if op in LIST_OPERATORS:
            self.advance()
            return InList(op, left, self.parse_list(), tok.pos)
        if op in ("between", "!between"):
            self.advance()
            self.expect_op("(")
            low = self.parse_additive()
            self.expect_op("..")
            high = self.parse_additive()
            self.expect_op(")")
            return Between(op == "!between", left, low, high, tok.pos)
        if tok.kind == "NAME" and op in UNSUPPORTED_BINARY_WORDS:
            raise self.error(f"Operator '{op}' is not supported.", code="UnsupportedOperator")
        return left

    def parse_list(self) -> tuple[Any, ...]:
        self.expect_op("(")
        if self.accept_op(")"):
            raise self.error("Expected at least one value in the list.")
        items = [self.parse_expr()]
        while self.accept_op(","):
            items.append(self.parse_expr())
        self.expect_op(")")
        return tuple(items)

    def parse_additive(self) -> Any:
        left = self.parse_multiplicative()
        while self.is_op("+", "-"):
            tok = self.advance()
            left = Binary(tok.value, left, self.parse_multiplicative(), tok.pos)
        return left

    def parse_multiplicative(self) -> Any:
        left = self.parse_unary()
        while self.is_op("*", "/", "%"):
            tok = self.advance()
            left = Binary(tok.value, left, self.parse_unary(), tok.pos)
        return left

    def parse_unary(self) -> Any:
        if self.is_op("-", "+"):
            tok = self.advance()
            operand = self.parse_unary()
            if (
                tok.value == "-"
                and isinstance(operand, Lit)
                and isinstance(operand.value, int | float | timedelta)
                and not isinstance(operand.value, bool)
            ):
                return Lit(-operand.value, tok.pos)
            return Unary(tok.value, operand, tok.pos)
        return self.parse_postfix()

    def parse_postfix(self) -> Any:
        node = self.parse_primary()
        while True:
            if self.is_op("."):
                dot = self.advance()
                if self.tok.kind != "NAME":
                    raise self.error(
                        f"Expected a property name after '.' but found '{self.tok.text}'."
                    )
                node = Member(node, self.advance().value, dot.pos)
            elif self.is_op("["):
                bracket = self.advance()
                index = self.parse_expr()
                self.expect_op("]")
                if isinstance(index, Lit) and isinstance(index.value, str):
                    node = Member(node, index.value, bracket.pos)
                else:
                    node = Index(node, index, bracket.pos)
            else:
                return node

    def parse_primary(self) -> Any:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return Lit(tok.value, tok.pos)
        if tok.kind in ("INT", "REAL"):
            self.advance()
            return Lit(tok.value, tok.pos)
        if tok.kind == "TIMESPAN":
            self.advance()
            return Lit(timedelta(seconds=tok.value), tok.pos)
        if tok.kind == "OP" and tok.value == "(":
            self.advance()
            inner = self.parse_expr()
            if not self.is_op(")"):
                raise self.error("Unbalanced parentheses: expected ')'.")
            self.advance()
            return inner
        if tok.kind == "OP" and tok.value == "[" and self.peek().kind == "STRING":
            self.advance()
            name = self.advance()
            self.expect_op("]")
            return Col(name.value, name.pos)
        if tok.kind == "NAME":
            return self.parse_name()
        if tok.kind == "EOF":
            raise self.error("Unexpected end of query: expected an expression.")
        raise self.error(f"Unexpected '{tok.text}': expected an expression.")

    def parse_name(self) -> Any:
        tok = self.advance()
        word = tok.value
        if word in ("true", "false") and not self.is_op("("):
            return Lit(word == "true", tok.pos)
        if word in _KEYWORDS_NOT_COLUMNS:
            raise self.error(f"Unexpected keyword '{word}': expected an expression.", tok)
        if not self.is_op("("):
            return Col(word, tok.pos)
        self.advance()
        if self.tok.kind == "RAW":
            raw = self.advance()
            self.expect_op(")")
            return Lit(self.raw_literal(word, raw), tok.pos)
        if word == "dynamic":
            value = self.parse_dynamic_value()
            self.expect_op(")")
            return Lit(value, tok.pos)
        args: list[Any] = []
        if not self.is_op(")"):
            args.append(self.parse_arg())
            while self.accept_op(","):
                args.append(self.parse_arg())
        if not self.is_op(")"):
            raise self.error(f"Unbalanced parentheses: expected ')' to close '{word}('.")
        self.advance()
        return Call(word, tuple(args), tok.pos)

    def parse_arg(self) -> Any:
        if self.is_op("*"):
            return Star(self.advance().pos)
        return self.parse_expr()

    def raw_literal(self, func: str, raw: Token) -> Any:
        text = raw.value
        if text == "null":
            return None
        if func in ("datetime", "date"):
            parsed = parse_datetime(text)
            if parsed is None:
                raise self.error(f"Invalid datetime literal '{text}'.", raw)
            return parsed
        parsed_span = parse_timespan(text)
        if parsed_span is None:
            raise self.error(f"Invalid timespan literal '{text}'.", raw)
        return parsed_span

    def parse_dynamic_value(self) -> Any:
        """JSON-like literal inside `dynamic(...)`: arrays, objects, scalars, null."""
        tok = self.tok
        if self.accept_op("["):
            items: list[Any] = []
            if not self.accept_op("]"):
                items.append(self.parse_dynamic_value())
                while self.accept_op(","):
                    items.append(self.parse_dynamic_value())
                self.expect_op("]")
            return items
        if self.accept_op("{"):
            obj: dict[str, Any] = {}
            if not self.accept_op("}"):
                while True:
                    key = self.tok
                    if key.kind not in ("STRING", "NAME"):
                        raise self.error("Expected a property name in dynamic object.")
                    self.advance()
                    self.expect_op(":")
                    obj[key.value] = self.parse_dynamic_value()
                    if not self.accept_op(","):
                        break
                self.expect_op("}")
            return obj
        if self.is_op("-") and self.peek().kind in ("INT", "REAL"):
            self.advance()
            return -self.advance().value
        if tok.kind in ("STRING", "INT", "REAL"):
            self.advance()
            return tok.value
        if tok.kind == "NAME" and tok.value in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[tok.value]
        if tok.kind == "NAME" and self.peek().kind == "OP" and self.peek().value == "(":
            value = self.parse_name()
            if isinstance(value, Lit):
                return value.value
        raise self.error(f"Invalid value '{tok.text}' in dynamic literal.")


# ---------------------------------------------------------------- literal text parsing

# The common wire form, which datetime.fromisoformat reads much faster than the regex path.
_FAST_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?")
_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


@lru_cache(maxsize=65536)
def parse_datetime(text: str) -> datetime | None:
    """ISO-8601 (date, optional time, fraction up to 100ns, Z or offset) -> aware UTC datetime.

    Strings without an offset are UTC, as in Kusto. Fractions beyond microseconds are
    truncated (Python has no 100ns ticks). Cached: change rows repeat timestamps and a
    `where` compares the same strings on every query."""
    if _FAST_ISO.fullmatch(text):
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    m = _ISO.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hh or 0),
            int(mm or 0),
            int(ss or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if tz and tz.upper() != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


_SPAN_CLOCK = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?")
_SPAN_UNIT = re.compile(r"(-)?(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


def parse_timespan(text: str) -> timedelta | None:
    """`15m`, `1.5h`, `2d`, `100ms` or `[-][d.]hh:mm[:ss[.fffffff]]` -> timedelta."""
    text = text.strip()
    m = _SPAN_UNIT.fullmatch(text)
    if m:
        unit = TIMESPAN_UNITS.get(m.group(3).lower())
        if unit is None:
            return None
        seconds = float(m.group(2)) * unit
        return timedelta(seconds=-seconds if m.group(1) else seconds)
    m = _SPAN_CLOCK.fullmatch(text)
    if m:
        neg, days, hours, minutes, seconds, frac = m.groups()
        value = timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0),
            microseconds=int((frac or "0")[:6].ljust(6, "0")),
        )
        return -value if neg else value
    if re.fullmatch(r"-?\d+", text):
        return timedelta(days=int(text))
    return None


def dynamic_from_json(text: str) -> Any:
    """`parse_json`/`todynamic` of a string: JSON if it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text
