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

Bad answers are reported, never fatal: an element of a page that is not a JSON object is
dropped and named (the listing is then incomplete: whatever it was, its entity must not be
deleted); the same id on two pages (ids compared as ARM does, ignoring case) is kept once,
the later copy, and named (incomplete too: a listing that shifted while it was paged may
also have skipped an item). Items missing `id`, `name` or `type`, or with `tags: null`, are
passed on: the mapping reports each one it cannot map. When Azure stops answering (throttled
or failing past its retries and deadline), the rest of the kind is not requested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .arm import ArmPipeline, ArmRequestError, is_storm, json_type
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
    stormy: bool = False  # Azure stopped answering: request nothing more in this call

    def failed(self, message: str) -> None:
        self.complete = False
        self.error = message if self.error is None else f"{self.error}; {message}"

    def extend(self, other: PartialItems) -> None:
        self.items.extend(other.items)
        self.stormy = self.stormy or other.stormy
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
        resource_group: str | None = None,
    ) -> tuple[PartialItems, int]:
        """(items read, number dropped by the resource-group tag filters).

        `resource_group`: only that group's resources (a group an incremental sync sees come
        back into the tag filters); resource groups themselves are always read whole.
        """
        lowered = kind.lower()
        if lowered == RESOURCE_GROUPS_KIND:
            groups = _unique(
                self.resource_groups(subscription_id, api_version), kind, subscription_id
            )
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
            types = list(resource_kinds.items())
            for position, (arm_type, type_version) in enumerate(types):
                if result.stormy:
                    rest = ", ".join(t for t, _ in types[position:])
                    result.failed(f"not listed after Azure stopped answering: {rest}")
                    break
                result.extend(
                    self.resources(
                        subscription_id, arm_type, type_version, kind=kind, group=resource_group
                    )
                )
        else:
            if not api_version:
                raise AzureListingError(
                    f"kind {kind} has no selector.apiVersion in the mapping",
                    kind=kind,
                    subscription_id=subscription_id,
                )
            result = self.resources(
                subscription_id, kind, api_version, kind=kind, group=resource_group
            )
        return self._filter_by_group(subscription_id, _unique(result, kind, subscription_id))

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
        self,
        subscription_id: str,
        arm_type: str,
        api_version: str,
        *,
        kind: str,
        group: str | None = None,
    ) -> PartialItems:
        namespace, _, rest = arm_type.partition("/")
        segments = [s for s in rest.split("/") if s]
        if not namespace or not segments:
            raise AzureListingError(
                f"kind {arm_type!r} is not an ARM resource type (Namespace/type)",
                kind=kind,
                subscription_id=subscription_id,
            )
        scope = f"/subscriptions/{subscription_id}"
        if group:
            scope += f"/resourceGroups/{group}"
        path = f"{scope}/providers/{namespace}/{segments[0]}"
        level = self._collect(
            path, api_version, kind=kind, subscription_id=subscription_id, arm_type=arm_type
        )
        for segment in segments[1:]:
            parents = level.items
            if self._rg_filter.active:
                parents = [p for p in parents if self._group_allowed(subscription_id, p)]
            children = PartialItems([], level.complete, level.error, level.stormy)
            for position, parent in enumerate(parents):
                if children.stormy:
                    children.failed(
                        f"{len(parents) - position} parents of {arm_type} not listed after "
                        "Azure stopped answering"
                    )
                    break
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
            for number, page in enumerate(self._arm.pages(path, api_version), start=1):
                for position, item in enumerate(page):
                    if isinstance(item, dict):
                        result.items.append(item)
                    else:
                        result.failed(
                            _not_an_object(item, number, position, kind, subscription_id, arm_type)
                        )
        except ArmRequestError as err:
            if err.status == 401:
                raise AuthorizationFailure(err) from None
            if err.status == 404 and missing_ok and not result.items:
                return result  # the parent disappeared between the two calls
            if err.status == 400 and err.code in MISCONFIGURATION_CODES:
                raise _misconfiguration(err, kind, subscription_id, api_version, arm_type) from None
            result.failed(_describe(err, kind, subscription_id, arm_type))
            result.stormy = is_storm(err)
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


def _unique(result: PartialItems, kind: str, subscription_id: str) -> PartialItems:
    """One item per ARM id (ids compared ignoring case, as ARM does); the later copy wins.

    A repeated id is reported and makes the listing incomplete: a listing that shifted while
    it was paged may have skipped another item as well, so nothing may be deleted on it.
    """
    by_id: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    repeated: list[str] = []
    for item in result.items:
        rid = item.get("id")
        key = rid.lower() if isinstance(rid, str) and rid else None
        if key is None:
            kept.append(item)  # no usable id: the mapping reports it
            continue
        if key in by_id:
            repeated.append(rid)
            kept[by_id[key]] = item
            continue
        by_id[key] = len(kept)
        kept.append(item)
    unique = PartialItems(kept, result.complete, result.error, result.stormy)
    if repeated:
        shown = ", ".join(repeated[:5]) + (
            f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        )
        unique.failed(
            f"listing {kind} in subscription {subscription_id}: ARM returned the same id more "
            f"than once ({shown}); kept the later copy of each"
        )
    return unique


def _not_an_object(
    item: Any, page: int, position: int, kind: str, subscription_id: str, arm_type: str | None
) -> str:
    what = kind if arm_type in (None, kind) else f"{kind} ({arm_type})"
    text = repr(item)
    text = text if len(text) <= 60 else text[:57] + "..."
    return (
        f"listing {what} in subscription {subscription_id}: item {position} of page {page} is "
        f"a {json_type(item)}, not a JSON object ({text}); skipped"
    )


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
