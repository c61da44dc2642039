"""Tokens of the KQL subset the Resource Graph emulator understands.

The lexer is deliberately strict: anything it does not recognise is a `KqlError` with the
line and column, the way the service answers a `ParserFailure`, so the emulator can never
silently accept a query the real service would reject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

INVALID_QUERY = (
    "Query is invalid. Please refer to the documentation for the Azure Resource Graph service "
    "and fix the error before retrying."
)


class KqlError(ValueError):
    """A query the emulated service rejects with 400 BadRequest / InvalidQuery.

    `details` mirrors the service's `error.details` entries so the emulator can put them in
    the response body: the first is always `InvalidQuery`, the second says what is wrong.
    """

    def __init__(
        self,
        detail: str,
        *,
        code: str = "ParserFailure",
        line: int | None = None,
        column: int | None = None,
        token: str | None = None,
    ) -> None:
        self.detail = detail
        self.code = code
        self.line = line
        self.column = column
        self.token = token
        where = f" (line {line}, position {column})" if line is not None else ""
        self.message = f"{INVALID_QUERY} {detail}{where}"
        super().__init__(self.message)

    @property
    def details(self) -> list[dict[str, Any]]:
        second: dict[str, Any] = {"code": self.code, "message": self.detail}
        if self.line is not None:
            second["line"] = self.line
            second["characterPositionInLine"] = self.column
        if self.token is not None:
            second["token"] = self.token
        return [{"code": "InvalidQuery", "message": INVALID_QUERY}, second]


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme. `kind` is NAME, STRING, INT, REAL, TIMESPAN, RAW (the literal text inside
    `datetime(...)`/`timespan(...)`), OP (punctuation and operator words such as `!contains`
    or `in~`), or EOF. `pos` is the character offset for error messages."""

    kind: str
    value: Any
    pos: int
    text: str


# Kusto operator names that contain '-' (identifiers themselves never do).
HYPHENATED_WORDS = frozenset(
    {
        "project-away",
        "project-keep",
        "project-rename",
        "project-reorder",
        "mv-expand",
        "mv-apply",
        "make-series",
        "top-nested",
        "top-hitters",
        "parse-where",
        "parse-kv",
        "project-smart",
        "make-graph",
        "graph-match",
    }
)
# String comparison operators (each also has a `!` negated form).
STRING_OPERATORS = frozenset(
    {
        "contains",
        "contains_cs",
        "startswith",
        "startswith_cs",
        "endswith",
        "endswith_cs",
        "has",
        "has_cs",
        "hasprefix",
        "hasprefix_cs",
        "hassuffix",
        "hassuffix_cs",
    }
)
# Words that may follow '!' to form a negated operator.
NEGATABLE_WORDS = STRING_OPERATORS | {"in", "between", "has_any", "has_all"}
# Literal-taking functions whose argument is raw text (`datetime(2026-01-01T00:00:00Z)`).
RAW_LITERAL_FUNCS = frozenset({"datetime", "timespan", "time", "date"})

TIMESPAN_UNITS: dict[str, float] = {
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "milli": 1e-3,
    "millis": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "microsecond": 1e-6,
    "microseconds": 1e-6,
    "tick": 1e-7,
    "ticks": 1e-7,
}

_PUNCT = (
    "==",
    "!=",
    "<>",
    "<=",
    ">=",
    "=~",
    "!~",
    "..",
    "|",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    ";",
    ":",
)
_NUMBER = re.compile(r"(\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)([A-Za-z_]\w*)?")
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_WORD_HYPHEN = re.compile(r"[A-Za-z]+-[A-Za-z]+")


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of `pos`, for messages that point into multi-line queries."""
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def error_at(
    text: str, pos: int, detail: str, *, code: str = "ParserFailure", token: str | None = None
) -> KqlError:
    line, col = line_col(text, pos)
    return KqlError(detail, code=code, line=line, column=col, token=token)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        start = i
        if c in "'\"" or (c in "@hH" and i + 1 < n and text[i + 1] in "'\""):
            value, i = _read_string(text, i)
            tokens.append(Token("STRING", value, start, text[start:i]))
            continue
        if c.isdigit():
            i = _read_number(text, i, tokens)
            continue
        if c == "!" and (m := _NAME.match(text, i + 1)) and m.group(0) in NEGATABLE_WORDS:
            word = "!" + m.group(0)
            i = m.end()
            if word == "!in" and text.startswith("~", i):
                word, i = "!in~", i + 1
            tokens.append(Token("OP", word, start, word))
            continue
        if c.isalpha() or c in "_$":
            i = _read_word(text, i, tokens)
            continue
        for p in _PUNCT:
            if text.startswith(p, i):
                tokens.append(Token("OP", p, start, p))
                i += len(p)
                break
        else:
            raise error_at(text, i, f"Unexpected character '{c}'.", token=c)
    tokens.append(Token("EOF", None, n, "<end of query>"))
    return tokens


def _read_word(text: str, i: int, tokens: list[Token]) -> int:
    start = i
    hyph = _WORD_HYPHEN.match(text, i)
    if hyph and hyph.group(0).lower() in HYPHENATED_WORDS:
        word = hyph.group(0).lower()
        tokens.append(Token("OP", word, start, word))
        return hyph.end()
    m = _NAME.match(text, i)
    assert m is not None
    word, i = m.group(0), m.end()
    if word == "in" and text.startswith("~", i):
        tokens.append(Token("OP", "in~", start, "in~"))
        return i + 1
    tokens.append(Token("NAME", word, start, word))
    if word in RAW_LITERAL_FUNCS:
        j = i
        while j < len(text) and text[j].isspace():
            j += 1
        if j < len(text) and text[j] == "(":
            k = j + 1
            while k < len(text) and text[k].isspace():
                k += 1
            if k < len(text) and text[k] not in "'\"@)":
                close = text.find(")", k)
                if close < 0:
                    raise error_at(text, j, "Unbalanced parentheses: missing ')'.", token="(")
                tokens.append(Token("OP", "(", j, "("))
                raw = text[k:close].strip()
                tokens.append(Token("RAW", raw, k, raw))
                tokens.append(Token("OP", ")", close, ")"))
                return close + 1
    return i


def _read_number(text: str, i: int, tokens: list[Token]) -> int:
    m = _NUMBER.match(text, i)
    assert m is not None
    number, suffix = m.group(1), m.group(2)
    raw = m.group(0)
    if suffix is not None:
        unit = TIMESPAN_UNITS.get(suffix.lower())
        if unit is None:
            raise error_at(text, i, f"Invalid literal '{raw}'.", token=raw)
        tokens.append(Token("TIMESPAN", float(number) * unit, i, raw))
    elif any(ch in number for ch in ".eE"):
        tokens.append(Token("REAL", float(number), i, raw))
    else:
        tokens.append(Token("INT", int(number), i, raw))
    return m.end()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _read_string(text: str, i: int) -> tuple[str, int]:
    """Read a '..', "..", @'..' (verbatim: quote doubled to escape) or h'..' literal."""
    start = i
    verbatim = text[i] == "@"
    if text[i] in "@hH":
        i += 1
    quote = text[i]
    i += 1
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == quote:
            if verbatim and i + 1 < n and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        if c == "\n":
            break
        if c == "\\" and not verbatim:
            if i + 1 >= n:
                break
            esc = text[i + 1]
            if esc == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if esc not in _ESCAPES:
                raise error_at(text, i, f"Invalid escape sequence '\\{esc}' in string literal.")
            out.append(_ESCAPES[esc])
            i += 2
            continue
        out.append(c)
        i += 1
    raise error_at(text, start, "Unterminated string literal.", token=text[start : start + 20])
