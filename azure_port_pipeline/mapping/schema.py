"""The YAML schema of Port's "port app config", as pydantic models.

These mirror Port Ocean's `PortAppConfig` / `ResourceConfig` / `EntityMapping` and the Azure
integration's selector overrides (`apiVersion`, `resourceKinds` for the `cloudResource` kind), so
a mapping pasted from Port loads unchanged. Unlike Ocean, unknown keys are rejected
(`extra="forbid"`): a typo such as `identifer` must fail loudly instead of mapping nothing.

Every field is type-checked at load (strict: no `"yes"` for a boolean, no `"0.5"` for a
number). jq fields must be YAML strings, with two exceptions where a YAML scalar is a
meaningful jq literal: `selector.query` accepts `true`/`false` (a boolean is what it must
yield), and a property or a search rule's `value` accepts a number or boolean (a constant).
Anything else, `query: 5`, `identifier: 5`, a list where a mapping is expected, fails
loading with its place, instead of failing every item at run time.

Top-level defaults, read from port-labs/ocean `port_ocean/core/handlers/port_app_config/models.py`
(class `PortAppConfig`): enableMergeEntity=True, deleteDependentEntities=True,
createMissingRelatedEntities=True, entityDeletionThreshold=0.9 (older Ocean releases typed it
`float | None = None` with a private `_default_entity_deletion_threshold = 0.9`; same effect).
`PortResourceConfig` also has itemsToParseName="item" and itemsToParseTopLevelTransform=True.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag


def _jq_text(value: Any) -> Any:
    """A jq expression is YAML text: quote it ('.id', '"literal"')."""
    if isinstance(value, str):
        return value
    raise ValueError(
        f"must be a jq expression written as a string (quote it: '.x' or '\"text\"'), "
        f"not a {_yaml_type(value)}"
    )


def _jq_predicate(value: Any) -> Any:
    """`query: true` is the jq literal `true`; a number or anything else can never be a
    boolean, so it is refused here instead of failing every item at run time."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    raise ValueError(
        f"must be a jq expression yielding a boolean, written as a string ('true', "
        f"'.kind == \"x\"'), not a {_yaml_type(value)}"
    )


def _jq_literal(value: Any) -> Any:
    """A property (or search rule value) may be a YAML number or boolean: a jq constant."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a jq expression or a finite number")
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise ValueError(
        f"must be a jq expression written as a string, a number or a boolean, not a "
        f"{_yaml_type(value)}"
    )


def _yaml_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


def _date_to_text(value: Any) -> Any:
    """An unquoted `apiVersion: 2023-01-01` is a YAML date; ARM wants the text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


JqExpr = Annotated[str, BeforeValidator(_jq_text)]
JqPredicate = Annotated[str, BeforeValidator(_jq_predicate)]
JqLiteral = Annotated[str, BeforeValidator(_jq_literal)]
ApiVersion = Annotated[str, BeforeValidator(_date_to_text)]


class _Strict(BaseModel):
    # strict: YAML's own types must match (a boolean is `true`, not "yes" or 1)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class SearchRuleSpec(_Strict):
    """A rule of a Port search query; every leaf is a jq expression, as in Ocean."""

    property: JqExpr
    operator: JqExpr
    value: JqLiteral


def _rule_or_query(value: Any) -> str:
    """A nested query has `combinator`/`rules`; anything else is checked as a rule."""
    nested = isinstance(value, dict) and ("combinator" in value or "rules" in value)
    return "SearchQuerySpec" if nested else "SearchRuleSpec"


class SearchQuerySpec(_Strict):
    """A relation (or team) given as a Port search query instead of an identifier."""

    combinator: JqExpr
    rules: list[
        Annotated[
            Annotated[SearchRuleSpec, Tag("SearchRuleSpec")]
            | Annotated[SearchQuerySpec, Tag("SearchQuerySpec")],
            Discriminator(_rule_or_query),
        ]
    ]


def _expr_or_query(value: Any) -> str:
    """A mapping is a search query; anything else must be a jq expression (one error only)."""
    return "SearchQuerySpec" if isinstance(value, dict) else "str"


#: a jq expression, or a Port search query (a YAML mapping): a relation's or the team's value
JqOrSearchQuery = Annotated[
    Annotated[JqExpr, Tag("str")] | Annotated[SearchQuerySpec, Tag("SearchQuerySpec")],
    Discriminator(_expr_or_query),
]


class EntityMappingsSpec(_Strict):
    identifier: JqExpr
    title: JqExpr | None = None
    blueprint: JqExpr
    icon: JqExpr | None = None
    team: JqOrSearchQuery | None = None
    properties: dict[str, JqLiteral] = Field(default_factory=dict)
    relations: dict[str, JqOrSearchQuery] = Field(default_factory=dict)


class EntitySpec(_Strict):
    mappings: EntityMappingsSpec


class PortSpec(_Strict):
    entity: EntitySpec
    items_to_parse: JqExpr | None = Field(default=None, alias="itemsToParse")
    items_to_parse_name: str = Field(default="item", alias="itemsToParseName", min_length=1)
    items_to_parse_top_level_transform: bool = Field(
        default=True, alias="itemsToParseTopLevelTransform"
    )


class SelectorSpec(_Strict):
    query: JqPredicate
    api_version: ApiVersion | None = Field(default=None, alias="apiVersion")
    resource_kinds: dict[str, ApiVersion] | None = Field(default=None, alias="resourceKinds")


class ResourceSpec(_Strict):
    kind: str = Field(min_length=1)
    selector: SelectorSpec
    port: PortSpec


class PortAppConfigSpec(_Strict):
    delete_dependent_entities: bool = Field(default=True, alias="deleteDependentEntities")
    create_missing_related_entities: bool = Field(
        default=True, alias="createMissingRelatedEntities"
    )
    enable_merge_entity: bool = Field(default=True, alias="enableMergeEntity")
    entity_deletion_threshold: float = Field(
        default=0.9, alias="entityDeletionThreshold", ge=0.0, le=1.0
    )
    # Port's YAML key is `resources`; here they are entries (see config.py)
    entries: list[ResourceSpec] = Field(default_factory=list, alias="resources")
