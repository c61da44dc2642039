"""The loaded mapping: run-time records the engine and the Dagster layer use.

`PortAppConfig` carries Port's four top-level flags and one `ResourceMapping` per `resources[]`
entry of the YAML, as `PortAppConfig.entries`: in this code a mapping entry is an *entry*, since
"resource" already means an ARM resource and a Dagster resource. A `ResourceMapping` owns its
compiled jq; it pickles by recompiling from its spec, since jq programs cannot cross process
boundaries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .compiled import CompiledMapping
from .schema import ResourceSpec

SUBSCRIPTION_KIND = "subscription"
RESOURCE_GROUP_KIND = "Microsoft.Resources/resourceGroups"
CLOUD_RESOURCE_KIND = "cloudResource"


@dataclass(eq=False)
class ResourceMapping:
    """One `resources[]` entry: what to list from Azure and how to map it."""

    kind: str
    index: int
    api_version: str | None
    resource_kinds: dict[str, str]
    key: str
    blueprints: set[str] | None
    spec: ResourceSpec = field(repr=False)
    source: str = field(default="<string>", repr=False)
    compiled: CompiledMapping = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.compiled = CompiledMapping(self.spec, source=self.source, index=self.index)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.kind, self.index, self.api_version, self.resource_kinds, self.key)
        return (ResourceMapping, (*fields, self.blueprints, self.spec, self.source))

    def matches_type(self, arm_type: str) -> bool:
        """Whether raw items of this ARM type belong to this entry (case-insensitive)."""
        wanted = arm_type.lower()
        if self.kind == CLOUD_RESOURCE_KIND:
            return any(kind.lower() == wanted for kind in self.resource_kinds)
        return self.kind.lower() == wanted


class PortAppConfig(BaseModel):
    """The whole mapping file, with Port's defaults applied (see schema.py for their origin).

    `entries` are the YAML's `resources[]`; both names are accepted when constructing.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    delete_dependent_entities: bool
    create_missing_related_entities: bool
    enable_merge_entity: bool
    entity_deletion_threshold: float
    entries: list[ResourceMapping] = Field(alias="resources")
    source: str = "<string>"

    def entry(self, key: str) -> ResourceMapping:
        """The entry with this key (see `entry_key`)."""
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise KeyError(f"no mapping entry with key {key!r} in {self.source}")


def entry_key(kind: str) -> str:
    """A readable slug for a kind: the type's words, with the namespace when the type is one word.

    "Microsoft.Storage/storageAccounts" -> "storage_accounts"; "Microsoft.Web/sites" ->
    "microsoft_web_sites"; "subscription" -> "subscription"; "cloudResource" -> "cloud_resource".
    """
    parts = kind.split("/")
    last = _snake(parts[-1])
    if len(parts) == 1 or "_" in last:
        return last
    return "_".join(_snake(part) for part in parts)


def unique_keys(kinds: list[str]) -> list[str]:
    """Slugs per entry, `_2`, `_3`... when the same slug appears again."""
    keys: list[str] = []
    for kind in kinds:
        base = candidate = entry_key(kind)
        number = 1
        while candidate in keys:
            number += 1
            candidate = f"{base}_{number}"
        keys.append(candidate)
    return keys


def constant_blueprints(expr: str) -> set[str] | None:
    """The blueprint id when the blueprint expression is a JSON string literal, else None."""
    try:
        value = json.loads(expr.strip())
    except ValueError:
        return None
    return {value} if isinstance(value, str) and value else None


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "kind"
