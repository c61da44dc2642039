"""Port's search rules: compile a query once, then test entities against it.

A compiled query also tells which index can answer it: a top-level `and` (or a single rule)
holding `$blueprint = X` or `$datasource = X` narrows the candidates before any rule runs,
which keeps an ownership search (`$datasource` = our User-Agent) cheap at 100k entities.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure_port_pipeline.emulators.port.errors import PortApiError, invalid_request
from azure_port_pipeline.emulators.port.store import PortStore, StoredEntity

Predicate = Callable[[StoredEntity], bool]

STRING_OPERATORS = {
    "=",
    "!=",
    "contains",
    "doesNotContains",
    "beginsWith",
    "doesNotBeginsWith",
    "endsWith",
    "doesNotEndsWith",
    "in",
    "notIn",
    "containsAny",
}
NUMBER_OPERATORS = {">", ">=", "<", "<="}
EMPTY_OPERATORS = {"isEmpty", "isNotEmpty"}
DATE_OPERATORS = {"between", "notBetween"}
SEARCH_LIMIT_DEFAULT = 200
SEARCH_LIMIT_MAX = 1000


@dataclass(slots=True)
class CompiledQuery:
    predicate: Predicate
    blueprint: str | None = None
    datasource: str | None = None


def compile_query(query: Any, store: PortStore, where: str = "body") -> CompiledQuery:
    """Validate and compile `{combinator, rules}`; raises 422 invalid_request.

    Compile and run under `store.lock`: `relatedTo` rules read the relation graph."""
    if query is None:
        return CompiledQuery(predicate=lambda _e: True)
    predicate = _compile_group(query, store, where)
    blueprint = datasource = None
    rules = query.get("rules", [])
    if query.get("combinator") == "and" or len(rules) == 1:
        for rule in rules:
            if isinstance(rule, dict) and rule.get("operator") == "=":
                if rule.get("property") == "$blueprint" and isinstance(rule.get("value"), str):
                    blueprint = rule["value"]
                if rule.get("property") == "$datasource" and isinstance(rule.get("value"), str):
                    datasource = rule["value"]
    return CompiledQuery(predicate=predicate, blueprint=blueprint, datasource=datasource)


def _compile_group(group: Any, store: PortStore, where: str) -> Predicate:
    if not isinstance(group, dict):
        raise invalid_request(f"{where} must be object")
    combinator = group.get("combinator")
    if combinator not in ("and", "or"):
        raise invalid_request(f"{where}/combinator must be equal to one of the allowed values")
    rules = group.get("rules")
    if not isinstance(rules, list):
        raise invalid_request(f"{where} must have required property 'rules'")
    compiled = [_compile_rule(rule, store, f"{where}/rules/{i}") for i, rule in enumerate(rules)]
    if combinator == "and":
        return lambda e: all(p(e) for p in compiled)
    return lambda e: any(p(e) for p in compiled)


def _compile_rule(rule: Any, store: PortStore, where: str) -> Predicate:
    if isinstance(rule, dict) and "combinator" in rule:
        return _compile_group(rule, store, where)
    if not isinstance(rule, dict) or "operator" not in rule:
        raise invalid_request(f"{where} must have required property 'operator'")
    operator = rule["operator"]
    if operator == "relatedTo":
        return _related_to(rule, store, where)
    prop = rule.get("property")
    if not isinstance(prop, str):
        raise invalid_request(f"{where}/property must be string")
    getter = _getter(prop)
    if operator in EMPTY_OPERATORS:
        empty = operator == "isEmpty"
        return lambda e: _is_empty(getter(e)) == empty
    if "value" not in rule:
        raise invalid_request(f"{where} must have required property 'value'")
    value = rule["value"]
    if operator in STRING_OPERATORS:
        return _string_rule(operator, getter, value, where)
    if operator in NUMBER_OPERATORS:
        return _number_rule(operator, getter, value, where)
    if operator in DATE_OPERATORS:
        return _between_rule(operator, getter, value, where)
    raise invalid_request(f"{where}/operator must be equal to one of the allowed values")


def _getter(prop: str) -> Callable[[StoredEntity], Any]:
    if prop.startswith("$"):
        return lambda e: e.meta(prop)

    def get(entity: StoredEntity) -> Any:
        if prop in entity.properties:
            return entity.properties[prop]
        return entity.relations.get(prop)

    return get


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _string_rule(
    operator: str, getter: Callable[[StoredEntity], Any], value: Any, where: str
) -> Predicate:
    if operator in ("in", "notIn", "containsAny"):
        if not isinstance(value, list):
            raise invalid_request(f"{where}/value must be array")
        wanted = list(value)
        hit: Callable[[Any], bool] = lambda v: any(x in wanted for x in _as_list(v))  # noqa: E731
        if operator == "notIn":
            return lambda e: not hit(getter(e))
        return lambda e: hit(getter(e))
    if operator in ("=", "!="):

        def equals(field: Any) -> bool:
            if isinstance(field, list) and not isinstance(value, list):
                return value in field
            return bool(field == value)

        if operator == "=":
            return lambda e: equals(getter(e))
        return lambda e: not equals(getter(e))
    if not isinstance(value, str):
        raise invalid_request(f"{where}/value must be string")
    tests: dict[str, Callable[[str], bool]] = {
        "contains": lambda s: value in s,
        "beginsWith": lambda s: s.startswith(value),
        "endsWith": lambda s: s.endswith(value),
    }
    positive = operator in tests
    test = tests[operator if positive else _POSITIVE[operator]]

    def matches(field: Any) -> bool:
        items = field if isinstance(field, list) else [field]
        return any(isinstance(item, str) and test(item) for item in items)

    if positive:
        return lambda e: matches(getter(e))
    return lambda e: not matches(getter(e))


_POSITIVE = {
    "doesNotContains": "contains",
    "doesNotBeginsWith": "beginsWith",
    "doesNotEndsWith": "endsWith",
}


def _comparable(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _number_rule(
    operator: str, getter: Callable[[StoredEntity], Any], value: Any, where: str
) -> Predicate:
    bound = _comparable(value)
    if bound is None:
        raise invalid_request(f"{where}/value must be number or date-time")
    compare: Callable[[float], bool] = {
        ">": lambda x: x > bound,
        ">=": lambda x: x >= bound,
        "<": lambda x: x < bound,
        "<=": lambda x: x <= bound,
    }[operator]

    def matches(entity: StoredEntity) -> bool:
        field = _comparable(getter(entity))
        return field is not None and compare(field)

    return matches


def _between_rule(
    operator: str, getter: Callable[[StoredEntity], Any], value: Any, where: str
) -> Predicate:
    if not isinstance(value, dict) or "from" not in value or "to" not in value:
        raise invalid_request(f"{where}/value: only {{from, to}} date ranges are supported")
    low, high = _comparable(value["from"]), _comparable(value["to"])
    if low is None or high is None:
        raise invalid_request(f"{where}/value must hold date-time strings")

    def inside(entity: StoredEntity) -> bool:
        field = _comparable(getter(entity))
        return field is not None and low <= field <= high

    if operator == "between":
        return inside
    return lambda e: not inside(e)


def _related_to(rule: dict[str, Any], store: PortStore, where: str) -> Predicate:
    """`relatedTo`: entities reachable from the given ones through relations, any number of
    hops. `downstream`: entities whose relations lead to the given entity (its dependents);
    `upstream`: entities the given entity's relations lead to; no direction: either."""
    blueprint = rule.get("blueprint")
    if not isinstance(blueprint, str):
        raise invalid_request(f"{where} must have required property 'blueprint'")
    values = rule.get("value")
    ids = values if isinstance(values, list) else [values]
    if not all(isinstance(v, str) for v in ids):
        raise invalid_request(f"{where}/value must be string or array of strings")
    direction = rule.get("direction")
    if direction not in (None, "upstream", "downstream"):
        raise invalid_request(f"{where}/direction must be upstream or downstream")
    reach: list[set[tuple[str, str]]] = []

    def matches(entity: StoredEntity) -> bool:
        if not reach:
            reach.append(_reachable(store, [(blueprint, i) for i in ids], direction))
        return (entity.blueprint, entity.identifier) in reach[0]

    return matches


def _reachable(
    store: PortStore, starts: Iterable[tuple[str, str]], direction: str | None
) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for want in ["downstream", "upstream"] if direction is None else [direction]:
        seen: set[tuple[str, str]] = set()
        queue = deque(starts)
        while queue:
            key = queue.popleft()
            for nxt in _neighbours(store, key, want):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        found |= seen
    return found - set(starts)


def _neighbours(store: PortStore, key: tuple[str, str], direction: str) -> list[tuple[str, str]]:
    if direction == "downstream":
        return [(bp, ident) for bp, ident, _ in store.incoming(key)]
    entity = store.find(*key)
    if entity is None:
        return []
    out = []
    for name, value in entity.relations.items():
        target = store.relation_target(entity.blueprint, name)
        if target is None or not value:
            continue
        out.extend((target, v) for v in _as_list(value))
    return out


# ------------------------------------------------------------------------ running searches
def run_search(
    store: PortStore,
    query: CompiledQuery,
    *,
    blueprint: str | None = None,
    after: int = 0,
    limit: int | None = None,
) -> tuple[list[StoredEntity], int | None]:
    """Entities matching `query` in seq order after cursor `after`.

    Returns (page, last_seq) where last_seq is set only when more matches exist beyond the
    page (so the caller emits `next`). Caller holds `store.lock`.
    """
    page: list[StoredEntity] = []
    for bp in _blueprints_to_scan(store, query, blueprint):
        for entity in _candidates(store, bp, query.datasource, after):
            if not query.predicate(entity):
                continue
            if limit is not None and len(page) == limit:
                return page, page[-1].seq
            page.append(entity)
    return page, None


def _blueprints_to_scan(store: PortStore, query: CompiledQuery, blueprint: str | None) -> list[str]:
    if blueprint is not None:
        if query.blueprint is not None and query.blueprint != blueprint:
            return []
        return [blueprint]
    if query.blueprint is not None:
        return [query.blueprint] if store.has_blueprint(query.blueprint) else []
    return store.blueprint_ids()


def _candidates(
    store: PortStore, blueprint: str, datasource: str | None, after: int
) -> Iterable[StoredEntity]:
    if datasource is not None:
        index = store.ds_index(blueprint, datasource)
        return () if index is None else index.iter_after(after, store.live)
    return store.bp_index(blueprint).iter_after(after, store.live)


def encode_cursor(seq: int) -> str:
    raw = json.dumps({"after": seq}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: Any) -> int:
    if not isinstance(cursor, str):
        raise invalid_request("body/from must be string")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
        if not isinstance(after, int) or after < 0:
            raise ValueError(cursor)
        return after
    except (ValueError, KeyError, TypeError) as exc:
        raise PortApiError(400, "bad_request", "Invalid pagination cursor") from exc


def parse_limit(value: Any) -> int:
    if value is None:
        return SEARCH_LIMIT_DEFAULT
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise invalid_request("body/limit must be integer")
    if not 1 <= value <= SEARCH_LIMIT_MAX:
        raise invalid_request(f"body/limit must be >= 1 and <= {SEARCH_LIMIT_MAX}")
    return int(value)


META_FIELDS = {
    "$identifier": "identifier",
    "$title": "title",
    "$icon": "icon",
    "$team": "team",
    "$blueprint": "blueprint",
    "$createdAt": "createdAt",
    "$updatedAt": "updatedAt",
    "$createdBy": "createdBy",
    "$updatedBy": "updatedBy",
    "$datasource": "datasource",
}


def project(
    entity: StoredEntity, include: list[str] | None, exclude: list[str] | None
) -> dict[str, Any]:
    """Port's `include`/`exclude`: `$meta` names, property or relation ids, or dotted paths
    (`properties.x`). `$datasource` is only returned when explicitly included."""
    wants_datasource = bool(include) and "$datasource" in include  # type: ignore[operator]
    body = entity.to_api(with_datasource=wants_datasource)
    if include:
        body = _only(body, include)
    if exclude:
        for name in exclude:
            _drop(body, name)
    return body


def _resolve(body: dict[str, Any], name: str) -> tuple[str, str | None]:
    if name in META_FIELDS:
        return META_FIELDS[name], None
    if "." in name:
        head, _, tail = name.partition(".")
        return head, tail
    if name in body:
        return name, None
    if name in body.get("properties", {}):
        return "properties", name
    return "relations", name


def _only(body: dict[str, Any], include: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in include:
        top, sub = _resolve(body, name)
        if top not in body:
            continue
        if sub is None:
            out[top] = body[top]
        elif isinstance(body[top], dict) and sub in body[top]:
            out.setdefault(top, {})[sub] = body[top][sub]
    return out


def _drop(body: dict[str, Any], name: str) -> None:
    top, sub = _resolve(body, name)
    if sub is None:
        body.pop(top, None)
    elif isinstance(body.get(top), dict):
        body[top].pop(sub, None)
