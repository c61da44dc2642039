"""A deterministic, realistic Azure estate for the emulator.

The same seed always gives the same subscriptions, resource groups and resources, so tests
and benchmarks can name what they expect. Objects are shaped exactly like ARM's REST
responses (camelCase, `properties.provisioningState`, type-specific keys) and carry the
quirks real estates have: resource-group segments in mixed case inside ids, display-form
locations on App Service and Container Apps, AKS's `ManagedClusters` type casing, names
with dots, underscores and parentheses, and a disabled subscription that still has
resources.

To stay light, resources are kept as small slotted records and their full REST body is
built on demand from a per-record hash; only mutated resources keep a full dict.
"""

from __future__ import annotations

import bisect
import copy
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"

# Supported api-versions per type: the mapping's versions, the SDKs' defaults, and a few more.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    SUBSCRIPTION_TYPE: (
        "2016-06-01",
        "2019-11-01",
        "2020-01-01",
        "2021-01-01",
        "2022-09-01",
        "2022-12-01",
    ),
    RESOURCE_GROUP_TYPE: (
        "2019-10-01",
        "2020-06-01",
        "2021-04-01",
        "2022-09-01",
        "2023-07-01",
        "2024-03-01",
        "2024-11-01",
        "2025-01-01",
        "2025-03-01",
        "2025-04-01",
    ),
    "Microsoft.App/containerApps": (
        "2022-03-01",
        "2022-10-01",
        "2023-05-01",
        "2024-03-01",
        "2025-01-01",
    ),
    "Microsoft.Storage/storageAccounts": (
        "2021-09-01",
        "2022-09-01",
        "2023-01-01",
        "2023-05-01",
        "2024-01-01",
    ),
    "Microsoft.Compute/virtualMachines": (
        "2022-11-01",
        "2023-03-01",
        "2023-09-01",
        "2024-03-01",
        "2024-07-01",
    ),
    "Microsoft.ContainerService/managedClusters": (
        "2023-01-01",
        "2023-05-01",
        "2024-02-01",
        "2024-09-01",
    ),
    "Microsoft.Network/loadBalancers": (
        "2022-07-01",
        "2023-02-01",
        "2023-09-01",
        "2024-05-01",
    ),
    "Microsoft.Network/virtualNetworks": (
        "2022-07-01",
        "2023-02-01",
        "2023-09-01",
        "2024-05-01",
    ),
    "Microsoft.Network/virtualNetworks/subnets": (
        "2022-07-01",
        "2023-02-01",
        "2023-09-01",
        "2024-05-01",
    ),
    "Microsoft.KeyVault/vaults": ("2022-07-01", "2023-02-01", "2023-07-01", "2024-11-01"),
    "Microsoft.Sql/servers": (
        "2021-11-01",
        "2022-05-01-preview",
        "2023-05-01-preview",
        "2023-08-01",
    ),
    "Microsoft.Sql/servers/databases": (
        "2021-11-01",
        "2022-05-01-preview",
        "2023-05-01-preview",
        "2023-08-01",
    ),
    "Microsoft.Web/sites": ("2022-03-01", "2022-09-01", "2023-01-01", "2023-12-01", "2024-04-01"),
}

# Top-level resource types and their share of the generated resources.
TOP_LEVEL_WEIGHTS: dict[str, int] = {
    "Microsoft.Compute/virtualMachines": 20,
    "Microsoft.Storage/storageAccounts": 18,
    "Microsoft.Web/sites": 12,
    "Microsoft.App/containerApps": 10,
    "Microsoft.Network/virtualNetworks": 10,
    "Microsoft.Network/loadBalancers": 8,
    "Microsoft.KeyVault/vaults": 8,
    "Microsoft.Sql/servers": 7,
    "Microsoft.ContainerService/managedClusters": 7,
}

# Extension (child) types: listed only under each parent (`GET {parentId}/{child}`).
CHILD_TYPES: dict[str, str] = {
    "Microsoft.Network/virtualNetworks/subnets": "Microsoft.Network/virtualNetworks",
    "Microsoft.Sql/servers/databases": "Microsoft.Sql/servers",
}

_CANONICAL = {t.lower(): t for t in API_VERSIONS}

LOCATIONS = (
    "eastus",
    "westeurope",
    "northeurope",
    "westus2",
    "uksouth",
    "centralus",
    "southeastasia",
)
_DISPLAY_LOCATIONS = {
    "eastus": "East US",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "westus2": "West US 2",
    "uksouth": "UK South",
    "centralus": "Central US",
    "southeastasia": "Southeast Asia",
}
_PAIRED = {
    "eastus": "westus",
    "westeurope": "northeurope",
    "northeurope": "westeurope",
    "westus2": "westcentralus",
    "uksouth": "ukwest",
    "centralus": "eastus2",
    "southeastasia": "eastasia",
}
_APPS = ("payments", "orders", "catalog", "identity", "search", "billing", "reports", "gateway")
_ENVS = ("prod", "staging", "dev")
_TEAMS = ("platform", "checkout", "data", "sre", "web")
_SUB_NAMES = (
    "Contoso Production",
    "Contoso Staging",
    "Contoso Development",
    "Shared Services",
    "Sandbox (Team A)",
)
_RG_NAMES = (
    "rg-platform-prod",
    "My-RG",
    "rg_legacy.app(old)",
    "rg-data.weu",
    "rg-web-staging",
    "NetworkWatcherRG",
    "rg-aks-prod",
    "DefaultResourceGroup-EUS",
)
_SUBNET_NAMES = ("default", "snet-app", "snet_data.01", "AzureBastionSubnet")
_DB_NAMES = ("orders_db", "reports(archive)", "app.db-v2")
_EPOCH = datetime(2023, 1, 2, 8, 0, 0, tzinfo=UTC)


def canonical_type(resource_type: str) -> str | None:
    """The estate's spelling of an ARM type, matched case-insensitively; None if unknown."""
    return _CANONICAL.get(resource_type.lower())


def supported_api_versions(resource_type: str) -> tuple[str, ...] | None:
    """Api-versions ARM accepts for a type (case-insensitive), or None for unknown types."""
    canonical = canonical_type(resource_type)
    return API_VERSIONS[canonical] if canonical else None


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


class _Rec:
    """One resource, compactly: its full REST body is rebuilt from `h` unless `obj` is set."""

    __slots__ = ("children", "h", "id", "location", "obj", "parent", "rg", "row", "sub", "type")

    def __init__(
        self,
        rid: str,
        rtype: str,
        sub: str,
        rg: str,
        h: int,
        location: str,
        parent: _Rec | None = None,
    ) -> None:
        self.id = rid
        self.type = rtype
        self.sub = sub
        self.rg = rg
        self.h = h
        self.location = location
        self.parent = parent
        self.children: dict[str, list[_Rec]] | None = None
        self.obj: dict[str, Any] | None = None
        self.row: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[1]


@dataclass
class Estate:
    """Subscriptions, resource groups and resources of one simulated tenant.

    Reads return REST-shaped dicts; mutate only through `add`, `replace` and `remove`
    (the emulator's change API wraps them and records changes).
    """

    seed: int
    tenant_id: str
    # Resource Graph rows are cached per record up to this many records; bigger estates
    # rebuild rows per query so memory stays flat (rows hold full bodies: ~4 KB each).
    graph_cache_limit: int = 50_000

    def __post_init__(self) -> None:
        self._subs: list[dict[str, Any]] = []
        self._sub_index: dict[str, dict[str, Any]] = {}
        self._rgs: dict[str, list[dict[str, Any]]] = {}
        self._rg_index: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_id: dict[str, _Rec] = {}
        self._by_sub_type: dict[tuple[str, str], list[_Rec]] = {}
        self.version = 0

    # ---- subscriptions and resource groups -------------------------------------------
    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """Subscription objects as `GET /subscriptions` returns them (copies)."""
        return [self._sub_body(s) for s in self._subs]

    @property
    def subscription_ids(self) -> list[str]:
        return [s["subscriptionId"] for s in self._subs]

    @property
    def disabled_subscription_ids(self) -> list[str]:
        return [s["subscriptionId"] for s in self._subs if s["state"] != "Enabled"]

    def subscription(self, subscription_id: str) -> dict[str, Any] | None:
        sub = self._sub_index.get(subscription_id.lower())
        return self._sub_body(sub) if sub else None

    def set_subscription_state(self, subscription_id: str, state: str) -> dict[str, Any]:
        """Set a subscription's `state` (Enabled, Disabled, Warned, PastDue, Deleted); returns
        its body as it was before."""
        sub = self._sub_index.get(subscription_id.lower())
        if sub is None:
            raise KeyError(f"unknown subscription {subscription_id}")
        before = self._sub_body(sub)
        sub["state"] = state
        self.version += 1
        return before

    def _sub_body(self, sub: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(sub)
        body["tenantId"] = self.tenant_id
        return body

    def resource_groups(self, subscription_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(rg) for rg in self._rgs.get(subscription_id.lower(), [])]

    def resource_group(self, subscription_id: str, name: str) -> dict[str, Any] | None:
        rg = self._rg_index.get((subscription_id.lower(), name.lower()))
        return copy.deepcopy(rg) if rg else None

    # ---- resources ---------------------------------------------------------------------
    def get(self, resource_id: str) -> dict[str, Any] | None:
        """The full REST body of a resource (case-insensitive id), or None."""
        rec = self._by_id.get(resource_id.lower())
        return copy.deepcopy(self.body(rec)) if rec else None

    def resources(
        self, subscription_id: str | None = None, resource_type: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """REST bodies of resources, optionally one subscription and/or one type.

        Child types (subnets, databases) are yielded only when asked for by type.
        """
        for rec in self.records(subscription_id, resource_type):
            yield copy.deepcopy(self.body(rec))

    def count(self, subscription_id: str | None = None, resource_type: str | None = None) -> int:
        return sum(1 for _ in self.records(subscription_id, resource_type))

    def records(
        self, subscription_id: str | None = None, resource_type: str | None = None
    ) -> Iterator[_Rec]:
        subs = (
            [subscription_id.lower()]
            if subscription_id
            else [s["subscriptionId"] for s in self._subs]
        )
        rtype = canonical_type(resource_type) if resource_type else None
        if resource_type and rtype is None:
            return
        if rtype in CHILD_TYPES:
            parent_type = CHILD_TYPES[rtype].lower()
            for sub in subs:
                for parent in self._by_sub_type.get((sub, parent_type), []):
                    yield from (parent.children or {}).get(rtype.lower(), [])
            return
        for sub in subs:
            for (s, t), recs in self._by_sub_type.items():
                if s == sub and (rtype is None or t == rtype.lower()):
                    yield from recs

    def list_type(self, subscription_id: str, resource_type: str) -> list[_Rec]:
        """Top-level records of one type in one subscription, in listing order."""
        return self._by_sub_type.get((subscription_id.lower(), resource_type.lower()), [])

    def record(self, resource_id: str) -> _Rec | None:
        return self._by_id.get(resource_id.lower())

    def children(self, parent_id: str, child_type: str) -> list[_Rec] | None:
        """Child records of `child_type` under a parent; None when the parent is unknown."""
        parent = self._by_id.get(parent_id.lower())
        if parent is None:
            return None
        return (parent.children or {}).get(child_type.lower(), [])

    def body(self, rec: _Rec) -> dict[str, Any]:
        """The REST body of a record (shared for mutated ones: callers must not modify it)."""
        if rec.obj is not None:
            return rec.obj
        return _BUILDERS[rec.type](self, rec, random.Random(rec.h))

    # ---- mutation (the emulator records changes around these) ---------------------------
    def add(self, obj: dict[str, Any]) -> None:
        """Insert a subscription-scoped resource or resource group given as a REST body."""
        rid = obj["id"]
        parts = rid.strip("/").split("/")
        if len(parts) < 4 or parts[0].lower() != "subscriptions":
            raise ValueError(f"not a resource-group or resource id: {rid}")
        sub = parts[1].lower()
        if sub not in self._sub_index:
            raise KeyError(f"unknown subscription {parts[1]}")
        rtype = canonical_type(obj.get("type", "")) or obj.get("type", "")
        if rtype == RESOURCE_GROUP_TYPE:
            key = (sub, parts[3].lower())
            if key in self._rg_index:
                raise ValueError(f"resource group exists: {rid}")
            body = copy.deepcopy(obj)
            self._rgs.setdefault(sub, []).append(body)
            self._rg_index[key] = body
            self.version += 1
            return
        if rid.lower() in self._by_id:
            raise ValueError(f"resource exists: {rid}")
        rg = self._rg_index.get((sub, parts[3].lower()))
        if rg is None:
            raise KeyError(f"unknown resource group {parts[3]}")
        rec = _Rec(rid, rtype, sub, rg["name"], 0, (obj.get("location") or "").lower())
        rec.obj = copy.deepcopy(obj)
        if rtype in CHILD_TYPES:
            parent = self._by_id.get(rid.rsplit("/", 2)[0].lower())
            if parent is None:
                raise KeyError(f"unknown parent for {rid}")
            rec.parent = parent
            parent.row = None
            parent.children = parent.children or {}
            parent.children.setdefault(rtype.lower(), []).append(rec)
        else:
            self._by_sub_type.setdefault((sub, rtype.lower()), []).append(rec)
        self._by_id[rid.lower()] = rec
        self.version += 1

    def replace(self, resource_id: str, obj: dict[str, Any]) -> None:
        """Replace the body of an existing resource or resource group."""
        rec = self._by_id.get(resource_id.lower())
        if rec is not None:
            rec.obj = copy.deepcopy(obj)
            rec.row = None
            if rec.parent is not None:  # parents embed children (a vnet's subnets)
                rec.parent.row = None
        else:
            rg = self._find_rg(resource_id)
            if rg is None:
                raise KeyError(f"not found: {resource_id}")
            rg.clear()
            rg.update(copy.deepcopy(obj))
        self.version += 1

    def remove(self, resource_id: str) -> list[dict[str, Any]]:
        """Delete a resource (with its children) or a resource group (with its resources).

        Returns the REST bodies removed, contained ones first, the target last.
        """
        rec = self._by_id.get(resource_id.lower())
        if rec is not None:
            removed = [self.body(c) for c in self._descendants(rec)] + [self.body(rec)]
            self._unlink(rec)
            self.version += 1
            return removed
        rg = self._find_rg(resource_id)
        if rg is None:
            raise KeyError(f"not found: {resource_id}")
        sub = resource_id.strip("/").split("/")[1].lower()
        removed = []
        for key in [k for k in self._by_sub_type if k[0] == sub]:
            for member in [r for r in self._by_sub_type[key] if r.rg.lower() == rg["name"].lower()]:
                removed.extend(self.body(c) for c in self._descendants(member))
                removed.append(self.body(member))
                self._unlink(member)
        self._rgs[sub].remove(rg)
        del self._rg_index[(sub, rg["name"].lower())]
        removed.append(rg)
        self.version += 1
        return removed

    def _find_rg(self, resource_id: str) -> dict[str, Any] | None:
        parts = resource_id.strip("/").split("/")
        if len(parts) != 4 or parts[2].lower() != "resourcegroups":
            return None
        return self._rg_index.get((parts[1].lower(), parts[3].lower()))

    def _descendants(self, rec: _Rec) -> list[_Rec]:
        return [c for kids in (rec.children or {}).values() for c in kids]

    def _unlink(self, rec: _Rec) -> None:
        for child in self._descendants(rec):
            self._by_id.pop(child.id.lower(), None)
        self._by_id.pop(rec.id.lower(), None)
        if rec.parent is not None:
            rec.parent.children[rec.type.lower()].remove(rec)  # type: ignore[index]
            rec.parent.row = None
        else:
            self._by_sub_type[(rec.sub, rec.type.lower())].remove(rec)

    # ---- Resource Graph rows -----------------------------------------------------------
    def graph_resources(self, subscription_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """`resources` table rows (ARG shape: lower-case type/location/resourceGroup)."""
        rows = []
        for (sub, _), recs in self._by_sub_type.items():
            if subscription_ids is not None and sub not in subscription_ids:
                continue
            for rec in recs:
                rows.append(self._row(rec))
                if rec.children and rec.type == "Microsoft.Sql/servers":
                    rows.extend(
                        self._row(c)
                        for c in rec.children.get("microsoft.sql/servers/databases", [])
                    )
        return rows

    def _row(self, rec: _Rec) -> dict[str, Any]:
        if rec.row is not None:
            return rec.row
        row = graph_row(self.body(rec), self.tenant_id)
        if len(self._by_id) <= self.graph_cache_limit:
            rec.row = row
        return row

    def graph_containers(self, subscription_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """`resourcecontainers` rows: subscriptions and resource groups."""
        rows = []
        for sub in self._subs:
            sid = sub["subscriptionId"]
            if subscription_ids is not None and sid not in subscription_ids:
                continue
            rows.append(
                {
                    "id": sub["id"],
                    "name": sub["displayName"],
                    "type": "microsoft.resources/subscriptions",
                    "tenantId": self.tenant_id,
                    "kind": "",
                    "location": "",
                    "resourceGroup": "",
                    "subscriptionId": sid,
                    "managedBy": "",
                    "sku": None,
                    "plan": None,
                    "properties": {
                        "subscriptionPolicies": sub["subscriptionPolicies"],
                        "state": sub["state"],
                        "managementGroupAncestorsChain": [
                            {"displayName": "Tenant Root Group", "name": self.tenant_id}
                        ],
                    },
                    "tags": sub.get("tags") or {},
                    "identity": None,
                    "zones": None,
                    "extendedLocation": None,
                }
            )
            rows.extend(graph_row(rg, self.tenant_id) for rg in self._rgs.get(sid, []))
        return rows


def graph_row(body: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    """Resource Graph's row for an ARM REST body."""
    parts = body["id"].split("/")
    is_rg = (body.get("type") or "").lower() == RESOURCE_GROUP_TYPE.lower()
    rg = body["name"] if is_rg else (parts[4] if len(parts) > 4 else "")
    rtype = "microsoft.resources/subscriptions/resourcegroups" if is_rg else body["type"].lower()
    return {
        "id": body["id"],
        "name": body["name"],
        "type": rtype,
        "tenantId": tenant_id,
        "kind": body.get("kind") or "",
        "location": (body.get("location") or "").replace(" ", "").lower(),
        "resourceGroup": rg.lower(),
        "subscriptionId": parts[2].lower(),
        "managedBy": body.get("managedBy") or "",
        "sku": body.get("sku"),
        "plan": body.get("plan"),
        "properties": body.get("properties") or {},
        "tags": body.get("tags") or {},
        "identity": body.get("identity"),
        "zones": body.get("zones"),
        "extendedLocation": body.get("extendedLocation"),
    }


# ---- generation ------------------------------------------------------------------------
def generate_estate(
    seed: int = 1,
    subscriptions: int = 3,
    resource_groups: int = 4,
    resources: int = 2000,
    tenant_id: str | None = None,
) -> Estate:
    """Build an estate: `resource_groups` per subscription, `resources` top-level resources.

    Child resources (1-3 subnets per virtual network, `master` + 1-2 databases per SQL
    server) come on top of `resources`. The last subscription is Disabled when there are
    at least two. Everything, GUIDs included, follows from `seed`.
    """
    rng = random.Random(seed)
    default_tenant = _guid(rng)  # always drawn, so subscription GUIDs never depend on tenant_id
    estate = Estate(seed=seed, tenant_id=tenant_id or default_tenant)
    _generate_subscriptions(estate, rng, subscriptions)
    _generate_resource_groups(estate, rng, resource_groups)
    _generate_resources(estate, rng, resources)
    return estate


def _generate_subscriptions(estate: Estate, rng: random.Random, count: int) -> None:
    for i in range(count):
        sid = _guid(rng)
        name = _SUB_NAMES[i] if i < len(_SUB_NAMES) else f"Contoso Workload {i:03d}"
        disabled = count >= 2 and i == count - 1
        sub = {
            "id": f"/subscriptions/{sid}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "tags": {"env": _ENVS[i % 3], "costCenter": f"cc-{1000 + i}"},
            "subscriptionId": sid,
            "tenantId": estate.tenant_id,
            "displayName": name,
            "state": "Disabled" if disabled else "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "EnterpriseAgreement_2014-09-01",
                "spendingLimit": "Off",
            },
        }
        if i == 1:
            sub["tags"] = {}
        estate._subs.append(sub)
        estate._sub_index[sid] = sub


def _generate_resource_groups(estate: Estate, rng: random.Random, per_sub: int) -> None:
    for sub in estate._subs:
        sid = sub["subscriptionId"]
        groups = []
        for j in range(max(per_sub, 1)):
            name = _RG_NAMES[j] if j < len(_RG_NAMES) else f"rg-app-{j:03d}"
            location = LOCATIONS[rng.randrange(len(LOCATIONS))]
            rg: dict[str, Any] = {
                "id": f"/subscriptions/{sid}/resourceGroups/{name}",
                "name": name,
                "type": RESOURCE_GROUP_TYPE,
                "location": location,
                "properties": {"provisioningState": "Succeeded"},
            }
            tags = _tags(rng.getrandbits(32), _APPS[j % len(_APPS)])
            if tags is not None:
                rg["tags"] = tags
            groups.append(rg)
            estate._rg_index[(sid, name.lower())] = rg
        estate._rgs[sid] = groups


def _generate_resources(estate: Estate, rng: random.Random, total: int) -> None:
    types = list(TOP_LEVEL_WEIGHTS)
    cumulative = []
    acc = 0
    for t in types:
        acc += TOP_LEVEL_WEIGHTS[t]
        cumulative.append(acc)
    subs = [s["subscriptionId"] for s in estate._subs]
    for k in range(total):
        sid = subs[k % len(subs)]
        groups = estate._rgs[sid]
        rg = groups[rng.randrange(len(groups))]["name"]
        rtype = types[bisect.bisect_right(cumulative, rng.random() * acc)]
        h = rng.getrandbits(62)
        name = _NAMERS[rtype](k, h)
        rid = f"/subscriptions/{sid}/{_rg_segment(rtype, rg, h)}/providers/{rtype}/{name}"
        rec = _Rec(rid, rtype, sid, rg, h, LOCATIONS[(h >> 20) % len(LOCATIONS)])
        estate._by_sub_type.setdefault((sid, rtype.lower()), []).append(rec)
        estate._by_id[rid.lower()] = rec
        if rtype in _CHILD_NAMERS:
            _generate_children(estate, rec)


def _rg_segment(rtype: str, rg: str, h: int) -> str:
    """The resource-group part of an id, with the casing quirks ARM really returns."""
    if rg == "My-RG" and (h >> 4) % 2:
        return "resourcegroups/MY-RG"
    if rtype == "Microsoft.ContainerService/managedClusters" or (h >> 8) % 10 == 0:
        return f"resourcegroups/{rg}"
    return f"resourceGroups/{rg}"


def _generate_children(estate: Estate, parent: _Rec) -> None:
    child_type, names = _CHILD_NAMERS[parent.type](parent.h)
    segment = child_type.rsplit("/", 1)[1]
    kids = []
    for i, name in enumerate(names):
        rid = f"{parent.id}/{segment}/{name}"
        child = _Rec(
            rid,
            child_type,
            parent.sub,
            parent.rg,
            (parent.h * 31 + i + 1) & (2**62 - 1),
            parent.location,
            parent,
        )
        kids.append(child)
        estate._by_id[rid.lower()] = child
    parent.children = {child_type.lower(): kids}


def _app(h: int) -> str:
    return _APPS[h % len(_APPS)]


def _env(h: int) -> str:
    return _ENVS[(h >> 3) % len(_ENVS)]


_NAMERS = {
    "Microsoft.Compute/virtualMachines": lambda k, h: (
        f"{_app(h)}.vm{k:05d}" if (h >> 12) % 4 == 0 else f"vm-{_app(h)}-{k:05d}"
    ),
    "Microsoft.Storage/storageAccounts": lambda k, h: f"st{_app(h)}{_env(h)}{k:06d}"[:24],
    "Microsoft.Web/sites": lambda k, h: f"app-{_app(h)}-{_env(h)}-{k}",
    "Microsoft.App/containerApps": lambda k, h: f"ca-{_app(h)}-{k}",
    "Microsoft.Network/virtualNetworks": lambda k, h: (
        f"vnet.hub_{k}" if (h >> 12) % 3 == 0 else f"vnet-{_app(h)}-{k}"
    ),
    "Microsoft.Network/loadBalancers": lambda k, h: (
        f"lb_{_app(h)}.internal{k}" if (h >> 12) % 3 == 0 else f"lb-{_app(h)}-{k}"
    ),
    "Microsoft.KeyVault/vaults": lambda k, h: f"kv-{_app(h)}-{k}"[:24],
    "Microsoft.Sql/servers": lambda k, h: f"sql-{_app(h)}-{_env(h)}-{k}",
    "Microsoft.ContainerService/managedClusters": lambda k, h: (
        f"aks_{_app(h)}_{k}" if (h >> 12) % 3 == 0 else f"aks-{_app(h)}-{k}"
    ),
}

_CHILD_NAMERS = {
    "Microsoft.Network/virtualNetworks": lambda h: (
        "Microsoft.Network/virtualNetworks/subnets",
        _SUBNET_NAMES[: 1 + (h >> 14) % 3],
    ),
    "Microsoft.Sql/servers": lambda h: (
        "Microsoft.Sql/servers/databases",
        ("master", *_DB_NAMES[: 1 + (h >> 14) % 2]),
    ),
}


# ---- REST bodies per type ----------------------------------------------------------------
def _tags(h: int, app: str) -> dict[str, str] | None:
    """Tags as people really set them: sometimes none, sometimes empty, inconsistent keys."""
    r = h % 100
    if r < 10:
        return None
    if r < 16:
        return {}
    env = _ENVS[(h >> 7) % 3]
    tags = {"env": env, "owner": _TEAMS[(h >> 9) % len(_TEAMS)], "app": app}
    if (h >> 11) % 3 == 0:
        tags["costCenter"] = f"cc-{1000 + (h >> 13) % 9000}"
    if (h >> 15) % 10 == 0:
        tags["Environment"] = env.capitalize()
    return tags


def _created(rec: _Rec) -> datetime:
    return _EPOCH + timedelta(seconds=(rec.h >> 24) % (600 * 86400))


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _base(estate: Estate, rec: _Rec, location: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rec.id,
        "name": rec.name,
        "type": rec.type,
        "location": location or rec.location,
    }
    tags = _tags(rec.h, _app(rec.h))
    if tags is not None:
        body["tags"] = tags
    return body


def _rg_prefix(rec: _Rec) -> str:
    return rec.id.split("/providers/", 1)[0]


def _system_data(rec: _Rec) -> dict[str, Any]:
    created = _iso(_created(rec))
    return {
        "createdBy": "deploy@contoso.com",
        "createdByType": "User",
        "createdAt": created,
        "lastModifiedBy": "deploy@contoso.com",
        "lastModifiedByType": "User",
        "lastModifiedAt": created,
    }


def _storage(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    sku = ("Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Premium_LRS")[rng.randrange(4)]
    created = _iso(_created(rec))
    name = rec.name
    endpoints = {
        k: f"https://{name}.{k}.core.windows.net/"
        for k in ("dfs", "web", "blob", "queue", "table", "file")
    }
    endpoints["web"] = f"https://{name}.z13.web.core.windows.net/"
    props: dict[str, Any] = {
        "dnsEndpointType": "Standard",
        "defaultToOAuthAuthentication": False,
        "publicNetworkAccess": "Enabled",
        "keyCreationTime": {"key1": created, "key2": created},
        "allowCrossTenantReplication": False,
        "privateEndpointConnections": [],
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": True,
        "networkAcls": {
            "bypass": "AzureServices",
            "virtualNetworkRules": [],
            "ipRules": [],
            "defaultAction": "Allow",
        },
        "supportsHttpsTrafficOnly": True,
        "encryption": {
            "requireInfrastructureEncryption": False,
            "services": {
                s: {"keyType": "Account", "enabled": True, "lastEnabledTime": created}
                for s in ("file", "blob")
            },
            "keySource": "Microsoft.Storage",
        },
        "accessTier": "Hot",
        "provisioningState": "Succeeded",
        "creationTime": created,
        "primaryEndpoints": endpoints,
        "primaryLocation": rec.location,
        "statusOfPrimary": "available",
    }
    if "GRS" in sku:
        props["secondaryLocation"] = _PAIRED[rec.location]
        props["statusOfSecondary"] = "available"
    body = {"sku": {"name": sku, "tier": sku.split("_")[0]}, "kind": "StorageV2"}
    body.update(_base(estate, rec))
    body["properties"] = props
    return body


def _vm(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    windows = "." not in rec.name and rng.random() < 0.3
    size = ("Standard_B2s", "Standard_D2s_v3", "Standard_D4s_v5", "Standard_E4s_v5")[
        rng.randrange(4)
    ]
    prefix = _rg_prefix(rec)
    if windows:
        image = {
            "publisher": "MicrosoftWindowsServer",
            "offer": "WindowsServer",
            "sku": "2022-datacenter-azure-edition",
            "version": "latest",
            "exactVersion": "20348.1726.230505",
        }
        os_config: dict[str, Any] = {
            "windowsConfiguration": {
                "provisionVMAgent": True,
                "enableAutomaticUpdates": True,
                "patchSettings": {
                    "patchMode": "AutomaticByOS",
                    "assessmentMode": "ImageDefault",
                    "enableHotpatching": False,
                },
            }
        }
    else:
        image = {
            "publisher": "Canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts-gen2",
            "version": "latest",
            "exactVersion": "22.04.202305160",
        }
        os_config = {
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "provisionVMAgent": True,
                "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
            }
        }
    disk = f"{rec.name}_OsDisk_1_{_hex(rng, 32)}"
    body = _base(estate, rec)
    if rng.random() < 0.5:
        body["zones"] = [str(1 + rng.randrange(3))]
    if rng.random() < 0.4:
        body["identity"] = {
            "type": "SystemAssigned",
            "principalId": _guid(rng),
            "tenantId": estate.tenant_id,
        }
    body["properties"] = {
        "vmId": _guid(rng),
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "imageReference": image,
            "osDisk": {
                "osType": "Windows" if windows else "Linux",
                "name": disk,
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {
                    "storageAccountType": "Premium_LRS",
                    "id": f"{prefix}/providers/Microsoft.Compute/disks/{disk}",
                },
                "deleteOption": "Delete",
                "diskSizeGB": 127 if windows else 30,
            },
            "dataDisks": [],
        },
        "osProfile": {
            "computerName": rec.name.split(".")[0][:15],
            "adminUsername": "azureuser",
            **os_config,
            "secrets": [],
            "allowExtensionOperations": True,
            "requireGuestProvisionSignal": True,
        },
        "networkProfile": {
            "networkInterfaces": [
                {
                    "id": f"{prefix}/providers/Microsoft.Network/networkInterfaces/{rec.name}-nic",
                    "properties": {"deleteOption": "Delete"},
                }
            ]
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        "provisioningState": "Succeeded",
        "timeCreated": _iso(_created(rec)),
    }
    return body


def _aks(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    version = ("1.26.6", "1.27.3", "1.28.5")[rng.randrange(3)]
    dns = f"{rec.name.replace('_', '-')}-dns"
    fqdn = f"{dns}-{_hex(rng, 8)}.hcp.{rec.location}.azmk8s.io"
    node_rg = f"MC_{rec.rg}_{rec.name}_{rec.location}"
    body = _base(estate, rec)
    body["type"] = "Microsoft.ContainerService/ManagedClusters"  # ARM really spells it so
    body["sku"] = {"name": "Base", "tier": ("Free", "Standard")[rng.randrange(2)]}
    body["identity"] = {
        "type": "SystemAssigned",
        "principalId": _guid(rng),
        "tenantId": estate.tenant_id,
    }
    count = 1 + rng.randrange(5)
    body["properties"] = {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": version,
        "currentKubernetesVersion": version,
        "dnsPrefix": dns,
        "fqdn": fqdn,
        "azurePortalFQDN": fqdn.replace(".hcp.", ".portal.hcp."),
        "agentPoolProfiles": [
            {
                "name": "nodepool1",
                "count": count,
                "vmSize": "Standard_DS2_v2",
                "osDiskSizeGB": 128,
                "osDiskType": "Managed",
                "kubeletDiskType": "OS",
                "maxPods": 110,
                "type": "VirtualMachineScaleSets",
                "enableAutoScaling": False,
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "orchestratorVersion": version,
                "currentOrchestratorVersion": version,
                "mode": "System",
                "osType": "Linux",
                "osSKU": "Ubuntu",
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202307.04.0",
                "enableFIPS": False,
            }
        ],
        "servicePrincipalProfile": {"clientId": "msi"},
        "nodeResourceGroup": node_rg,
        "enableRBAC": True,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "kubenet",
            "loadBalancerSku": "Standard",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "outboundType": "loadBalancer",
        },
        "maxAgentPools": 100,
        "identityProfile": {
            "kubeletidentity": {
                "resourceId": f"/subscriptions/{rec.sub}/resourcegroups/{node_rg}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/"
                f"{rec.name}-agentpool",
                "clientId": _guid(rng),
                "objectId": _guid(rng),
            }
        },
        "disableLocalAccounts": False,
        "oidcIssuerProfile": {"enabled": False},
    }
    return body


def _sub_resource(
    parent_id: str, kind: str, name: str, etag: str, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"{parent_id}/{kind}/{name}",
        "etag": etag,
        "type": f"Microsoft.Network/loadBalancers/{kind}",
        "properties": {"provisioningState": "Succeeded", **props},
    }


def _lb(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    etag = f'W/"{_guid(rng)}"'
    prefix = _rg_prefix(rec)
    frontend = _sub_resource(
        rec.id,
        "frontendIPConfigurations",
        "LoadBalancerFrontEnd",
        etag,
        {
            "privateIPAllocationMethod": "Dynamic",
            "publicIPAddress": {
                "id": f"{prefix}/providers/Microsoft.Network/publicIPAddresses/{rec.name}-pip"
            },
        },
    )
    pool = _sub_resource(
        rec.id, "backendAddressPools", "backend", etag, {"loadBalancerBackendAddresses": []}
    )
    probe = _sub_resource(
        rec.id,
        "probes",
        "http-probe",
        etag,
        {
            "protocol": "Tcp",
            "port": 80,
            "intervalInSeconds": 5,
            "numberOfProbes": 1,
            "probeThreshold": 1,
        },
    )
    rule = _sub_resource(
        rec.id,
        "loadBalancingRules",
        "http",
        etag,
        {
            "frontendIPConfiguration": {"id": frontend["id"]},
            "frontendPort": 80,
            "backendPort": 80,
            "enableFloatingIP": False,
            "idleTimeoutInMinutes": 4,
            "protocol": "Tcp",
            "enableTcpReset": False,
            "loadDistribution": "Default",
            "disableOutboundSnat": True,
            "backendAddressPool": {"id": pool["id"]},
            "probe": {"id": probe["id"]},
        },
    )
    body = _base(estate, rec)
    body["etag"] = etag
    body["sku"] = {"name": "Standard", "tier": "Regional"}
    body["properties"] = {
        "provisioningState": "Succeeded",
        "resourceGuid": _guid(rng),
        "frontendIPConfigurations": [frontend],
        "backendAddressPools": [pool],
        "loadBalancingRules": [rule],
        "probes": [probe],
        "inboundNatRules": [],
        "outboundRules": [],
        "inboundNatPools": [],
    }
    return body


def _vnet_octet(rec: _Rec) -> int:
    return (rec.h >> 30) % 250


def _subnet(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    index = rec.id.rsplit("/", 1)[1]
    position = _SUBNET_NAMES.index(index) if index in _SUBNET_NAMES else 9
    octet = _vnet_octet(rec.parent) if rec.parent else 0
    return {
        "name": rec.name,
        "id": rec.id,
        "etag": f'W/"{_guid(rng)}"',
        "properties": {
            "provisioningState": "Succeeded",
            "addressPrefix": f"10.{octet}.{position}.0/24",
            "delegations": [],
            "privateEndpointNetworkPolicies": "Disabled",
            "privateLinkServiceNetworkPolicies": "Enabled",
        },
        "type": "Microsoft.Network/virtualNetworks/subnets",
    }


def _vnet(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    subnets = [
        estate.body(c)
        for c in (rec.children or {}).get("microsoft.network/virtualnetworks/subnets", [])
    ]
    body = _base(estate, rec)
    body["etag"] = f'W/"{_guid(rng)}"'
    body["properties"] = {
        "provisioningState": "Succeeded",
        "resourceGuid": _guid(rng),
        "addressSpace": {"addressPrefixes": [f"10.{_vnet_octet(rec)}.0.0/16"]},
        "subnets": subnets,
        "virtualNetworkPeerings": [],
        "enableDdosProtection": False,
    }
    return body


def _vault(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    body = _base(estate, rec)
    body["systemData"] = _system_data(rec)
    rbac = rng.random() < 0.6
    body["properties"] = {
        "sku": {"family": "A", "name": ("standard", "premium")[rng.randrange(2)]},
        "tenantId": estate.tenant_id,
        "accessPolicies": []
        if rbac
        else [
            {
                "tenantId": estate.tenant_id,
                "objectId": _guid(rng),
                "permissions": {
                    "keys": ["Get", "List"],
                    "secrets": ["Get", "List"],
                    "certificates": [],
                },
            }
        ],
        "enabledForDeployment": False,
        "enabledForDiskEncryption": False,
        "enabledForTemplateDeployment": False,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": rbac,
        "vaultUri": f"https://{rec.name}.vault.azure.net/",
        "provisioningState": "Succeeded",
        "publicNetworkAccess": "Enabled",
    }
    return body


def _sql_server(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    body = {"kind": "v12.0"}
    body.update(_base(estate, rec))
    # SQL servers report `state`, not `provisioningState`, like the real service.
    body["properties"] = {
        "administratorLogin": "sqladmin",
        "version": "12.0",
        "state": "Ready",
        "fullyQualifiedDomainName": f"{rec.name}.database.windows.net",
        "privateEndpointConnections": [],
        "minimalTlsVersion": "1.2",
        "publicNetworkAccess": "Enabled",
        "restrictOutboundNetworkAccess": "Disabled",
    }
    return body


def _sql_database(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    system = rec.name == "master"
    sku = (
        {"name": "System", "tier": "System", "capacity": 0}
        if system
        else {"name": "S0", "tier": "Standard", "capacity": 10}
    )
    body: dict[str, Any] = {"sku": sku, "kind": "v12.0,system" if system else "v12.0,user"}
    if system and rec.parent is not None:
        body["managedBy"] = rec.parent.id
    body.update({"id": rec.id, "name": rec.name, "type": rec.type, "location": rec.location})
    if not system:
        tags = _tags(rec.h, _app(rec.h))
        if tags is not None:
            body["tags"] = tags
    body["properties"] = {
        "collation": "SQL_Latin1_General_CP1_CI_AS",
        "maxSizeBytes": 32212254720 if system else 268435456000,
        "status": "Online",
        "databaseId": _guid(rng),
        "creationDate": _iso(_created(rec)),
        "currentServiceObjectiveName": sku["name"],
        "requestedServiceObjectiveName": sku["name"],
        "defaultSecondaryLocation": _PAIRED.get(rec.location, ""),
        "catalogCollation": "SQL_Latin1_General_CP1_CI_AS",
        "zoneRedundant": False,
        "readScale": "Disabled",
        "currentSku": sku,
        "currentBackupStorageRedundancy": "Geo",
        "requestedBackupStorageRedundancy": "Geo",
        "maintenanceConfigurationId": f"/subscriptions/{rec.sub}/providers/"
        "Microsoft.Maintenance/publicMaintenanceConfigurations/"
        "SQL_Default",
        "isLedgerOn": False,
        "isInfraEncryptionEnabled": False,
    }
    return body


def _site(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    kind = ("app,linux", "app", "functionapp,linux")[rng.randrange(3)]
    host = f"{rec.name}.azurewebsites.net"
    prefix = _rg_prefix(rec)
    display = _DISPLAY_LOCATIONS.get(rec.location, rec.location)
    body: dict[str, Any] = {
        "id": rec.id,
        "name": rec.name,
        "type": rec.type,
        "kind": kind,
        "location": display,
    }
    tags = _tags(rec.h, _app(rec.h))
    if tags is not None:
        body["tags"] = tags
    ips = ",".join(
        f"20.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(4)
    )
    body["properties"] = {
        "name": rec.name,
        "state": "Running",
        "hostNames": [host],
        "webSpace": f"{rec.rg}-{display.replace(' ', '')}webspace",
        "repositorySiteName": rec.name,
        "usageState": "Normal",
        "enabled": True,
        "enabledHostNames": [host, f"{rec.name}.scm.azurewebsites.net"],
        "availabilityState": "Normal",
        "hostNameSslStates": [
            {"name": host, "sslState": "Disabled", "hostType": "Standard"},
            {
                "name": f"{rec.name}.scm.azurewebsites.net",
                "sslState": "Disabled",
                "hostType": "Repository",
            },
        ],
        "serverFarmId": f"{prefix}/providers/Microsoft.Web/serverfarms/plan-{_app(rec.h)}",
        "reserved": "linux" in kind,
        "isXenon": False,
        "hyperV": False,
        "lastModifiedTimeUtc": _iso(_created(rec)),
        "storageRecoveryDefaultState": "Running",
        "contentAvailabilityState": "Normal",
        "runtimeAvailabilityState": "Normal",
        "httpsOnly": rng.random() < 0.8,
        "defaultHostName": host,
        "outboundIpAddresses": ips,
        "possibleOutboundIpAddresses": ips,
        "clientAffinityEnabled": False,
        "clientCertEnabled": False,
        "resourceGroup": rec.rg,
        "publicNetworkAccess": "Enabled",
        "siteConfig": {
            "numberOfWorkers": 1,
            "linuxFxVersion": "PYTHON|3.11" if "linux" in kind else "",
            "alwaysOn": False,
            "http20Enabled": True,
            "minTlsVersion": "1.2",
            "ftpsState": "FtpsOnly",
        },
    }
    return body


def _container_app(estate: Estate, rec: _Rec, rng: random.Random) -> dict[str, Any]:
    display = _DISPLAY_LOCATIONS.get(rec.location, rec.location)
    env_name = f"cae-{_app(rec.h)}-{_env(rec.h)}"
    domain = f"{env_name}.{_hex(rng, 8)}.{rec.location}.azurecontainerapps.io"
    revision = f"{rec.name}--{_hex(rng, 7)}"
    body = _base(estate, rec, location=display)
    body["identity"] = {"type": "None"}
    body["systemData"] = _system_data(rec)
    body["properties"] = {
        "provisioningState": "Succeeded",
        "managedEnvironmentId": f"{_rg_prefix(rec)}/providers/Microsoft.App/managedEnvironments/"
        f"{env_name}",
        "outboundIpAddresses": [f"20.{rng.randrange(256)}.{rng.randrange(256)}.1"],
        "latestRevisionName": revision,
        "latestRevisionFqdn": f"{revision}.{domain}",
        "customDomainVerificationId": _hex(rng, 64),
        "configuration": {
            "secrets": [],
            "activeRevisionsMode": "Single",
            "ingress": {
                "fqdn": f"{rec.name}.{domain}",
                "external": True,
                "targetPort": 80,
                "transport": "Auto",
                "traffic": [{"weight": 100, "latestRevision": True}],
                "allowInsecure": False,
            },
            "registries": [],
            "dapr": None,
        },
        "template": {
            "containers": [
                {
                    "image": "mcr.microsoft.com/azuredocs/containerapps-helloworld:latest",
                    "name": rec.name,
                    "resources": {"cpu": 0.5, "memory": "1Gi"},
                }
            ],
            "scale": {"minReplicas": rng.randrange(2), "maxReplicas": 10},
        },
    }
    return body


_BUILDERS = {
    "Microsoft.Storage/storageAccounts": _storage,
    "Microsoft.Compute/virtualMachines": _vm,
    "Microsoft.ContainerService/managedClusters": _aks,
    "Microsoft.Network/loadBalancers": _lb,
    "Microsoft.Network/virtualNetworks": _vnet,
    "Microsoft.Network/virtualNetworks/subnets": _subnet,
    "Microsoft.KeyVault/vaults": _vault,
    "Microsoft.Sql/servers": _sql_server,
    "Microsoft.Sql/servers/databases": _sql_database,
    "Microsoft.Web/sites": _site,
    "Microsoft.App/containerApps": _container_app,
}
