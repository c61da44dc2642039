"""One mapping entry's jq, compiled once at load time.

Every string leaf of `port.entity.mappings` is a jq expression (as in Ocean, including the
leaves of search-query relations). Besides one program per leaf (the per-field path Ocean uses,
kept as the reference and as the fallback), each entry gets ONE combined program that evaluates
the selector and every leaf for every item of a JSON array, so a batch of thousands of items
crosses the Python/jq boundary once instead of once per field per item.

Each leaf is wrapped as `try [first(EXPR)] catch {"__apm_err": .}`: `[v]` is a value, `[]` an
empty output, and an object an error of that field alone, so one failing field never aborts the
item or the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jq

from .errors import MappingConfigError
from .projection import entry_keys
from .schema import ResourceSpec, SearchQuerySpec

ERROR_KEY = "__apm_err"
#: The prefix of the bulk program's own names (`__apm_f`, `$__apm_s`, the error key).
_INTERNAL = "__apm_"
MAPPINGS_PREFIX = "port.entity.mappings"

# Ocean prepends the same guard: a mapping must not read the process environment (secrets).
_ENV_GUARD = "def env: {}; {} as $ENV | "
_BULK_HEADER = (
    "def env: {}; "
    f'def __apm_f(f): try [first(f)] catch {{"{ERROR_KEY}": .}}; '
    "{} as $ENV | .[] | "
)


@dataclass(frozen=True, slots=True)
class Leaf:
    """One jq expression of the entity mappings and where its value goes."""

    path: tuple[str | int, ...]  # inside `mappings`, e.g. ("properties", "location")
    field: str  # e.g. "port.entity.mappings.properties.location"
    expr: str
    program: Any  # jq program with the env guard (a LazyProgram when the bulk one compiled)


class LazyProgram:
    """A jq program compiled on its first use.

    Compiling costs about 2 ms of fixed overhead a program (jq parses its builtins each time),
    and a mapping has a program per leaf: 0.7 s of CPU per load of the default mapping, paid by
    every process that loads the code location. A leaf's own program serves only the per-field
    path (a batch the bulk program could not map), so when the bulk program, which holds every
    leaf, compiled, the leaves are known to compile and wait until needed.
    """

    __slots__ = ("_program", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._program: Any = None

    def input_value(self, value: Any) -> Any:
        return self._compiled().input_value(value)

    def input_text(self, text: str) -> Any:
        return self._compiled().input_text(text)

    def compile(self) -> None:
        """Now rather than at first use (ValueError if it does not compile)."""
        self._compiled()

    def _compiled(self) -> Any:
        if self._program is None:
            self._program = jq.compile(self._text)
        return self._program


def self_contained(expr: str) -> bool:
    """Whether `expr`, pasted between the bulk program's parentheses, stays inside them.

    Only then does the bulk program compiling prove that the leaf compiles alone. Refused
    (checked alone instead): a bracket that closes what it did not open, an unclosed string or
    bracket, a comment (it runs to the end of the line, and on past a trailing backslash), and
    the bulk program's own names (in scope there, not alone). Strings are skipped, with their
    `\\(...)` interpolations read as code.
    """
    if "#" in expr or _INTERNAL in expr:
        return False
    closers = {"(": ")", "[": "]", "{": "}"}
    expected: list[str] = []  # what closes each open bracket; '"' for an open string
    index = 0
    while index < len(expr):
        char = expr[index]
        if expected and expected[-1] == '"':
            if char == "\\":
                if expr[index + 1 : index + 2] == "(":
                    expected.append(")")  # an interpolation: code until its ")"
                index += 2
                continue
            if char == '"':
                expected.pop()
        elif char == '"':
            expected.append('"')
        elif char in closers:
            expected.append(closers[char])
        elif char in ")]}":
            if not expected or expected[-1] != char:
                return False
            expected.pop()
        index += 1
    return not expected


@dataclass(frozen=True, slots=True)
class Slot:
    """A placeholder in a mapping template, filled with the value of leaf `index`."""

    index: int


class CompiledMapping:
    """The compiled jq of one mapping entry (selector, itemsToParse, leaves, bulk program)."""

    def __init__(self, spec: ResourceSpec, *, source: str, index: int) -> None:
        self._source, self._index, self._kind = source, index, spec.kind
        self.selector = self._compile(spec.selector.query, "selector.query")
        self.items_to_parse = None
        self.delete_items = None
        port = spec.port
        if port.items_to_parse is not None:
            self.items_to_parse = self._compile(port.items_to_parse, "port.itemsToParse")
            # Ocean drops the parsed array from the copy of the item (itemsToParseTopLevelTransform)
            self.delete_items = jq.compile(f"{_ENV_GUARD}del(({port.items_to_parse}\n))")
        self.items_to_parse_name = port.items_to_parse_name
        self.leaves: list[Leaf] = []
        mappings = port.entity.mappings
        self.identifier = self._slot(("identifier",), mappings.identifier)
        self.title = self._optional_slot(("title",), mappings.title)
        self.blueprint = self._slot(("blueprint",), mappings.blueprint)
        self.icon = self._optional_slot(("icon",), mappings.icon)
        self.team = None if mappings.team is None else self._template(("team",), mappings.team)
        self.properties = {
            name: self._slot(("properties", name), expr)
            for name, expr in mappings.properties.items()
        }
        self.relations = {
            name: self._template(("relations", name), value)
            for name, value in mappings.relations.items()
        }
        self.selector_expr = spec.selector.query
        self.bulk = self._compile_bulk()
        if self.bulk is None or not all(self_contained(leaf.expr) for leaf in self.leaves):
            self._check_leaves()
        # the top-level keys the bulk program needs, when certain (see projection.py)
        self.projection = entry_keys([self.selector_expr, *(leaf.expr for leaf in self.leaves)])

    # -- compilation ---------------------------------------------------------------------
    def _compile(self, expr: str, field: str) -> Any:
        """Compile alone first, so jq's message points into the user's text, not our wrapper."""
        try:
            jq.compile(expr)
        except ValueError as exc:
            raise self._error(field, f"jq error: {str(exc).strip()}") from None
        return jq.compile(f"{_ENV_GUARD}({expr}\n)")

    def _check_leaves(self) -> None:
        """Each leaf alone, in order, so the first bad one is named as it is written, then as
        it runs (with the env guard); where the bulk program cannot vouch for the leaves."""
        for leaf in self.leaves:
            try:
                jq.compile(leaf.expr)
                leaf.program.compile()
            except ValueError as exc:
                raise self._error(leaf.field, f"jq error: {str(exc).strip()}") from None

    def _error(self, field: str, detail: str) -> MappingConfigError:
        return MappingConfigError(
            detail, source=self._source, index=self._index, kind=self._kind, field=field
        )

    def _slot(self, path: tuple[str | int, ...], expr: str) -> Slot:
        field = ".".join([MAPPINGS_PREFIX, *(str(p) for p in path)])
        program = LazyProgram(f"{_ENV_GUARD}({expr}\n)")  # checked in __init__
        leaf = Leaf(path=path, field=field, expr=expr, program=program)
        self.leaves.append(leaf)
        return Slot(len(self.leaves) - 1)

    def _optional_slot(self, path: tuple[str | int, ...], expr: str | None) -> Slot | None:
        return None if expr is None else self._slot(path, expr)

    def _template(self, path: tuple[str | int, ...], value: Any) -> Any:
        """A jq string becomes a Slot; a search query becomes a dict of Slots (every leaf jq)."""
        if isinstance(value, str):
            return self._slot(path, value)
        if isinstance(value, SearchQuerySpec):
            return {
                "combinator": self._slot((*path, "combinator"), value.combinator),
                "rules": [
                    self._template((*path, "rules", i), rule) for i, rule in enumerate(value.rules)
                ],
            }
        return {  # SearchRuleSpec
            name: self._slot((*path, name), getattr(value, name))
            for name in ("property", "operator", "value")
        }

    def _compile_bulk(self) -> Any | None:
        """`.[] | [selector, leaf...]` for a JSON array; leaves only when the selector is true."""
        wrapped = ", ".join(f"__apm_f(({leaf.expr}\n))" for leaf in self.leaves)
        program = (
            f"{_BULK_HEADER}__apm_f(({self.selector_expr}\n)) as $__apm_s"
            f" | if $__apm_s == [true] then [$__apm_s, {wrapped}] else [$__apm_s] end"
        )
        try:
            return jq.compile(program)
        except ValueError:  # e.g. an `include` only valid at the top of a program: go per field
            return None


def run_one(program: Any, value: Any) -> list[Any] | dict[str, Any]:
    """Ocean's per-field evaluation (`.input_value(item).first()`), as an outcome."""
    try:
        try:
            return [program.input_value(value).first()]
        except TypeError:  # a datetime or enum left in the item: give jq its text
            return [program.input_text(to_json(value)).first()]
    except StopIteration:
        return []
    except Exception as exc:
        return {ERROR_KEY: str(exc)}


def to_json(value: Any) -> str:
    """JSON text for jq; values JSON cannot encode (datetime, enum) become their text."""
    return json.dumps(value, default=_as_text)


def _as_text(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(getattr(value, "value", value))


def error_text(outcome: dict[str, Any]) -> str:
    """jq's catch gives the raw error value; the binding gives str / JSON text. Same text here."""
    value = outcome[ERROR_KEY]
    return value if isinstance(value, str) else json.dumps(value)


def fill(template: Any, values: list[Any]) -> Any:
    """Replace the Slots of a template by the leaf values."""
    if isinstance(template, Slot):
        return values[template.index]
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    return [fill(item, values) for item in template]
