"""Resource-group tag filters, with the semantics of Port's Azure incremental exporter.

`include`: a resource group passes only if it has *all* the given tags; `exclude`: it passes
only if it has *none* of them. A tag matches when the group has a tag of that name (names
are case-insensitive in Azure) whose value equals the given one case-insensitively (KQL's
`=~`, as Port's exporter compares). Resources are filtered by the group they live in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_RG_SEGMENT = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ResourceGroupTagFilter:
    include: Mapping[str, str] = field(default_factory=dict)
    exclude: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.include) or bool(self.exclude)

    def allows(self, tags: Mapping[str, object] | None) -> bool:
        """Whether a group with these tags passes (`tags` as ARM sent it: null or even a
        malformed value counts as no tags)."""
        if not isinstance(tags, Mapping):
            tags = {}
        lowered = {str(k).lower(): str(v).lower() for k, v in tags.items() if v is not None}

        def has(name: str, value: str) -> bool:
            return lowered.get(name.lower()) == value.lower()

        if not all(has(k, v) for k, v in self.include.items()):
            return False
        return not any(has(k, v) for k, v in self.exclude.items())


def resource_group_key(resource_id: str) -> tuple[str, str] | None:
    """(subscription, resource group), lower-cased, of an ARM id; None above group level."""
    match = _RG_SEGMENT.match(resource_id or "")
    if not match:
        return None
    return match.group(1).lower(), match.group(2).lower()


def subscription_of(resource_id: str) -> str | None:
    parts = (resource_id or "").split("/")
    if len(parts) >= 3 and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return None
