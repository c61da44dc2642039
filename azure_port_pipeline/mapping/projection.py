"""Which top-level keys of an item a jq expression can read, when that is certain.

jq spends most of a bulk run parsing its input; a 2 KB ARM object is parsed in full even when
the mapping reads only `.id`, `.name` and `.tags`. When every expression of an entry reads the
item only through `.key...` paths, the engine sends jq just those keys, which cannot change any
result. The analysis is deliberately narrow: it only vouches for an expression whose first
pipeline stage (everything before the first top-level `|`) is made of `.key` paths, literals,
arithmetic / comparison / `//` / `and` / `or` operators, commas and parentheses without pipes.
What comes after that `|` sees only the stage's output, so it may be anything. Any other token
in the first stage (a bare `.`, `..`, `.[...]`, a function call, a variable, `as`, an update
operator such as `|=`, a string interpolation) makes the answer None: send the whole item.
"""

from __future__ import annotations

import json
import re

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*|\."(?:[^"\\]|\\.)*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_$@][A-Za-z0-9_:]*)
  | (?P<op>\|=|\+=|-=|\*=|/=|%=|//=|==|!=|<=|>=|//|\.\.|\?//|[|,+\-*/%<>=?()\[\]{}.;:])
    """,
    re.VERBOSE,
)
_SAFE_WORDS = frozenset({"true", "false", "null", "and", "or"})
_SAFE_OPS = frozenset({"==", "!=", "<=", ">=", "//", "+", "-", "*", "/", "%", "<", ">", "?", ","})


def root_keys(expr: str) -> frozenset[str] | None:
    """The top-level keys `expr` may read from its input, or None if that is not certain."""
    keys: set[str] = set()
    depth = 0
    previous = ""
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            return None
        position = match.end()
        kind, text = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "op" and text == "|" and depth == 0:
            return frozenset(keys)  # the rest only sees this stage's output
        if kind == "field":
            if previous not in ("field", ")", "?"):  # a chained `.b` reads the previous value
                keys.add(_field_name(text))
        elif kind == "string":
            if "\\(" in text:  # interpolation may read the input
                return None
        elif kind == "word":
            if text not in _SAFE_WORDS:
                return None
        elif kind == "op":
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
                if depth < 0:
                    return None
            elif text not in _SAFE_OPS:
                return None
        previous = "field" if kind == "field" else text
    return frozenset(keys)


def entry_keys(expressions: list[str]) -> frozenset[str] | None:
    """Union of `root_keys` over all expressions; None if any of them is uncertain."""
    keys: set[str] = set()
    for expr in expressions:
        found = root_keys(expr)
        if found is None:
            return None
        keys |= found
    return frozenset(keys)


def _field_name(token: str) -> str:
    return json.loads(token[1:]) if token.startswith('."') else token[1:]
