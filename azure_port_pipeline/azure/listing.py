"""Listing one mapped kind in one subscription, with full REST objects.

Kinds, as Port's Azure mapping names them:
- an ARM type (`Microsoft.Storage/storageAccounts`): the provider's list call;
- an extension type (`Microsoft.Network/virtualNetworks/subnets`, more than one `/` after
  the namespace): the top-level parents, then each level's children under each parent;
- `Microsoft.Resources/resourceGroups`: the subscription's resource groups;
- `cloudResource`: each type of its `resourceKinds` with that type's api-version.

Each result is complete only if every page of every call was read. A failure keeps what
was read and says why; an api-version Azure rejects raises instead (fixing the mapping is
the only cure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .arm import ArmPipeline, ArmRequestError
from .errors import AzureListingError
from .filters import ResourceGroupTagFilter, resource_group_key

RESOURCE_GROUPS_KIND = "microsoft.resources/resourcegroups"
CLOUD_RESOURCE_KIND = "cloudresource"
SUBSCRIPTION_KIND = "subscription"
DEFAULT_RESOURCE_GROUPS_API_VERSION = "2022-09-01"

#: 400 error codes meaning "this kind/api-version can never be listed": a mapping mistake.
MISCONFIGURATION_CODES = frozenset(
    {
        "NoRegisteredProviderFound",
        "InvalidApiVersionParameter",
        "InvalidResourceType",
        "InvalidResourceNamespace",
        "InvalidApiVersion",
    }
)
_SUPPORTED_VERSIONS = re.compile(r"supported api-versions are '([^']*)'", re.IGNORECASE)


class AuthorizationFailure(Exception):
    """ARM answered 401 to a list call: the token was refused (the reader raises AzureAuthError)."""

    def __init__(self, error: ArmRequestError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class PartialItems:
    items: list[dict[str, Any]]
    complete: bool = True
    error: str | None = None

    def failed(self, message: str) -> None:
        self.complete = False
        self.error = message if self.error is None else f"{self.error}; {message}"

    def extend(self, other: PartialItems) -> None:
        self.items.extend(other.items)
        if not other.complete:
            self.failed(other.error or "incomplete")


class KindLister:
    """Lists kinds for one subscription through an `ArmPipeline`."""

    def __init__(self, arm: ArmPipeline, rg_filter: ResourceGroupTagFilter) -> None:
        self._arm = arm
        self._rg_filter = rg_filter
        self._groups_cache: dict[str, tuple[set[tuple[str, str]], PartialItems]] = {}

    # --- entry point ----------------------------------------------------------------------

    def list(
        self,
        subscription_id: str,
        kind: str,
        api_version: str | None,
        resource_kinds: dict[str, str] | None = None,
    ) -> tuple[PartialItems, int]:
        """(items read, number dropped by the resource-group tag filters)."""
        lowered = kind.lower()
        if lowered == RESOURCE_GROUPS_KIND:
            groups = self.resource_groups(subscription_id, api_version)
            kept = [g for g in groups.items if self._rg_filter.allows(g.get("tags"))]
            return PartialItems(kept, groups.complete, groups.error), len(groups.items) - len(kept)
        if lowered == CLOUD_RESOURCE_KIND:
            if not resource_kinds:
                raise AzureListingError(
                    "kind cloudResource needs selector.resourceKinds ({ARM type: apiVersion})",
                    kind=kind,
                    subscription_id=subscription_id,
                )
            result = PartialItems([])
            for arm_type, type_version in resource_kinds.items():
                result.extend(self.resources(subscription_id, arm_type, type_version, kind=kind))
        else:
            if not api_version:
                raise AzureListingError(
                    f"kind {kind} has no selector.apiVersion in the mapping",
                    kind=kind,
                    subscription_id=subscription_id,
                )
            result = self.resources(subscription_id, kind, api_version, kind=kind)
        return self._filter_by_group(subscription_id, result)

    # --- resource groups ------------------------------------------------------------------

    def resource_groups(self, subscription_id: str, api_version: str | None) -> PartialItems:
        path = f"/subscriptions/{subscription_id}/resourcegroups"
        version = api_version or DEFAULT_RESOURCE_GROUPS_API_VERSION
        return self._collect(
            path,
            version,
            kind="Microsoft.Resources/resourceGroups",
            subscription_id=subscription_id,
        )

    # --- resources ------------------------------------------------------------------------

    def resources(
        self, subscription_id: str, arm_type: str, api_version: str, *, kind: str
    ) -> PartialItems:
        namespace, _, rest = arm_type.partition("/")
        segments = [s for s in rest.split("/") if s]
        if not namespace or not segments:
            raise AzureListingError(
                f"kind {arm_type!r} is not an ARM resource type (Namespace/type)",
                kind=kind,
                subscription_id=subscription_id,
            )
        path = f"/subscriptions/{subscription_id}/providers/{namespace}/{segments[0]}"
        level = self._collect(
            path, api_version, kind=kind, subscription_id=subscription_id, arm_type=arm_type
        )
        for segment in segments[1:]:
            parents = level.items
            if self._rg_filter.active:
                parents = [p for p in parents if self._group_allowed(subscription_id, p)]
            children = PartialItems([], level.complete, level.error)
            for parent in parents:
                children.extend(
                    self._children(parent, segment, api_version, kind, subscription_id, arm_type)
                )
            level = children
        return level

    def _children(
        self,
        parent: dict[str, Any],
        segment: str,
        api_version: str,
        kind: str,
        subscription_id: str,
        arm_type: str,
    ) -> PartialItems:
        parent_id = str(parent.get("id") or "")
        if not parent_id:
            return PartialItems([], False, f"a parent of {arm_type} has no id")
        result = self._collect(
            f"{parent_id}/{segment}",
            api_version,
            kind=kind,
            subscription_id=subscription_id,
            arm_type=arm_type,
            missing_ok=True,
        )
        return result

    # --- shared ---------------------------------------------------------------------------

    def _collect(
        self,
        path: str,
        api_version: str,
        *,
        kind: str,
        subscription_id: str,
        arm_type: str | None = None,
        missing_ok: bool = False,
    ) -> PartialItems:
        """Every page of one list call; on failure, what was read plus the reason."""
        result = PartialItems([])
        try:
            for page in self._arm.pages(path, api_version):
                result.items.extend(page)
        except ArmRequestError as err:
            if err.status == 401:
                raise AuthorizationFailure(err) from None
            if err.status == 404 and missing_ok and not result.items:
                return result  # the parent disappeared between the two calls
            if err.status == 400 and err.code in MISCONFIGURATION_CODES:
                raise _misconfiguration(err, kind, subscription_id, api_version, arm_type) from None
            result.failed(_describe(err, kind, subscription_id, arm_type))
        return result

    def _filter_by_group(
        self, subscription_id: str, result: PartialItems
    ) -> tuple[PartialItems, int]:
        if not self._rg_filter.active:
            return result, 0
        allowed, groups = self._allowed_groups(subscription_id)
        kept = [item for item in result.items if _in_allowed(item, allowed, self._rg_filter)]
        filtered = PartialItems(kept, result.complete, result.error)
        if not groups.complete:
            filtered.failed(f"resource groups needed by the tag filters: {groups.error}")
        return filtered, len(result.items) - len(kept)

    def _group_allowed(self, subscription_id: str, item: dict[str, Any]) -> bool:
        allowed, _ = self._allowed_groups(subscription_id)
        return _in_allowed(item, allowed, self._rg_filter)

    def _allowed_groups(self, subscription_id: str) -> tuple[set[tuple[str, str]], PartialItems]:
        """(subscription, group) keys passing the tag filters; read once per lister."""
        if subscription_id not in self._groups_cache:
            groups = self.resource_groups(subscription_id, None)
            allowed = {
                key
                for g in groups.items
                if self._rg_filter.allows(g.get("tags"))
                and (key := resource_group_key(str(g.get("id"))))
            }
            self._groups_cache[subscription_id] = (allowed, groups)
        return self._groups_cache[subscription_id]


def _in_allowed(
    item: dict[str, Any], allowed: set[tuple[str, str]], rg_filter: ResourceGroupTagFilter
) -> bool:
    key = resource_group_key(str(item.get("id") or ""))
    if key is None:  # above resource-group level: only an exclude-only filter lets it through
        return rg_filter.allows({})
    return key in allowed


def _describe(err: ArmRequestError, kind: str, subscription_id: str, arm_type: str | None) -> str:
    what = kind if arm_type in (None, kind) else f"{kind} ({arm_type})"
    if err.status == 403:
        return (
            f"listing {what} in subscription {subscription_id} was refused (403 {err.code or ''}): "
            f"{err.message} - the credential lacks read access (e.g. Reader role) there"
        )
    return f"listing {what} in subscription {subscription_id} failed: {err}"


def _misconfiguration(
    err: ArmRequestError, kind: str, subscription_id: str, api_version: str, arm_type: str | None
) -> AzureListingError:
    match = _SUPPORTED_VERSIONS.search(err.message)
    supported = [v.strip() for v in match.group(1).split(",") if v.strip()] if match else []
    arm_type = arm_type or kind
    message = (
        f"Azure rejected api-version {api_version} for {arm_type} (mapping kind {kind}) in "
        f"subscription {subscription_id}: {err.code}: {err.message}"
    )
    if supported:
        message += f" Supported api-versions: {', '.join(supported)}."
    message += " Fix selector.apiVersion in the mapping."
    return AzureListingError(
        message,
        kind=kind,
        subscription_id=subscription_id,
        api_version=api_version,
        code=err.code,
        supported_api_versions=supported,
    )
