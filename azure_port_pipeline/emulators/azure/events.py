"""Change records (Resource Graph `resourcechanges` / `resourcecontainerchanges`) and the
Event Grid events Azure raises for the same writes.

Both follow Azure's shapes so the incremental and real-time readers can be tested against
them: change rows carry `properties.targetResourceId`, a lower-case `targetResourceType`,
`changeType`, `changeAttributes` and, for updates, the per-path `changes`; events use the
Event Grid schema (or CloudEvents 1.0, `cloud_event`) and reach a Storage Queue as
base64-encoded JSON, as Event Grid delivers.

Like Resource Graph, the log shows a row only once it is *ingested* (`visible_at`, the write
plus the emulator's ingestion delay) and for 14 days after its timestamp, both measured on the
clock a query passes in, so tests move the clock instead of sleeping. Snapshot ids chain: an
update's `previousResourceSnapshotId` is the `newResourceSnapshotId` of the resource's last
recorded change.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .estate import RESOURCE_GROUP_TYPE

RETENTION = timedelta(days=14)
SUBSCRIPTION_CHANGE_TYPE = "microsoft.resources/subscriptions"
#: resourcecontainerchanges names groups as the resourcecontainers table does
RESOURCE_GROUP_CHANGE_TYPE = "microsoft.resources/subscriptions/resourcegroups"
_CONTAINER_TYPES = {
    RESOURCE_GROUP_TYPE.lower(),
    RESOURCE_GROUP_CHANGE_TYPE,
    SUBSCRIPTION_CHANGE_TYPE,
}
_NOT_TRACKED = {"microsoft.network/virtualnetworks/subnets"}  # part of the vnet in ARG
#: read-only bookkeeping ARM rewrites on every write; not a change of the resource
_UNDIFFED = ("systemData", "etag")


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as change attributes carry it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Actor:
    """Who made a write and with what, as change rows and Event Grid events attribute it.

    A service principal calling over HTTPS is `Actor.from_token` (its application id, from
    the bearer token); the mutation API defaults to a user deploying an ARM template.
    """

    changed_by: str  # a user's e-mail or an application (client) id
    changed_by_type: str = ""  # User | Application; "" = guessed from changed_by
    client_type: str = "ARM Template"
    object_id: str = ""  # the principal's object id (Event Grid claims); "" = derived

    @property
    def by_type(self) -> str:
        if self.changed_by_type:
            return self.changed_by_type
        return "User" if "@" in self.changed_by else "Application"

    @property
    def principal_id(self) -> str:
        return self.object_id or str(uuid.uuid5(uuid.NAMESPACE_URL, self.changed_by))


#: the mutation API's default author: someone deploying a template
DEPLOYER = Actor("deploy@contoso.com")


@dataclass(frozen=True)
class Change:
    """One write, as both the change row and the Event Grid event describe it."""

    change_type: str  # Create | Update | Delete
    target_id: str
    target_type: str
    at: datetime
    tenant_id: str
    correlation_id: str
    changed_by: str  # a user's e-mail or an application's (client) id
    changed_by_type: str = ""  # User | Application; "" = guessed from changed_by
    client_type: str = "ARM Template"
    principal_id: str = ""  # object id for Event Grid claims; "" = derived from changed_by
    http_method: str = ""  # the ARM request that made it; "" = PUT, or DELETE for deletes
    operation_name: str = ""  # "" = {type}/write or {type}/delete

    @property
    def subscription_id(self) -> str:
        return self.target_id.split("/")[2]

    @property
    def action_type(self) -> str:
        """The type in operation names (resource groups go by their ARM path there)."""
        if self.target_type.lower() in (RESOURCE_GROUP_TYPE.lower(), RESOURCE_GROUP_CHANGE_TYPE):
            return "Microsoft.Resources/subscriptions/resourceGroups"
        return self.target_type

    @property
    def operation(self) -> str:
        if self.operation_name:
            return self.operation_name
        return f"{self.action_type}/{'delete' if self.change_type == 'Delete' else 'write'}"

    @property
    def row_type(self) -> str:
        """`targetResourceType` as Resource Graph writes it (lower-case; groups by ARM path)."""
        lowered = self.target_type.lower()
        return RESOURCE_GROUP_CHANGE_TYPE if lowered == RESOURCE_GROUP_TYPE.lower() else lowered

    @property
    def by_type(self) -> str:
        if self.changed_by_type:
            return self.changed_by_type
        return "User" if "@" in self.changed_by else "Application"

    @property
    def method(self) -> str:
        return self.http_method or ("DELETE" if self.change_type == "Delete" else "PUT")


@dataclass
class _Logged:
    row: dict[str, Any]
    timestamp: str  # iso_z of the change (retention)
    visible_at: datetime  # when Resource Graph has ingested it


class ChangeLog:
    """Every change the emulator made, as Resource Graph rows, each with its ingestion time."""

    def __init__(self, seed: int = 0, retention: timedelta = RETENTION) -> None:
        self.retention = retention
        self._resource: list[_Logged] = []
        self._container: list[_Logged] = []
        self._snapshots: dict[str, str] = {}  # lower-case resource id -> its last snapshot id
        self._rng = random.Random(f"changes:{seed}")

    @property
    def resource_changes(self) -> list[dict[str, Any]]:
        """Every `resourcechanges` row recorded, ingested or not, expired or not."""
        return [e.row for e in self._resource]

    @property
    def container_changes(self) -> list[dict[str, Any]]:
        """Every `resourcecontainerchanges` row recorded, ingested or not, expired or not."""
        return [e.row for e in self._container]

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def tracked(self, resource_type: str) -> bool:
        return resource_type.lower() not in _NOT_TRACKED

    def record(
        self,
        change: Change,
        *,
        client_type: str | None = None,
        changes: dict[str, Any] | None = None,
        visible_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one change row (`changes`: an Update's per-path diff) and return it.

        The row is visible to queries from `visible_at` (default: its timestamp) on.
        """
        parts = change.target_id.split("/")
        sub = parts[2].lower()
        rg = parts[4].lower() if len(parts) > 4 else ""
        ticks = 10**17 - int(change.at.timestamp() * 10**7)  # Azure's ids sort newest first
        change_id = f"{ticks:020d}_{self.guid()}"
        key = change.target_id.lower()
        previous = None if change.change_type == "Create" else self._snapshots.get(key)
        if previous is None and change.change_type != "Create":
            previous = self._snapshot(change.at)  # a resource that predates the log
        new = None if change.change_type == "Delete" else self._snapshot(change.at)
        if new is None:
            self._snapshots.pop(key, None)
        else:
            self._snapshots[key] = new
        attributes = {
            "timestamp": iso_z(change.at),
            "changedBy": change.changed_by,
            "changedByType": change.by_type,
            "clientType": client_type or change.client_type,
            "operation": change.operation,
            "correlationId": change.correlation_id,
            "changesCount": len(changes or {}),
            "previousResourceSnapshotId": previous,
            "newResourceSnapshotId": new,
        }
        properties: dict[str, Any] = {
            "targetResourceId": change.target_id,
            "targetResourceType": change.row_type,
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
        logged = _Logged(row, attributes["timestamp"], visible_at or change.at)
        if change.row_type in _CONTAINER_TYPES:
            self._container.append(logged)
        else:
            self._resource.append(logged)
        return row

    def _snapshot(self, at: datetime) -> str:
        """A snapshot id shaped like Azure's: ticks, a GUID and two numbers."""
        ticks = 10**17 - int(at.timestamp() * 10**7)
        first, second = self._rng.getrandbits(31), self._rng.getrandbits(31)
        return f"{ticks:020d}_{self.guid()}_{first:010d}_{second:010d}"

    def rows(
        self, table: str, subscription_ids: set[str] | None, now: datetime
    ) -> list[dict[str, Any]]:
        """A table's rows Resource Graph shows at `now`: ingested (`visible_at` reached) and
        inside the retention (timestamp at most 14 days old), optionally scoped."""
        source = self._container if table == "resourcecontainerchanges" else self._resource
        oldest = iso_z(now - self.retention)
        return [
            e.row
            for e in source
            if e.visible_at <= now
            and e.timestamp >= oldest
            and (subscription_ids is None or e.row["subscriptionId"] in subscription_ids)
        ]

    def pending(self, now: datetime) -> int:
        """Rows recorded but not ingested yet at `now` (both tables)."""
        return sum(1 for e in [*self._resource, *self._container] if e.visible_at > now)


def diff(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    """Leaf differences of two REST bodies as Resource Graph reports an Update's `changes`:
    `{"properties.x": {"previousValue", "newValue", "propertyChangeType", "changeCategory"}}`.

    `propertyChangeType` is Insert, Update or Remove; `changeCategory` is System for what the
    platform sets (`provisioningState`), User otherwise. `systemData` and `etag`, rewritten
    by every write, are not changes.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        before = {k: v for k, v in before.items() if k not in _UNDIFFED}
        after = {k: v for k, v in after.items() if k not in _UNDIFFED}
    return {
        path: {
            "previousValue": old,
            "newValue": new,
            "propertyChangeType": _property_change(old, new),
            "changeCategory": "System" if path.endswith("provisioningState") else "User",
        }
        for path, (old, new) in _leaf_diff(before, after, "").items()
    }


def _property_change(old: Any, new: Any) -> str:
    if old is None:
        return "Insert"
    return "Remove" if new is None else "Update"


def _leaf_diff(before: Any, after: Any, path: str) -> dict[str, tuple[Any, Any]]:
    if isinstance(before, dict) and after is None and path:
        after = {}
    if isinstance(after, dict) and before is None and path:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in list(before) + [k for k in after if k not in before]:
            child = f"{path}.{key}" if path else key
            out.update(_leaf_diff(before.get(key), after.get(key), child))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = {}
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            out.update(_leaf_diff(old, new, f"{path}[{index}]"))
        return out
    if before == after:
        return {}
    return {path: (before, after)}


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
    principal_id = change.principal_id or str(uuid.uuid5(uuid.NAMESPACE_URL, change.changed_by))
    app_id = principal_id if "@" in change.changed_by else change.changed_by
    target_id = change.target_id
    return {
        "subject": target_id,
        "eventType": "Microsoft.Resources.ResourceDeleteSuccess"
        if deleting
        else "Microsoft.Resources.ResourceActionSuccess"
        if change.method == "POST"
        else "Microsoft.Resources.ResourceWriteSuccess",
        "id": event_id,
        "data": {
            "authorization": {
                "scope": target_id,
                "action": change.operation,
                "evidence": {
                    "role": "Contributor",
                    "roleAssignmentScope": f"/subscriptions/{sub}",
                    "principalType": "User" if change.by_type == "User" else "ServicePrincipal",
                    "principalId": principal_id,
                },
            },
            "claims": {"appid": app_id, "oid": principal_id, "tid": change.tenant_id},
            "correlationId": change.correlation_id,
            "httpRequest": {
                "clientRequestId": change.correlation_id,
                "clientIpAddress": "10.0.0.4",
                "method": change.method,
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


#: the schemas the emulator can deliver events in (Event Grid subscriptions offer both)
EVENT_GRID_SCHEMA = "eventgrid"
CLOUD_EVENTS_SCHEMA = "cloudevents"
EVENT_SCHEMAS = (EVENT_GRID_SCHEMA, CLOUD_EVENTS_SCHEMA)
#: a message a reader must survive: base64 all right, but of JSON cut off mid-object (what a
#: truncated or hand-fed message looks like), so it is neither an event nor JSON
UNDECODABLE_MESSAGE = base64.b64encode(
    b'{"eventType": "Microsoft.Resources.ResourceWriteSuccess", "id": '
).decode()
#: Storage Queue's ceiling for a message's visibility timeout (7 days)
MAX_VISIBILITY_TIMEOUT = 7 * 24 * 3600
_SECRET_FIELDS = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|SharedAccessKey|sig)(\s*=\s*)([^;&\s'\"]+)"
)


def cloud_event(change: Change, *, event_id: str, api_version: str) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, Event Grid's optional delivery schema.

    Event Grid maps its fields one to one (`eventType` -> `type`, `topic` -> `source`,
    `eventTime` -> `time`) and keeps `data` as is, so both schemas describe one write alike.
    """
    event = event_grid_event(change, event_id=event_id, api_version=api_version)
    return {
        "specversion": "1.0",
        "type": event["eventType"],
        "source": event["topic"],
        "subject": event["subject"],
        "id": event["id"],
        "time": event["eventTime"],
        "datacontenttype": "application/json",
        "data": event["data"],
    }


def encode_message(event: dict[str, Any]) -> str:
    """How Event Grid puts an event on a Storage Queue: base64 of the JSON."""
    return base64.b64encode(json.dumps(event).encode()).decode()


def scrub(text: str, connection_string: str) -> str:
    """`text` without the connection string's secrets (account key, SAS), for error messages
    that may quote a request URL or the connection string itself."""
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in {"accountkey", "sharedaccesssignature"} and value.strip():
            text = text.replace(value.strip(), "***")
    if connection_string:
        text = text.replace(connection_string, "***")
    return _SECRET_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class QueuePublisher:
    """Sends events to one Azure Storage Queue (Azurite in tests) through azure-storage-queue.

    Requests are bounded (`timeout` seconds, `retry_total` quick retries) rather than the
    SDK's default back-off of 15 s and more, so an emulator whose queue went away fails a
    write (or its shutdown flush) in seconds instead of hanging it for minutes.
    """

    def __init__(
        self,
        connection_string: str,
        queue_name: str,
        *,
        timeout: float = 10.0,
        retry_total: int = 2,
    ) -> None:
        from azure.storage.queue import LinearRetry, QueueClient

        self.target = (connection_string, queue_name)
        self.queue_name = queue_name
        self._client = QueueClient.from_connection_string(
            connection_string,
            queue_name,
            connection_timeout=timeout,
            read_timeout=timeout,
            retry_policy=LinearRetry(backoff=0.5, retry_total=retry_total, random_jitter_range=0),
        )

    @property
    def endpoint_host(self) -> str:
        """The queue service's host[:port]: what can be shown (the URL's query may hold a SAS)."""
        return urlsplit(self._client.url).netloc

    def ensure_queue(self) -> None:
        """Create the queue unless it exists (an Event Grid subscription needs it beforehand)."""
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._client.create_queue()

    def send(self, events: list[dict[str, Any]], *, visibility_timeout: int | None = None) -> None:
        for event in events:
            self.send_message(encode_message(event), visibility_timeout=visibility_timeout)

    def send_message(self, content: str, *, visibility_timeout: int | None = None) -> None:
        """Put one message as it is; `visibility_timeout` seconds hide it until then (the
        queue's own delivery delay), None or 0 shows it at once."""
        self._client.send_message(content, visibility_timeout=visibility_timeout or None)

    def close(self) -> None:
        self._client.close()
