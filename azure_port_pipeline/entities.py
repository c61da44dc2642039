"""The record every layer passes around: one Port entity.

Neutral ground: the mapping layer produces entities and the Port layer writes them, so the
record lives here, importing nothing of the project, and neither layer depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Entity:
    """One Port entity, as the mapping produced it.

    `icon` and `team` are None when the mapping does not define them; they are then left out
    of the Port payload so a merge upsert keeps whatever Port already has.
    """

    blueprint: str
    identifier: str
    title: str | None = None
    icon: str | None = None
    team: str | list[str] | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    relations: dict[str, Any] = field(default_factory=dict)

    def to_port(self) -> dict[str, Any]:
        """The JSON body Port receives for this entity."""
        body: dict[str, Any] = {
            "identifier": self.identifier,
            "title": self.title,
            "blueprint": self.blueprint,
            "properties": self.properties,
            "relations": self.relations,
        }
        if self.icon is not None:
            body["icon"] = self.icon
        if self.team is not None:
            body["team"] = self.team
        return body

    @classmethod
    def from_port(cls, body: dict[str, Any]) -> Entity:
        return cls(
            blueprint=body["blueprint"],
            identifier=body["identifier"],
            title=body.get("title"),
            icon=body.get("icon"),
            team=body.get("team"),
            properties=dict(body.get("properties") or {}),
            relations=dict(body.get("relations") or {}),
        )
