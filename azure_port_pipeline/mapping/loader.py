"""Read a mapping file, validate it, compile its jq: fail once, clearly, or not at all.

Every problem becomes a `MappingConfigError` naming the file, the entry of `resources:` (index
and kind), the field path inside the entry, and the underlying message (YAML's, the schema's, or
jq's), so a bad mapping fails Dagster definition loading with something a user can act on.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .config import (
    CLOUD_RESOURCE_KIND,
    SUBSCRIPTION_KIND,
    PortAppConfig,
    ResourceMapping,
    constant_blueprints,
    unique_keys,
)
from .errors import MappingConfigError
from .schema import PortAppConfigSpec, ResourceSpec

_ARM_TYPE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)+$")


def load_mapping(path: str | Path) -> PortAppConfig:
    """Load and compile a mapping file (Port's port-app-config YAML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingConfigError(f"cannot read mapping: {exc.strerror}", source=str(path)) from None
    return load_mapping_text(text, source=str(path))


def load_mapping_text(text: str, source: str = "<string>") -> PortAppConfig:
    """Load and compile a mapping given as YAML text; `source` names it in errors."""
    raw = _parse_yaml(text, source)
    spec = _validate(raw, source)
    keys = unique_keys([entry.kind for entry in spec.entries])
    entries = [
        _entry_mapping(entry, index, key, source)
        for index, (entry, key) in enumerate(zip(spec.entries, keys, strict=True))
    ]
    return PortAppConfig(
        delete_dependent_entities=spec.delete_dependent_entities,
        create_missing_related_entities=spec.create_missing_related_entities,
        enable_merge_entity=spec.enable_merge_entity,
        entity_deletion_threshold=spec.entity_deletion_threshold,
        entries=entries,
        source=source,
    )


def _parse_yaml(text: str, source: str) -> Any:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingConfigError(f"invalid YAML: {exc}", source=source) from None
    if raw is None:
        raise MappingConfigError("the mapping is empty", source=source)
    if not isinstance(raw, dict):
        raise MappingConfigError(
            f"the mapping must be a YAML mapping with `resources:`, got {type(raw).__name__}",
            source=source,
        )
    return raw


def _validate(raw: dict[str, Any], source: str) -> PortAppConfigSpec:
    try:
        return PortAppConfigSpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = _most_useful(errors)
        error = _schema_error(first, raw, source)
        others = [_schema_error(other, raw, source) for other in errors if other is not first]
        rendered = list(dict.fromkeys(str(problem) for problem in [error, *others]))
        if len(rendered) > 1:  # every problem, each with its own place, so one edit fixes all
            error = MappingConfigError(
                f"{error.detail}; {len(rendered)} problems in all:\n  - " + "\n  - ".join(rendered),
                source=source,
                index=error.index,
                kind=error.kind,
                field=error.field,
            )
        raise error from None


def _most_useful(errors: list[Any]) -> Any:
    """Prefer unknown/missing keys over union-branch type errors (`str` vs search query)."""
    for wanted in ("extra_forbidden", "missing"):
        for error in errors:
            if error["type"] == wanted:
                return error
    return errors[0]


def _schema_error(error: Any, raw: dict[str, Any], source: str) -> MappingConfigError:
    loc = list(error["loc"])
    index = kind = None
    if len(loc) >= 2 and loc[0] == "resources" and isinstance(loc[1], int):  # the YAML key
        index = loc[1]
        raw_entry = _raw_entry(raw, index)
        kind = raw_entry.get("kind") if isinstance(raw_entry, dict) else None
        loc = loc[2:]
    path = [part for part in loc if not _is_union_tag(part)]
    if error["type"] == "extra_forbidden":
        unknown = str(path[-1])
        detail = f"unknown key {unknown!r}"
        suggestion = _closest(unknown, _valid_keys(error["loc"][:-1]))
        if suggestion:
            detail += f" (did you mean {suggestion!r}?)"
        field = ".".join(str(p) for p in path[:-1]) or None
        return MappingConfigError(detail, source=source, index=index, kind=kind, field=field)
    field = ".".join(str(p) for p in path) or None
    if error["type"] == "missing":
        detail = f"missing required key {path[-1]!r}" if path else "missing required key"
        field = ".".join(str(p) for p in path[:-1]) or None
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        detail = f"{message} (got {_short(error.get('input'))})"
    return MappingConfigError(detail, source=source, index=index, kind=kind, field=field)


def _raw_entry(raw: dict[str, Any], index: int) -> Any:
    """Entry `index` of the YAML's `resources:` list, as parsed (None when there is none)."""
    entries = raw.get("resources")
    if isinstance(entries, list) and 0 <= index < len(entries):
        return entries[index]
    return None


def _is_union_tag(part: Any) -> bool:
    """Pydantic puts the union member's name in `loc` (`str`, `SearchQuerySpec`); hide it."""
    return isinstance(part, str) and (
        part in {"str", "list[...]"} or part.endswith("Spec") or part.startswith("function-")
    )


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at `loc` accepts (by alias), walking the schema; [] if unknown."""
    model: Any = PortAppConfigSpec
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and part.endswith("Spec"):
            model = _spec_named(part) or model
            continue
        fields = getattr(model, "model_fields", {})
        match = next((info for name, info in fields.items() if part in (name, info.alias)), None)
        if match is None:
            continue  # a key of a `dict[str, X]` (a relation's name): the model stays X
        model = _model_in(match.annotation)
    return [info.alias or name for name, info in getattr(model, "model_fields", {}).items()]


def _spec_named(name: str) -> Any:
    from . import schema

    return getattr(schema, name, None)


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside `X | None`, `list[X]`, `dict[str, X]`... (first found)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _closest(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not matches:
        lowered = {choice.lower(): choice for choice in choices}
        return lowered.get(word.lower())
    return matches[0]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _entry_mapping(spec: ResourceSpec, index: int, key: str, source: str) -> ResourceMapping:
    _check_kind(spec, index, source)
    return ResourceMapping(
        kind=spec.kind,
        index=index,
        api_version=spec.selector.api_version,
        resource_kinds=dict(spec.selector.resource_kinds or {}),
        key=key,
        blueprints=constant_blueprints(spec.port.entity.mappings.blueprint),
        spec=spec,
        source=source,
    )


def _check_kind(spec: ResourceSpec, index: int, source: str) -> None:
    """Ocean's Azure overrides: `cloudResource` needs resourceKinds, ARM kinds an apiVersion."""

    def fail(field: str, detail: str) -> MappingConfigError:
        return MappingConfigError(detail, source=source, index=index, kind=spec.kind, field=field)

    selector = spec.selector
    if spec.kind == CLOUD_RESOURCE_KIND:
        if not selector.resource_kinds:
            raise fail("selector", "missing required key 'resourceKinds' for kind cloudResource")
        for arm_type in selector.resource_kinds:
            if not _ARM_TYPE.match(arm_type):
                raise fail("selector.resourceKinds", f"{arm_type!r} is not an ARM resource type")
        return
    if selector.resource_kinds is not None:
        raise fail("selector.resourceKinds", "resourceKinds is only valid for kind cloudResource")
    if spec.kind == SUBSCRIPTION_KIND:
        return
    if not _ARM_TYPE.match(spec.kind):
        raise fail(
            "kind",
            "kind must be 'subscription', 'cloudResource' or an ARM resource type such as "
            "'Microsoft.Storage/storageAccounts'",
        )
    if not selector.api_version:
        raise fail("selector", "missing required key 'apiVersion' (the ARM api-version to list)")
