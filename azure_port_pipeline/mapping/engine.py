"""Map raw Azure items to Port entities with Ocean's semantics, evaluated in bulk.

Semantics (Port Ocean's JQ entity processor): the first jq output is the value; the selector
must yield a boolean; a field failing at run time becomes null and is reported; an item whose
identifier or blueprint is null/empty is skipped and counted; `itemsToParse` fans an item out
into `{...item without the array, <itemsToParseName>: element}`. Beyond Ocean, an identifier
Port would reject is handled here instead of as a 422 later, by the `IdentifierPolicy`:
`escape` (default) rewrites it reversibly inside Port's alphabet, and every plain relation value
the same way so relations still meet their targets (two items whose identifiers become equal are
both reported, never merged); `port` reports it and drops the item. Every item is accounted for
in the `MappingReport`.

Speed: `map_items` runs one combined jq program over a whole batch (see compiled.py);
`map_items_per_field` is Ocean's way (one jq call per field per item), kept as the reference
the bulk path must equal, and as the fallback when a batch cannot run in one go.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from .compiled import ERROR_KEY, CompiledMapping, Slot, error_text, fill, run_one, to_json
from .config import ResourceMapping
from .identifiers import IdentifierPolicy, apply_policy, escape_identifier
from .models import Entity, MappingError, MappingReport, MappingResult

BATCH_SIZE = 2000
Outcome = list[Any] | dict[str, Any]
Evaluator = Callable[[CompiledMapping, list[Any]], list[list[Outcome]]]


def map_items(
    entry: ResourceMapping,
    items: Sequence[Any],
    policy: IdentifierPolicy = IdentifierPolicy.ESCAPE,
) -> MappingResult:
    """Map raw items (ARM REST / SDK as_dict shape) with one entry of the mapping."""
    return _map(entry, items, _bulk_outcomes, IdentifierPolicy(policy))


def map_items_per_field(
    entry: ResourceMapping,
    items: Sequence[Any],
    policy: IdentifierPolicy = IdentifierPolicy.ESCAPE,
) -> MappingResult:
    """The same mapping, one jq call per field per item, as Port's integration does it."""
    return _map(entry, items, _per_field_outcomes_all, IdentifierPolicy(policy))


# an entity, the identifier the mapping produced for it, and the raw item's id
Candidate = tuple[Entity, str, str | None]


def _map(
    entry: ResourceMapping, items: Sequence[Any], evaluate: Evaluator, policy: IdentifierPolicy
) -> MappingResult:
    compiled = entry.compiled
    report = MappingReport(kind=entry.kind, items_in=len(items))
    if compiled.items_to_parse is None:
        expanded, ids = list(items), [_item_id(item) for item in items]
    else:
        expanded, ids = _expand(entry, items, report)
    candidates: list[Candidate] = []
    unknown: list[str | None] = []
    for outcomes, item_id in zip(evaluate(compiled, expanded), ids, strict=True):
        before = report.failed + report.skipped_empty
        candidate = _entity(entry, compiled, outcomes, item_id, report, policy)
        if candidate is not None:
            candidates.append(candidate)
        elif report.failed + report.skipped_empty > before:
            unknown.append(item_id)
    if policy is IdentifierPolicy.ESCAPE:
        candidates = _without_collisions(entry, compiled, candidates, report)
        report.escaped_identifiers = sum(
            entity.identifier != original for entity, original, _ in candidates
        )
    entities = [entity for entity, _, _ in candidates]
    report.entities_out = len(entities)
    sources = [item_id for _, _, item_id in candidates]
    return MappingResult(entities=entities, report=report, sources=sources, unknown=unknown)


def _without_collisions(
    entry: ResourceMapping,
    compiled: CompiledMapping,
    candidates: list[Candidate],
    report: MappingReport,
) -> list[Candidate]:
    """Drop, and report, every item whose (blueprint, identifier) another item with a different
    original identifier also ended up with: escaping must never merge two Azure objects."""
    originals: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for entity, original, _ in candidates:
        originals[(entity.blueprint, entity.identifier)].add(original)
    if all(len(group) == 1 for group in originals.values()):
        return candidates
    field = _field(compiled, compiled.identifier)
    kept: list[Candidate] = []
    for candidate in candidates:
        entity, original, item_id = candidate
        group = originals[(entity.blueprint, entity.identifier)]
        if len(group) == 1:
            kept.append(candidate)
            continue
        report.invalid_identifier += 1
        report.identifier_collisions += 1
        names = ", ".join(repr(name) for name in sorted(group))
        message = (
            f"identifier {entity.identifier!r} (from {original!r}) collides after escaping: "
            f"the identifiers {names} all become {entity.identifier!r} in blueprint "
            f"{entity.blueprint!r}; none of these items is emitted"
        )
        _error(report, entry, item_id, field, message)
    return kept


# -- evaluation --------------------------------------------------------------------------------
def _bulk_outcomes(compiled: CompiledMapping, items: list[Any]) -> list[list[Outcome]]:
    if compiled.bulk is None:
        return _per_field_outcomes_all(compiled, items)
    results: list[list[Outcome]] = []
    for start in range(0, len(items), BATCH_SIZE):
        batch = items[start : start + BATCH_SIZE]
        results.extend(_bulk_batch(compiled, batch))
    return results


def _bulk_batch(compiled: CompiledMapping, batch: list[Any]) -> list[list[Outcome]]:
    """One jq run for the batch; if something escapes the per-field `try` (`halt_error`,
    a value jq cannot encode), isolate item by item so the others still map."""
    keys = compiled.projection
    if keys is not None:  # jq parses only what the mapping reads; the results cannot differ
        batch = [
            {key: item[key] for key in keys if key in item} if type(item) is dict else item
            for item in batch
        ]
    try:
        outputs = compiled.bulk.input_text(to_json(batch)).all()
        if len(outputs) == len(batch):
            return outputs
    except Exception:
        pass
    results = []
    for item in batch:
        try:
            (output,) = compiled.bulk.input_text(to_json([item])).all()
        except Exception:
            output = _per_field_outcomes(compiled, item)
        results.append(output)
    return results


def _per_field_outcomes_all(compiled: CompiledMapping, items: list[Any]) -> list[list[Outcome]]:
    return [_per_field_outcomes(compiled, item) for item in items]


def _per_field_outcomes(compiled: CompiledMapping, item: Any) -> list[Outcome]:
    selected = run_one(compiled.selector, item)
    if selected != [True]:
        return [selected]
    return [selected, *(run_one(leaf.program, item) for leaf in compiled.leaves)]


# -- itemsToParse ------------------------------------------------------------------------------
def _expand(
    entry: ResourceMapping, items: Sequence[Any], report: MappingReport
) -> tuple[list[Any], list[str | None]]:
    """One item per element of `itemsToParse`; a non-array is reported and the item skipped."""
    compiled = entry.compiled
    field = "port.itemsToParse"
    expanded: list[Any] = []
    ids: list[str | None] = []
    for raw in items:
        item_id = _item_id(raw)
        outcome = run_one(compiled.items_to_parse, raw)
        if isinstance(outcome, dict):
            _fail(report, entry, item_id, field, error_text(outcome))
            continue
        elements = outcome[0] if outcome else None
        if not isinstance(elements, list) or not isinstance(raw, dict):
            got = _type_name(elements) if isinstance(raw, dict) else f"item {_type_name(raw)}"
            _fail(report, entry, item_id, field, f"itemsToParse must yield an array, got {got}")
            continue
        base = raw
        if entry.spec.port.items_to_parse_top_level_transform:
            trimmed = run_one(compiled.delete_items, raw)
            if isinstance(trimmed, list) and trimmed and isinstance(trimmed[0], dict):
                base = trimmed[0]
        for element in elements:
            expanded.append({**base, compiled.items_to_parse_name: element})
            ids.append(item_id)
    return expanded, ids


# -- assembly ----------------------------------------------------------------------------------
def _entity(
    entry: ResourceMapping,
    compiled: CompiledMapping,
    outcomes: list[Outcome],
    item_id: str | None,
    report: MappingReport,
    policy: IdentifierPolicy,
) -> Candidate | None:
    selected = outcomes[0]
    if selected != [True]:
        if selected == [False]:
            report.skipped_by_selector += 1
        elif isinstance(selected, dict):
            _fail(report, entry, item_id, "selector.query", error_text(selected))
        else:
            got = _describe(selected[0]) if selected else "no output"
            message = f"selector must yield a boolean, got {got}"
            _fail(report, entry, item_id, "selector.query", message)
        return None
    values = _values(entry, compiled, outcomes, item_id, report)
    identifier = values[compiled.identifier.index]
    blueprint = values[compiled.blueprint.index]
    if identifier in (None, "") or blueprint in (None, ""):
        report.skipped_empty += 1
        return None
    if not isinstance(blueprint, str):
        _fail(report, entry, item_id, _field(compiled, compiled.blueprint), _not_string(blueprint))
        return None
    identifier_field = _field(compiled, compiled.identifier)
    if isinstance(identifier, str):
        final, problem = apply_policy(identifier, policy)
    else:
        final, problem = identifier, _not_string(identifier)
    if problem:
        report.invalid_identifier += 1
        _error(report, entry, item_id, identifier_field, problem)
        return None
    relations = {name: fill(tpl, values) for name, tpl in compiled.relations.items()}
    if policy is IdentifierPolicy.ESCAPE:
        relations = {
            name: _escape_relation(value) if isinstance(compiled.relations[name], Slot) else value
            for name, value in relations.items()
        }
    entity = Entity(
        blueprint=blueprint,
        identifier=final,
        title=_text(entry, compiled, compiled.title, values, item_id, report),
        icon=_text(entry, compiled, compiled.icon, values, item_id, report),
        team=_team(entry, compiled, values, item_id, report),
        properties={name: values[slot.index] for name, slot in compiled.properties.items()},
        relations=relations,
    )
    return entity, identifier, item_id


def _escape_relation(value: Any) -> Any:
    """A relation's target identifier(s), escaped exactly as entity identifiers are; anything
    that is not a string (null, a number, an object) is left for Port to judge."""
    if isinstance(value, str):
        return escape_identifier(value)
    if isinstance(value, list):
        return [escape_identifier(v) if isinstance(v, str) else v for v in value]
    return value


def _values(
    entry: ResourceMapping,
    compiled: CompiledMapping,
    outcomes: list[Outcome],
    item_id: str | None,
    report: MappingReport,
) -> list[Any]:
    """Leaf values; a failed leaf is null plus an error for that item and field."""
    values: list[Any] = []
    for leaf, outcome in zip(compiled.leaves, outcomes[1:], strict=True):
        if type(outcome) is list:
            values.append(outcome[0] if outcome else None)
        else:
            values.append(None)
            _error(report, entry, item_id, leaf.field, error_text(outcome))
    return values


def _text(
    entry: ResourceMapping,
    compiled: CompiledMapping,
    slot: Slot | None,
    values: list[Any],
    item_id: str | None,
    report: MappingReport,
) -> str | None:
    """title / icon: a string or null; anything else is reported and dropped."""
    if slot is None:
        return None
    value = values[slot.index]
    if value is None or isinstance(value, str):
        return value
    _error(report, entry, item_id, _field(compiled, slot), _not_string(value))
    return None


def _team(
    entry: ResourceMapping,
    compiled: CompiledMapping,
    values: list[Any],
    item_id: str | None,
    report: MappingReport,
) -> Any:
    """team: a string, a list of strings, or (when mapped as a search query) the query."""
    if compiled.team is None:
        return None
    if not isinstance(compiled.team, Slot):
        return fill(compiled.team, values)
    value = values[compiled.team.index]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    message = f"team must be a string or a list of strings, got {_describe(value)}"
    _error(report, entry, item_id, _field(compiled, compiled.team), message)
    return None


# -- helpers -----------------------------------------------------------------------------------
def _item_id(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        if value is not None:
            return value if isinstance(value, str) else json.dumps(value)
    return None


def _field(compiled: CompiledMapping, slot: Slot) -> str:
    return compiled.leaves[slot.index].field


def _error(
    report: MappingReport, entry: ResourceMapping, item_id: str | None, field: str, message: str
) -> None:
    report.errors.append(
        MappingError(kind=entry.kind, item_id=item_id, field=field, message=message)
    )


def _fail(
    report: MappingReport, entry: ResourceMapping, item_id: str | None, field: str, message: str
) -> None:
    """An item not mapped because of an error (as opposed to skipped by design)."""
    report.failed += 1
    _error(report, entry, item_id, field, message)


def _not_string(value: Any) -> str:
    return f"must be a string, got {_describe(value)}"


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{_type_name(value)} {text}"


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


__all__ = ["ERROR_KEY", "IdentifierPolicy", "map_items", "map_items_per_field"]
