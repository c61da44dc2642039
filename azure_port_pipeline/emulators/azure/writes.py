"""ARM writes: PUT / PATCH / DELETE of resources and resource groups, Microsoft.Subscription's
`cancel` / `enable`, and the long-running-operation monitors ARM hands out for them.

Each handler validates like ARM (api-version, subscription, resource group, parent, location,
a disabled subscription being read-only), shapes the stored body, then calls the emulator's
write methods (`put_resource`, `delete_resource`, `set_subscription_state`): the same ones tests
and the demo call, so every write, over HTTPS or not, changes the estate, records its change
rows and raises its Event Grid event the same way. The caller's bearer token names the author:
`changedBy` is the service principal's application (client) id.

Answers follow ARM's long-running-operation patterns, which `azure-mgmt-resource`'s
`ARMPolling` follows unmodified:

- PUT of a new resource: 201 + `Azure-AsyncOperation` (and `Retry-After`); the monitor says
  Succeeded, then the SDK GETs the resource. PUT of an existing one: 200 (synchronous).
- PATCH of a resource: 200 with the resource (synchronous).
- DELETE of a resource: 202 + `Location` (and `Retry-After`); 204 when it does not exist.
- PUT of a resource group: 201 new, 200 existing (synchronous, as ARM); PATCH: 200.
- DELETE of a resource group: 202 + `Location` under `/subscriptions/{sub}/operationresults/`.
- POST `.../providers/Microsoft.Subscription/cancel` or `/enable`: 200 `{"subscriptionId"}`.

The write is applied when the request arrives, so the first poll of a monitor already reports
completion (the SDK polls once at once, and only sleeps `Retry-After` between later polls).
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..server import Response
from .arm import SUBSCRIPTION_ACTIONS, Route, _api_version, _resolve_type, _rg_not_found
from .estate import CHILD_TYPES, RESOURCE_GROUP_TYPE
from .events import Actor
from .wire import ArmRequest, arm_error

if TYPE_CHECKING:
    from .emulator import AzureEmulator

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
#: top-level keys a client writes; everything else (id, name, type, systemData) is ARM's
WRITABLE = ("location", "tags", "sku", "kind", "identity", "zones", "plan", "extendedLocation")
SUBSCRIPTION_API_VERSIONS = ("2019-03-01-preview", "2020-09-01", "2021-10-01")
RETRY_AFTER = "15"  # seconds, as ARM suggests for resource-group deletions
_WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")
_KEEP_OPERATIONS = 10_000


class Operations:
    """Long-running operations ARM handed out, by id (the newest `_KEEP_OPERATIONS`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def start(self, subscription_id: str, target: str, at: datetime) -> str:
        """A finished operation (the emulator applies writes at once); returns its id."""
        operation_id = str(uuid.uuid4())
        with self._lock:
            self._operations[operation_id] = {
                "subscription": subscription_id.lower(),
                "target": target,
                "status": "Succeeded",
                "startTime": _arm_time(at),
                "endTime": _arm_time(at),
            }
            while len(self._operations) > _KEEP_OPERATIONS:
                self._operations.popitem(last=False)
        return operation_id

    def get(self, subscription_id: str, operation_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._operations.get(operation_id)
        if found is None or found["subscription"] != subscription_id.lower():
            return None
        return dict(found)


class ArmWrites:
    """Answers ARM's write routes and operation monitors for one emulator."""

    def __init__(self, emulator: AzureEmulator) -> None:
        self.emulator = emulator

    @staticmethod
    def serves(route: Route, method: str) -> bool:
        """Whether this request is a write (or an operation monitor) rather than a read."""
        return method in _WRITE_METHODS or route.name == "operation"

    def handle(self, route: Route, request: ArmRequest) -> Response:
        if "api-version" not in request.query:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        handler = {
            ("operation", "GET"): self._operation,
            ("subscription_action", "POST"): self._subscription_action,
            ("resource_group", "PUT"): self._put_group,
            ("resource_group", "PATCH"): self._patch_group,
            ("resource_group", "DELETE"): self._delete_group,
            ("get", "PUT"): self._put_resource,
            ("get", "PATCH"): self._patch_resource,
            ("get", "DELETE"): self._delete_resource,
        }.get((route.name, request.method))
        if handler is None:
            return arm_error(
                405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed."
            )
        with self.emulator.lock:  # validation and write see one state
            problem = self._check_subscription(route, request)
            if problem is not None:
                return problem
            response = handler(route, request)
        header = (
            "x-ms-ratelimit-remaining-subscription-deletes"
            if request.method == "DELETE"
            else "x-ms-ratelimit-remaining-subscription-writes"
        )
        if request.method != "GET":
            response.headers.setdefault(header, "1199")
            response.headers.setdefault("x-ms-correlation-request-id", self._correlation(request))
        return response

    # ---- checks ---------------------------------------------------------------------------
    def _check_subscription(self, route: Route, request: ArmRequest) -> Response | None:
        if not _GUID.match(route.sub):
            return arm_error(
                400,
                "InvalidSubscriptionId",
                f"The provided subscription identifier '{route.sub}' is malformed or invalid.",
            )
        if self.emulator.faults.is_forbidden(route.sub):
            principal = request.principal
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{principal.client_id if principal else ''}' with object id "
                f"'{principal.object_id if principal else ''}' does not have authorization to "
                f"perform action '{_action(route, request)}' over scope "
                f"'{request.path.rstrip('/')}' or the scope is invalid. If access was recently "
                "granted, please refresh your credentials.",
            )
        subscription = self.emulator.estate.subscription(route.sub)
        if subscription is None:
            return arm_error(
                404, "SubscriptionNotFound", f"The subscription '{route.sub}' could not be found."
            )
        read_only = subscription["state"] in ("Disabled", "Deleted", "Warned")
        if read_only and request.method in ("PUT", "PATCH", "DELETE"):
            return arm_error(
                409,
                "ReadOnlyDisabledSubscription",
                f"The subscription '{route.sub}' is disabled and therefore marked as read only. "
                "You cannot perform any write actions on this subscription until it is "
                "re-enabled.",
            )
        return None

    # ---- resources ------------------------------------------------------------------------
    def _put_resource(self, route: Route, request: ArmRequest) -> Response:
        rtype, problem = _resolve_type(route, request)
        if problem is not None:
            return problem
        payload = _payload(request)
        if isinstance(payload, Response):
            return payload
        problem = self._parent_problem(route, request, rtype)
        if problem is not None:
            return problem
        resource_id = request.path.rstrip("/")
        existing = self.emulator.estate.get(resource_id)
        top_level = rtype not in CHILD_TYPES
        if top_level and not payload.get("location"):
            return arm_error(
                400, "LocationRequired", "The location property is required for this definition."
            )
        if (
            existing is not None
            and top_level
            and _place(existing.get("location")) != _place(payload.get("location"))
        ):
            return arm_error(
                409,
                "InvalidResourceLocation",
                f"The resource '{route.names[-1]}' already exists in location "
                f"'{_place(existing.get('location'))}' in resource group '{route.rg}'. A "
                f"resource with the same name cannot be created in location "
                f"'{_place(payload.get('location'))}'. Please select a new resource name.",
            )
        actor = _actor(request)
        now = self.emulator.now()
        body = _resource_body(resource_id, rtype, payload, existing, actor, now)
        change, stored = self.emulator.put_resource(
            body, actor=actor, http_method="PUT", correlation_id=self._correlation(request)
        )
        if change != "Create":
            return Response(200, stored)
        operation = self.emulator.operations.start(route.sub, stored["id"], now)
        monitor = self._monitor(route, request, stored, "operations", operation)
        accepted = copy.deepcopy(stored)
        accepted.setdefault("properties", {})["provisioningState"] = "Creating"
        return Response(201, accepted, {"Azure-AsyncOperation": monitor, "Retry-After": "10"})

    def _patch_resource(self, route: Route, request: ArmRequest) -> Response:
        _, problem = _resolve_type(route, request)
        if problem is not None:
            return problem
        payload = _payload(request)
        if isinstance(payload, Response):
            return payload
        problem = self._missing_group(route)
        if problem is not None:
            return problem
        existing = self.emulator.estate.get(request.path.rstrip("/"))
        if existing is None:
            return _resource_not_found(route)
        actor = _actor(request)
        body = copy.deepcopy(existing)
        for key in WRITABLE:
            if key == "location" or key not in payload:
                continue  # a PATCH cannot move a resource
            if payload[key] is None:
                body.pop(key, None)
            else:
                body[key] = copy.deepcopy(payload[key])
        if isinstance(payload.get("properties"), dict):
            body["properties"] = _merge_patch(body.get("properties") or {}, payload["properties"])
        body["systemData"] = _system_data(existing, actor, self.emulator.now())
        _, stored = self.emulator.put_resource(
            body, actor=actor, http_method="PATCH", correlation_id=self._correlation(request)
        )
        return Response(200, stored)

    def _delete_resource(self, route: Route, request: ArmRequest) -> Response:
        _, problem = _resolve_type(route, request)
        if problem is not None:
            return problem
        problem = self._missing_group(route)
        if problem is not None:
            return problem
        resource_id = request.path.rstrip("/")
        existing = self.emulator.estate.get(resource_id)
        if existing is None:
            return Response(204)  # ARM: deleting what is not there succeeds with No Content
        self.emulator.delete_resource(
            resource_id, actor=_actor(request), correlation_id=self._correlation(request)
        )
        operation = self.emulator.operations.start(route.sub, existing["id"], self.emulator.now())
        monitor = self._monitor(route, request, existing, "operationResults", operation)
        return Response(202, None, {"Location": monitor, "Retry-After": RETRY_AFTER})

    # ---- resource groups ------------------------------------------------------------------
    def _put_group(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        payload = _payload(request)
        if isinstance(payload, Response):
            return payload
        if not payload.get("location"):
            return arm_error(
                400, "LocationRequired", "The location property is required for this definition."
            )
        existing = self.emulator.estate.resource_group(route.sub, route.rg)
        if existing is not None and _place(existing.get("location")) != _place(payload["location"]):
            return arm_error(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{_place(payload['location'])}'. The Resource "
                f"group already exists in location '{_place(existing.get('location'))}'.",
            )
        name = existing["name"] if existing else route.rg
        body: dict[str, Any] = {
            "id": f"/subscriptions/{route.sub}/resourceGroups/{name}",
            "name": name,
            "type": RESOURCE_GROUP_TYPE,
            "location": existing["location"] if existing else _place(payload["location"]),
        }
        for key in ("managedBy", "tags"):
            if payload.get(key) is not None:
                body[key] = copy.deepcopy(payload[key])
        body["properties"] = {"provisioningState": "Succeeded"}
        change, stored = self.emulator.put_resource(
            body,
            actor=_actor(request),
            http_method="PUT",
            correlation_id=self._correlation(request),
        )
        return Response(201 if change == "Create" else 200, stored)

    def _patch_group(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        payload = _payload(request)
        if isinstance(payload, Response):
            return payload
        existing = self.emulator.estate.resource_group(route.sub, route.rg)
        if existing is None:
            return _rg_not_found(route.rg)
        body = copy.deepcopy(existing)
        for key in ("managedBy", "tags"):
            if key in payload:
                if payload[key] is None:
                    body.pop(key, None)
                else:
                    body[key] = copy.deepcopy(payload[key])
        _, stored = self.emulator.put_resource(
            body,
            actor=_actor(request),
            http_method="PATCH",
            correlation_id=self._correlation(request),
        )
        return Response(200, stored)

    def _delete_group(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        existing = self.emulator.estate.resource_group(route.sub, route.rg)
        if existing is None:
            return _rg_not_found(route.rg)
        self.emulator.delete_resource(
            existing["id"], actor=_actor(request), correlation_id=self._correlation(request)
        )
        operation = self.emulator.operations.start(route.sub, existing["id"], self.emulator.now())
        version = request.query.get("api-version", "")
        monitor = (
            f"{self.emulator.base_url}/subscriptions/{route.sub}/operationresults/"
            f"{operation}?api-version={version}"
        )
        return Response(202, None, {"Location": monitor, "Retry-After": RETRY_AFTER})

    # ---- subscriptions ----------------------------------------------------------------------
    def _subscription_action(self, route: Route, request: ArmRequest) -> Response:
        version = request.query.get("api-version", "")
        if version not in SUBSCRIPTION_API_VERSIONS:
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are "
                f"'{','.join(reversed(SUBSCRIPTION_API_VERSIONS))}'.",
            )
        action = route.types[0]
        assert action in SUBSCRIPTION_ACTIONS
        state = "Disabled" if action == "cancel" else "Enabled"
        subscription = self.emulator.set_subscription_state(
            route.sub,
            state,
            actor=_actor(request),
            http_method="POST",
            correlation_id=self._correlation(request),
        )
        return Response(200, {"subscriptionId": subscription["subscriptionId"]})

    # ---- operation monitors -------------------------------------------------------------------
    def _operation(self, route: Route, request: ArmRequest) -> Response:
        operation_id = route.names[0]
        found = self.emulator.operations.get(route.sub, operation_id)
        if found is None:
            return arm_error(
                404, "OperationNotFound", f"The operation '{operation_id}' could not be found."
            )
        kind = route.types[0] if route.types else "operationresults"
        if kind == "operationresults":  # a Location monitor: done, nothing to return
            return Response(200)
        return Response(
            200,
            {
                "id": request.path.rstrip("/"),
                "name": operation_id,
                "status": found["status"],
                "startTime": found["startTime"],
                "endTime": found["endTime"],
            },
        )

    # ---- helpers ------------------------------------------------------------------------------
    def _missing_group(self, route: Route) -> Response | None:
        if self.emulator.estate.resource_group(route.sub, route.rg) is None:
            return _rg_not_found(route.rg)
        return None

    def _parent_problem(self, route: Route, request: ArmRequest, rtype: str) -> Response | None:
        problem = self._missing_group(route)
        if problem is not None or rtype not in CHILD_TYPES:
            return problem
        parent_id = request.path.rstrip("/").rsplit("/", 2)[0]
        if self.emulator.estate.record(parent_id) is None:
            return arm_error(
                404,
                "ParentResourceNotFound",
                f"Failed to perform 'write' on resource(s) of type '{'/'.join(route.types)}', "
                f"because the parent resource '{parent_id}' could not be found.",
            )
        return None

    def _monitor(
        self,
        route: Route,
        request: ArmRequest,
        body: dict[str, Any],
        kind: str,
        operation: str,
    ) -> str:
        """`/subscriptions/{sub}/providers/{Namespace}/locations/{location}/{kind}/{id}`."""
        location = _place(body.get("location")) or "global"
        version = request.query.get("api-version", "")
        return (
            f"{self.emulator.base_url}/subscriptions/{route.sub}/providers/{route.namespace}/"
            f"locations/{location}/{kind}/{operation}?api-version={version}"
        )

    @staticmethod
    def _correlation(request: ArmRequest) -> str:
        """The request's correlation id: the client's `x-ms-correlation-request-id`, else one
        made for it (kept on the request so every row of one write shares it)."""
        cached = request.headers.get("x-ms-correlation-request-id")
        if not cached:
            cached = str(uuid.uuid4())
            request.headers["x-ms-correlation-request-id"] = cached
        return cached


def _actor(request: ArmRequest) -> Actor:
    """The caller, from its token: a service principal's application id and object id."""
    principal = request.principal
    return Actor(
        changed_by=principal.client_id if principal else "",
        changed_by_type="Application",
        client_type=client_type(request.headers.get("user-agent", "")),
        object_id=principal.object_id if principal else "",
    )


def client_type(user_agent: str) -> str:
    """`clientType` from the caller's User-Agent (the tools Azure names; the first product
    token otherwise)."""
    agent = user_agent.lower()
    for marker, name in (
        ("azurecli", "Azure CLI"),
        ("azurepowershell", "Azure PowerShell"),
        ("terraform", "Terraform"),
        ("mozilla", "Azure Portal"),
        ("azsdk-python", "Azure SDK for Python"),
        ("azsdk-net", "Azure SDK for .NET"),
        ("azsdk-java", "Azure SDK for Java"),
        ("azsdk-js", "Azure SDK for JavaScript"),
    ):
        if marker in agent:
            return name
    return user_agent.split(" ", 1)[0].split("/", 1)[0] or "Unknown"


def _payload(request: ArmRequest) -> dict[str, Any] | Response:
    try:
        payload = request.json()
    except ValueError as error:
        return arm_error(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{error}'.",
        )
    if not isinstance(payload, dict):
        return arm_error(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return payload


def _resource_body(
    resource_id: str,
    rtype: str,
    payload: dict[str, Any],
    existing: dict[str, Any] | None,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """What a PUT stores: the request's writable fields (a replace: omitted ones go), its
    `properties` over the previous ones (state the provider computed, like endpoints and
    creation times, stays unless the request sets it), `provisioningState` Succeeded."""
    body: dict[str, Any] = {
        "id": existing["id"] if existing else resource_id,
        "name": resource_id.rsplit("/", 1)[1],
        "type": rtype,
    }
    for key in WRITABLE:
        if payload.get(key) is not None:
            body[key] = copy.deepcopy(payload[key])
    properties = copy.deepcopy((existing or {}).get("properties") or {})
    requested = payload.get("properties")
    if isinstance(requested, dict):
        for key, value in requested.items():
            if value is None:
                properties.pop(key, None)
            else:
                properties[key] = copy.deepcopy(value)
    properties["provisioningState"] = "Succeeded"
    body["properties"] = properties
    body["systemData"] = _system_data(existing, actor, now)
    return body


def _system_data(existing: dict[str, Any] | None, actor: Actor, now: datetime) -> dict[str, Any]:
    before = (existing or {}).get("systemData") or {}
    stamp = _arm_time(now)
    return {
        "createdBy": before.get("createdBy", actor.changed_by),
        "createdByType": before.get("createdByType", actor.by_type),
        "createdAt": before.get("createdAt", stamp),
        "lastModifiedBy": actor.changed_by,
        "lastModifiedByType": actor.by_type,
        "lastModifiedAt": stamp,
    }


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, null removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _place(location: Any) -> str:
    """ARM's normalized location name: "West Europe" and "westeurope" are one place."""
    return str(location or "").replace(" ", "").lower()


def _action(route: Route, request: ArmRequest) -> str:
    verb = {"DELETE": "delete", "POST": "action"}.get(request.method, "write")
    if route.name == "subscription_action":
        return f"Microsoft.Subscription/{route.types[0]}/action"
    if route.name == "resource_group":
        return f"Microsoft.Resources/subscriptions/resourceGroups/{verb}"
    if route.name == "operation":
        return "Microsoft.Resources/subscriptions/read"
    return f"{route.namespace}/{'/'.join(route.types)}/{verb}"


def _resource_not_found(route: Route) -> Response:
    pairs = "/".join(f"{t}/{n}" for t, n in zip(route.types, route.names, strict=True))
    return arm_error(
        404,
        "ResourceNotFound",
        f"The Resource '{route.namespace}/{pairs}' under resource group '{route.rg}' was not "
        "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def _arm_time(moment: datetime) -> str:
    """ARM's timestamps: UTC, seven fractional digits, Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"
