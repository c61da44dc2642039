"""ARM read routes: subscriptions, resource groups, provider listings, extension types, get by id.

Paths match case-insensitively (ARM does: `resourceGroups` = `resourcegroups`, provider
namespaces in any case) while responses keep the estate's casing. Errors use ARM's codes and
messages so clients take the same branches they take against Azure.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..server import Response
from .estate import (
    API_VERSIONS,
    CHILD_TYPES,
    RESOURCE_GROUP_TYPE,
    SUBSCRIPTION_TYPE,
    Estate,
    canonical_type,
)
from .faults import AzureFaults
from .wire import ArmRequest, arm_error, listing, skip_offset

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_FILTER_TYPE = re.compile(r"^\s*resourceType\s+eq\s+'([^']+)'\s*$", re.I)
_NAMESPACES = {t.split("/", 1)[0].lower(): t.split("/", 1)[0] for t in API_VERSIONS}
GRAPH_PATH = "/providers/microsoft.resourcegraph/resources"


@dataclass(frozen=True)
class Route:
    """A classified ARM path: the counter template and the captured parts."""

    template: str
    name: str
    sub: str = ""
    rg: str = ""
    namespace: str = ""
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def classify(path: str) -> Route | None:
    """Which ARM route a (decoded) path is, or None when ARM has no such route."""
    parts = [p for p in path.split("/") if p]
    low = [p.lower() for p in parts]
    if low == ["subscriptions"]:
        return Route("/subscriptions", "subscriptions")
    if len(low) < 2 or low[0] != "subscriptions":
        return None
    sub = parts[1]
    rest, rest_low = parts[2:], low[2:]
    if not rest:
        return Route("/subscriptions/{sub}", "subscription", sub)
    rg = ""
    prefix = "/subscriptions/{sub}"
    if rest_low[0] == "resourcegroups":
        if len(rest) == 1:
            return Route(f"{prefix}/resourcegroups", "resource_groups", sub)
        rg = rest[1]
        rest, rest_low = rest[2:], rest_low[2:]
        prefix += "/resourcegroups/{rg}"
        if not rest:
            return Route(prefix, "resource_group", sub, rg)
    if rest_low == ["resources"]:
        return Route(f"{prefix}/resources", "generic", sub, rg)
    if not rg and len(rest) == 2 and rest_low[0] == "operationresults":
        template = f"{prefix}/operationresults/{{operationId}}"
        return Route(template, "operation", sub, names=(rest[1],))
    if rest_low[0] != "providers":
        return None
    if not rg and len(rest) == 1:
        return Route(f"{prefix}/providers", "providers", sub)
    if not rg and len(rest) == 2:
        return Route(f"{prefix}/providers/{{namespace}}", "provider", sub, namespace=rest[1])
    if len(rest) < 3:
        return None
    namespace, segments = rest[1], rest[2:]
    special = _special_route(prefix, sub, rg, namespace, segments)
    if special is not None:
        return special
    types, names = tuple(segments[0::2]), tuple(segments[1::2])
    if len(segments) == 1:
        return Route(
            f"{prefix}/providers/{{namespace}}/{{type}}", "list_type", sub, rg, namespace, types
        )
    if not rg:
        return None
    if len(segments) % 2 == 0:
        return Route("/{resourceId}", "get", sub, rg, namespace, types, names)
    return Route("/{parentId}/{childType}", "list_children", sub, rg, namespace, types, names)


#: Microsoft.Subscription's subscription actions (`POST .../providers/Microsoft.Subscription/X`)
SUBSCRIPTION_ACTIONS = ("cancel", "enable")
_OPERATION_SEGMENTS = ("operations", "operationresults", "operationstatuses", "asyncoperations")


def _special_route(
    prefix: str, sub: str, rg: str, namespace: str, segments: list[str]
) -> Route | None:
    """Provider routes that are not resources: subscription actions and operation monitors."""
    low = [s.lower() for s in segments]
    if rg:
        return None
    if namespace.lower() == "microsoft.subscription" and low[0] in SUBSCRIPTION_ACTIONS:
        return Route(
            f"{prefix}/providers/Microsoft.Subscription/{{action}}",
            "subscription_action",
            sub,
            namespace=namespace,
            types=(low[0],),
        )
    if len(low) == 4 and low[0] == "locations" and low[2] in _OPERATION_SEGMENTS:
        return Route(
            f"{prefix}/providers/{{namespace}}/locations/{{location}}/{low[2]}/{{operationId}}",
            "operation",
            sub,
            namespace=namespace,
            types=(low[2],),
            names=(segments[3],),
        )
    return None


@dataclass(frozen=True)
class ArmScope:
    """All ARM routes see of the emulator, taken afresh for each request."""

    estate: Estate
    faults: AzureFaults
    lock: threading.RLock  # held while a route reads the estate (mutations take it too)
    page_size: int
    base_url: str  # where nextLinks point


class ArmRoutes:
    """Answers classified ARM routes from an estate."""

    def __init__(self, scope: ArmScope) -> None:
        self.scope = scope

    def handle(self, route: Route, request: ArmRequest) -> Response:
        if request.method != "GET":
            return arm_error(
                405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed."
            )
        if "api-version" not in request.query:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if route.sub:
            problem = self._check_subscription(route, request)
            if problem is not None:
                return problem
        handler = getattr(self, f"_{route.name}")
        with self.scope.lock:
            return handler(route, request)

    # ---- subscriptions --------------------------------------------------------------------
    def _check_subscription(self, route: Route, request: ArmRequest) -> Response | None:
        if not _GUID.match(route.sub):
            return arm_error(
                400,
                "InvalidSubscriptionId",
                f"The provided subscription identifier '{route.sub}' is malformed or invalid.",
            )
        if self.scope.faults.is_forbidden(route.sub):
            action = _read_action(route)
            principal = request.principal
            client = principal.client_id if principal else ""
            oid = principal.object_id if principal else ""
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{client}' with object id '{oid}' "
                f"does not have authorization to perform action '{action}' over scope "
                f"'/subscriptions/{route.sub}' or the scope is invalid. If access was recently "
                "granted, please refresh your credentials.",
            )
        if self.scope.estate.subscription(route.sub) is None:
            return arm_error(
                404, "SubscriptionNotFound", f"The subscription '{route.sub}' could not be found."
            )
        return None

    def _subscriptions(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, SUBSCRIPTION_TYPE)
        if bad:
            return bad
        return self._paged(self.scope.estate.subscriptions, request)

    def _subscription(self, route: Route, request: ArmRequest) -> Response:
        return _api_version(request, SUBSCRIPTION_TYPE) or Response(
            200, self.scope.estate.subscription(route.sub)
        )

    # ---- resource groups -------------------------------------------------------------------
    def _resource_groups(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        return self._paged(self.scope.estate.resource_groups(route.sub), request)

    def _resource_group(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        group = self.scope.estate.resource_group(route.sub, route.rg)
        return Response(200, group) if group else _rg_not_found(route.rg)

    # ---- providers ---------------------------------------------------------------------------
    def _providers(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        names = sorted(set(_NAMESPACES.values()) - {"Microsoft.Resources"})
        return self._paged([_provider(route.sub, n) for n in names], request)

    def _provider(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        namespace = _NAMESPACES.get(route.namespace.lower())
        if namespace is None:
            return _invalid_namespace(route.namespace)
        return Response(200, _provider(route.sub, namespace))

    def _list_type(self, route: Route, request: ArmRequest) -> Response:
        rtype, problem = self._typed(route, request, top_level=True)
        if problem:
            return problem
        estate = self.scope.estate
        records = estate.list_type(route.sub, rtype)
        if route.rg:
            records = [r for r in records if r.rg.lower() == route.rg.lower()]
        broken = self.scope.faults.broken_listing(route.sub, rtype)
        return self._paged(records, request, render=estate.body, broken=broken)

    def _list_children(self, route: Route, request: ArmRequest) -> Response:
        rtype, problem = self._typed(route, request)
        if problem:
            return problem
        estate = self.scope.estate
        parent_id = request.path.rstrip("/").rsplit("/", 1)[0]
        children = estate.children(parent_id, rtype)
        if children is None:
            short = "/".join(route.types)
            return arm_error(
                404,
                "ParentResourceNotFound",
                f"Failed to perform 'read' on resource(s) of type '{short}', "
                f"because the parent resource '{parent_id}' could not be found.",
            )
        return self._paged(children, request, render=estate.body)

    def _get(self, route: Route, request: ArmRequest) -> Response:
        _, problem = self._typed(route, request)
        if problem:
            return problem
        estate = self.scope.estate
        record = estate.record(request.path.rstrip("/"))
        if record is None:
            pairs = "/".join(f"{t}/{n}" for t, n in zip(route.types, route.names, strict=True))
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{route.namespace}/{pairs}' under resource group "
                f"'{route.rg}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )
        return Response(200, estate.body(record))

    # ---- generic resources listing -------------------------------------------------------------
    def _generic(self, route: Route, request: ArmRequest) -> Response:
        bad = _api_version(request, RESOURCE_GROUP_TYPE)
        if bad:
            return bad
        problem = self._missing_group(route)
        if problem:
            return problem
        estate = self.scope.estate
        wanted = None
        text = request.query.get("$filter")
        if text:
            match = _FILTER_TYPE.match(text)
            if not match:
                return arm_error(
                    400,
                    "InvalidFilterInQueryString",
                    f"The filter '{text}' is not supported by the emulator; use "
                    "resourceType eq '<type>'.",
                )
            wanted = match.group(1).lower()
        records = []
        for record in estate.records(route.sub):
            for item in [record, *_listed_children(record)]:
                if wanted and item.type.lower() != wanted:
                    continue
                if route.rg and item.rg.lower() != route.rg.lower():
                    continue
                records.append(item)
        offset = skip_offset(request)
        if isinstance(offset, Response):
            return offset
        chunk = records[offset : offset + self.scope.page_size]
        return listing(
            [_generic_body(estate.body(r)) for r in chunk],
            request,
            self.scope.base_url,
            offset,
            self.scope.page_size,
            len(records),
        )

    def _typed(
        self, route: Route, request: ArmRequest, *, top_level: bool = False
    ) -> tuple[str, Response | None]:
        """The route's resource type, or why not: bad namespace, type or api-version, a child
        type listed on its own (`top_level`), a resource group that does not exist."""
        rtype, problem = _resolve_type(route, request)
        if problem is None and top_level and rtype in CHILD_TYPES:
            problem = _invalid_type(route, request)
        return rtype, problem or self._missing_group(route)

    def _missing_group(self, route: Route) -> Response | None:
        if route.rg and self.scope.estate.resource_group(route.sub, route.rg) is None:
            return _rg_not_found(route.rg)
        return None

    def _paged(
        self,
        items: list[Any],
        request: ArmRequest,
        render: Callable[[Any], Any] | None = None,
        broken: tuple[int, int] | None = None,
    ) -> Response:
        """One page of `items`; bodies are rendered for that page only (large estates).

        `broken` = (pages that still work, status): the fault of a listing that breaks mid-way.
        """
        offset = skip_offset(request)
        if isinstance(offset, Response):
            return offset
        size = self.scope.page_size
        if broken and offset // size >= broken[0]:
            return arm_error(
                broken[1],
                "InternalServerError",
                "Encountered internal server error. The listing could not be continued.",
            )
        page = items[offset : offset + size]
        if render is not None:
            page = [render(item) for item in page]
        return listing(page, request, self.scope.base_url, offset, size, len(items))


# ---- helpers -------------------------------------------------------------------------------------
def _api_version(request: ArmRequest, rtype: str) -> Response | None:
    version = request.query.get("api-version", "")
    supported = API_VERSIONS[rtype]
    if version in supported:
        return None
    return arm_error(
        400,
        "InvalidApiVersionParameter",
        f"The api-version '{version}' is invalid. The supported versions are "
        f"'{','.join(reversed(supported))}'.",
    )


def _resolve_type(route: Route, request: ArmRequest) -> tuple[str, Response | None]:
    namespace = _NAMESPACES.get(route.namespace.lower())
    if namespace is None:
        return "", _invalid_namespace(route.namespace)
    rtype = canonical_type(f"{route.namespace}/{'/'.join(route.types)}")
    if rtype is None:
        return "", _invalid_type(route, request)
    version = request.query.get("api-version", "")
    supported = API_VERSIONS[rtype]
    if version not in supported:
        short = rtype.split("/", 1)[1]
        return "", arm_error(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location 'global' and API version "
            f"'{version}' for type '{short}'. The supported api-versions are "
            f"'{', '.join(reversed(supported))}'. The supported locations are "
            "'eastus, westeurope, northeurope, westus2, uksouth, centralus, southeastasia'.",
        )
    return rtype, None


def _invalid_type(route: Route, request: ArmRequest) -> Response:
    return arm_error(
        400,
        "InvalidResourceType",
        f"The resource type '{'/'.join(route.types)}' could not be found in the "
        f"namespace '{route.namespace}' for api version "
        f"'{request.query.get('api-version', '')}'.",
    )


def _invalid_namespace(namespace: str) -> Response:
    return arm_error(
        400, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid."
    )


def _rg_not_found(name: str) -> Response:
    return arm_error(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def _read_action(route: Route) -> str:
    if route.namespace and route.types:
        return f"{route.namespace}/{'/'.join(route.types)}/read"
    if route.name in ("resource_groups", "resource_group"):
        return "Microsoft.Resources/subscriptions/resourceGroups/read"
    return "Microsoft.Resources/subscriptions/read"


def _listed_children(record: Any) -> list[Any]:
    """Children the generic listing shows as resources of their own (SQL databases do)."""
    if not record.children:
        return []
    return list(record.children.get("microsoft.sql/servers/databases", []))


def _generic_body(body: dict[str, Any]) -> dict[str, Any]:
    """The thin GenericResource shape `GET .../resources` returns (no properties)."""
    keys = (
        "id",
        "name",
        "type",
        "sku",
        "kind",
        "managedBy",
        "location",
        "identity",
        "zones",
        "tags",
        "plan",
        "extendedLocation",
    )
    return {k: body[k] for k in keys if k in body}


def _provider(sub: str, namespace: str) -> dict[str, Any]:
    types = [t for t in API_VERSIONS if t.split("/", 1)[0] == namespace]
    return {
        "id": f"/subscriptions/{sub}/providers/{namespace}",
        "namespace": namespace,
        "authorizations": [{"applicationId": str(uuid.uuid5(uuid.NAMESPACE_DNS, namespace))}],
        "resourceTypes": [
            {
                "resourceType": t.split("/", 1)[1],
                "locations": [
                    "East US",
                    "West Europe",
                    "North Europe",
                    "West US 2",
                    "UK South",
                    "Central US",
                    "Southeast Asia",
                ],
                "apiVersions": list(reversed(API_VERSIONS[t])),
                "capabilities": "None",
            }
            for t in types
        ],
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
    }
