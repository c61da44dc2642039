"""The YAML schema of Port's "port app config", as pydantic models.

These mirror Port Ocean's `PortAppConfig` / `ResourceConfig` / `EntityMapping` and the Azure
integration's selector overrides (`apiVersion`, `resourceKinds` for the `cloudResource` kind), so
a mapping pasted from Port loads unchanged. Unlike Ocean, unknown keys are rejected
(`extra="forbid"`): a typo such as `identifer` must fail loudly instead of mapping nothing.

Top-level defaults, read from port-labs/ocean `port_ocean/core/handlers/port_app_config/models.py`
(class `PortAppConfig`): enableMergeEntity=True, deleteDependentEntities=True,
createMissingRelatedEntities=True, entityDeletionThreshold=0.9 (older Ocean releases typed it
`float | None = None` with a private `_default_entity_deletion_threshold = 0.9`; same effect).
`PortResourceConfig` also has itemsToParseName="item" and itemsToParseTopLevelTransform=True.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _scalar_to_jq(value: Any) -> Any:
    """YAML turns `query: true` or `title: 1` into non-strings; they are jq literals too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _date_to_text(value: Any) -> Any:
    """An unquoted `apiVersion: 2023-01-01` is a YAML date; ARM wants the text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


JqExpr = Annotated[str, BeforeValidator(_scalar_to_jq)]
ApiVersion = Annotated[str, BeforeValidator(_date_to_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SearchRuleSpec(_Strict):
    """A rule of a Port search query; every leaf is a jq expression, as in Ocean."""

    property: JqExpr
    operator: JqExpr
    value: JqExpr


class SearchQuerySpec(_Strict):
    """A relation (or team) given as a Port search query instead of an identifier."""

    combinator: JqExpr
    rules: list[SearchRuleSpec | SearchQuerySpec]


class EntityMappingsSpec(_Strict):
    identifier: JqExpr
    title: JqExpr | None = None
    blueprint: JqExpr
    icon: JqExpr | None = None
    team: JqExpr | SearchQuerySpec | None = None
    properties: dict[str, JqExpr] = Field(default_factory=dict)
    relations: dict[str, JqExpr | SearchQuerySpec] = Field(default_factory=dict)


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
    query: JqExpr
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
