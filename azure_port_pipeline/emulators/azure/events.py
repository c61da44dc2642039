"""Change records (Resource Graph `resourcechanges` / `resourcecontainerchanges`) and the
Event Grid events Azure raises for the same writes.

Both follow Azure's shapes so the incremental and real-time readers can be tested against
them: change rows carry `properties.targetResourceId`, a lower-case `targetResourceType`,
`changeType`, `changeAttributes` and, for updates, the per-path `changes`; events use the
Event Grid schema and reach a Storage Queue as base64-encoded JSON, as Event Grid delivers.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .estate import RESOURCE_GROUP_TYPE

RETENTION = timedelta(days=14)
_CONTAINER_TYPES = {RESOURCE_GROUP_TYPE.lower(), "microsoft.resources/subscriptions"}
_NOT_TRACKED = {"microsoft.network/virtualnetworks/subnets"}  # part of the vnet in ARG


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as change attributes carry it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Change:
    """One write, as both the change row and the Event Grid event describe it."""

    change_type: str  # Create | Update | Delete
    target_id: str
    target_type: str
    at: datetime
    tenant_id: str
    correlation_id: str
    changed_by: str  # a user's e-mail or an application's name

    @property
    def subscription_id(self) -> str:
        return self.target_id.split("/")[2]

    @property
    def action_type(self) -> str:
        """The type in operation names (resource groups go by their ARM path there)."""
        if self.target_type.lower() == RESOURCE_GROUP_TYPE.lower():
            return "Microsoft.Resources/subscriptions/resourceGroups"
        return self.target_type

    @property
    def operation(self) -> str:
        return f"{self.action_type}/{'delete' if self.change_type == 'Delete' else 'write'}"


class ChangeLog:
    """Every change the emulator's mutation API made, as Resource Graph rows."""

    def __init__(self, seed: int = 0) -> None:
        self.resource_changes: list[dict[str, Any]] = []
        self.container_changes: list[dict[str, Any]] = []
        self._rng = random.Random(f"changes:{seed}")

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def tracked(self, resource_type: str) -> bool:
        return resource_type.lower() not in _NOT_TRACKED

    def record(
        self,
        change: Change,
        *,
        client_type: str = "ARM Template",
        changes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one change row (`changes`: an Update's per-path diff) and return it."""
        parts = change.target_id.split("/")
        sub = parts[2].lower()
        rg = parts[4].lower() if len(parts) > 4 else ""
        ticks = 10**17 - int(change.at.timestamp() * 10**7)  # Azure's ids sort newest first
        change_id = f"{ticks:020d}_{self.guid()}"
        attributes = {
            "timestamp": iso_z(change.at),
            "changedBy": change.changed_by,
            "changedByType": "User" if "@" in change.changed_by else "Application",
            "clientType": client_type,
            "operation": change.operation,
            "correlationId": change.correlation_id,
            "changesCount": len(changes or {}),
            "previousResourceSnapshotId": None
            if change.change_type == "Create"
            else self._snapshot(),
            "newResourceSnapshotId": None if change.change_type == "Delete" else self._snapshot(),
        }
        properties: dict[str, Any] = {
            "targetResourceId": change.target_id,
            "targetResourceType": change.target_type.lower(),
            "changeType": change.change_type,
            "changeAttributes": attributes,
        }
        if change.change_type == "Update":
            properties["changes"] = changes or {}
        row = {
            "id": f"{change.target_id}/providers/Microsoft.Resources/changes/{change_id}",
            "name": change_id,
            "type": "microsoft.resources/changes",
            "tenantId": change.tenant_id,
            "kind": "",
            "location": "",
            "resourceGroup": rg,
            "subscriptionId": sub,
            "managedBy": "",
            "sku": None,
            "plan": None,
            "properties": properties,
            "tags": None,
            "identity": None,
            "zones": None,
            "extendedLocation": None,
        }
        if change.target_type.lower() in _CONTAINER_TYPES:
            self.container_changes.append(row)
        else:
            self.resource_changes.append(row)
        return row

    def _snapshot(self) -> str:
        return f"{self._rng.getrandbits(64):020d}_{self._rng.getrandbits(31)}"

    def rows(
        self, table: str, subscription_ids: set[str] | None, now: datetime
    ) -> list[dict[str, Any]]:
        """A table's rows inside the 14-day retention, optionally scoped to subscriptions."""
        source = (
            self.container_changes if table == "resourcecontainerchanges" else self.resource_changes
        )
        oldest = iso_z(now - RETENTION)
        return [
            r
            for r in source
            if (subscription_ids is None or r["subscriptionId"] in subscription_ids)
            and r["properties"]["changeAttributes"]["timestamp"] >= oldest
        ]


def diff(before: Any, after: Any, path: str = "") -> dict[str, dict[str, Any]]:
    """Leaf differences as Resource Graph reports them: {"properties.x": {previous, new}}."""
    if isinstance(before, dict) and after is None and path:
        after = {}
    if isinstance(after, dict) and before is None and path:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, dict[str, Any]] = {}
        for key in list(before) + [k for k in after if k not in before]:
            child = f"{path}.{key}" if path else key
            out.update(diff(before.get(key), after.get(key), child))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = {}
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            out.update(diff(old, new, f"{path}[{index}]"))
        return out
    if before == after:
        return {}
    return {path: {"previousValue": before, "newValue": after}}


def apply_changes(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `body` with dotted-path assignments and/or a JSON merge patch applied.

    Keys containing dots set one value (`{"properties.x": 1}`, `{"tags.env": "prod"}`);
    other keys merge like a PATCH (dicts recursively). None removes a key.
    """
    result = copy.deepcopy(body)
    for key, value in changes.items():
        if "." in key:
            *parents, leaf = key.split(".")
            node = result
            for part in parents:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            _assign(node, leaf, copy.deepcopy(value))
        else:
            _merge(result, key, value)
    return result


def _merge(node: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(node.get(key), dict):
        for inner_key, inner_value in value.items():
            _merge(node[key], inner_key, inner_value)
    else:
        _assign(node, key, copy.deepcopy(value))


def _assign(node: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        node.pop(key, None)
    else:
        node[key] = value


def event_grid_event(change: Change, *, event_id: str, api_version: str) -> dict[str, Any]:
    """The Event Grid (schema v1) event Azure raises on the subscription's system topic."""
    sub = change.subscription_id
    deleting = change.change_type == "Delete"
    principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, change.changed_by))
    target_id = change.target_id
    return {
        "subject": target_id,
        "eventType": "Microsoft.Resources.ResourceDeleteSuccess"
        if deleting
        else "Microsoft.Resources.ResourceWriteSuccess",
        "id": event_id,
        "data": {
            "authorization": {
                "scope": target_id,
                "action": change.operation,
                "evidence": {
                    "role": "Contributor",
                    "roleAssignmentScope": f"/subscriptions/{sub}",
                    "principalType": "ServicePrincipal",
                    "principalId": principal_id,
                },
            },
            "claims": {"appid": principal_id, "oid": principal_id, "tid": change.tenant_id},
            "correlationId": change.correlation_id,
            "httpRequest": {
                "clientRequestId": change.correlation_id,
                "clientIpAddress": "10.0.0.4",
                "method": "DELETE" if deleting else "PUT",
                "url": f"https://management.azure.com{target_id}?api-version={api_version}",
            },
            "resourceProvider": change.target_type.split("/", 1)[0],
            "resourceUri": target_id,
            "operationName": change.operation,
            "status": "Succeeded",
            "subscriptionId": sub,
            "tenantId": change.tenant_id,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "eventTime": iso_z(change.at),
        "topic": f"/subscriptions/{sub}",
    }


def encode_message(event: dict[str, Any]) -> str:
    """How Event Grid puts an event on a Storage Queue: base64 of the JSON."""
    return base64.b64encode(json.dumps(event).encode()).decode()


class QueuePublisher:
    """Sends events to one Azure Storage Queue (Azurite in tests) through azure-storage-queue."""

    def __init__(self, connection_string: str, queue_name: str) -> None:
        from azure.storage.queue import QueueClient

        self.target = (connection_string, queue_name)
        self._client = QueueClient.from_connection_string(connection_string, queue_name)

    def send(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._client.send_message(encode_message(event))

    def close(self) -> None:
        self._client.close()
