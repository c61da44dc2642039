"""Plain records the Azure reader returns.

Every listing says whether it is complete, because deletion downstream is only safe inside a
scope whose listing read every page: a partial result must never look like a full one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .counters import AzureCounters


@dataclass
class SubscriptionListing:
    """The subscriptions the credential can see, after the include/exclude lists.

    `items` keeps every state (the records Port's default mapping reads: snake_case keys as
    the SDK's `as_dict()` used to give them); `enabled` is the subset that is synced.
    `missing_included` lists included GUIDs the credential cannot see (a likely typo or a
    missing role assignment).
    """

    items: list[dict[str, Any]]
    enabled: list[dict[str, Any]]
    complete: bool
    error: str | None = None
    excluded: list[str] = field(default_factory=list)
    missing_included: list[str] = field(default_factory=list)
    counters: AzureCounters = field(default_factory=AzureCounters)

    @property
    def enabled_ids(self) -> list[str]:
        return [item["subscription_id"] for item in self.enabled]


@dataclass
class Listing:
    """The raw Azure objects of one mapped kind in one subscription.

    `complete` is True only when every page of every underlying list call was read; when it
    is False, `error` says what failed and `items` holds what was read before the failure.
    """

    kind: str
    subscription_id: str
    items: list[dict[str, Any]]
    complete: bool
    error: str | None = None
    filtered_out: int = 0  # items dropped by the resource-group tag filters
    counters: AzureCounters = field(default_factory=AzureCounters)


@dataclass(frozen=True)
class ResourceChange:
    """The latest change of one resource in a window (from Resource Graph change tables)."""

    resource_id: str
    resource_type: str  # lower-case; resource groups as "microsoft.resources/resourcegroups"
    subscription_id: str
    change_type: str  # "Create" | "Update" | "Delete"
    change_time: datetime
    changed_by: str | None = None
    client_type: str | None = None
    operation: str | None = None

    @property
    def is_delete(self) -> bool:
        return self.change_type.lower() == "delete"

    def record(self) -> dict[str, str]:
        """The change as plain strings: what a run's config carries and what an item exposes
        under `__change` (`changeType`, `changedBy`, `clientType`, `operation`, `timestamp`)."""
        return {
            "resourceId": self.resource_id,
            "resourceType": self.resource_type,
            "subscriptionId": self.subscription_id,
            "changeType": self.change_type,
            "timestamp": self.change_time.isoformat(),
            "changedBy": self.changed_by or "",
            "clientType": self.client_type or "",
            "operation": self.operation or "",
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ResourceChange:
        return cls(
            resource_id=str(record["resourceId"]),
            resource_type=str(record.get("resourceType") or "").lower(),
            subscription_id=str(record.get("subscriptionId") or "").lower(),
            change_type=str(record.get("changeType") or ""),
            change_time=datetime.fromisoformat(str(record["timestamp"])),
            changed_by=record.get("changedBy") or None,
            client_type=record.get("clientType") or None,
            operation=record.get("operation") or None,
        )


@dataclass
class ChangeWindow:
    """Changes in [start, end) for a set of subscriptions, latest per resource, oldest first."""

    start: datetime
    end: datetime
    subscription_ids: list[str]
    changes: list[ResourceChange]
    complete: bool
    error: str | None = None
    counters: AzureCounters = field(default_factory=AzureCounters)


@dataclass
class CurrentResources:
    """The current ARM object of each changed resource (what the mapping consumes).

    `deleted` holds ids whose change was a Delete or whose GET answered 404; `filtered_out`
    ids whose resource group fails the tag filters; `skipped` ids of types with no
    configured api-version (kinds that are not mapped); `errors` ids that could not be read.
    """

    items: list[dict[str, Any]]
    deleted: list[str]
    complete: bool
    errors: dict[str, str] = field(default_factory=dict)
    #: ids of `errors` Azure may answer later (throttled, failing, unreachable, not tried)
    transient: list[str] = field(default_factory=list)
    filtered_out: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    counters: AzureCounters = field(default_factory=AzureCounters)


@dataclass
class GraphQueryResult:
    """Rows of one Resource Graph query over every page and subscription batch."""

    rows: list[dict[str, Any]]
    complete: bool
    error: str | None = None
    counters: AzureCounters = field(default_factory=AzureCounters)
