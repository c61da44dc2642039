"""`AzureReader`: the one place the pipeline reads Azure through.

It owns the credential and the SDK clients (subscriptions, ARM raw GETs, Resource Graph),
each built with the same retry policy, CA bundle, user agent and counting policies, so
every request is authenticated, retried, throttled and counted the same way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.resourcegraph import ResourceGraphClient

from azure_port_pipeline.redaction import redact

from .arm import ArmPipeline, ArmRequestError, is_storm
from .changes import GraphReader
from .changes import batches as _batches
from .counters import AzureCounters, CounterSink
from .credentials import auth_error, build_credential, is_auth_failure, scrub
from .errors import AzureAuthError, AzureRequestError
from .filters import ResourceGroupTagFilter, resource_group_key
from .listing import (
    RESOURCE_GROUPS_KIND,
    SUBSCRIPTION_KIND,
    AuthorizationFailure,
    KindLister,
)
from .models import (
    ChangeWindow,
    CurrentResources,
    GraphQueryResult,
    Listing,
    ResourceChange,
    SubscriptionListing,
)
from .policies import CountingRetryPolicy, DeadlinePolicy, RequestCountingPolicy
from .settings import AzureSettings

SUBSCRIPTIONS_TYPE = "microsoft.resources/subscriptions"
USER_AGENT = "azure-port-pipeline"
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


class AzureReader:
    """Reads subscriptions, kinds and change windows from Azure.

    Thread-safe: clients are built once, lazily; counters are locked.
    """

    def __init__(self, settings: AzureSettings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self._sink = CounterSink()
        self._credential = credential
        self._owns_credential = credential is None  # close only what this reader built
        self._lock = threading.Lock()
        self._subscription_client: SubscriptionClient | None = None
        self._graph_client: ResourceGraphClient | None = None
        self._rg_filter = ResourceGroupTagFilter(settings.rg_tags_include, settings.rg_tags_exclude)

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def from_env(cls) -> AzureReader:
        return cls(AzureSettings.from_env())

    def __enter__(self) -> AzureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for client in (self._subscription_client, self._graph_client):
                if client is not None:
                    client.close()
            self._subscription_client = self._graph_client = None
            closer = getattr(self._credential, "close", None)
            if self._owns_credential and callable(closer):
                closer()
                self._credential = None

    @property
    def rg_filters_active(self) -> bool:
        """Whether resource-group tag filters narrow what is read."""
        return self._rg_filter.active

    @property
    def counters(self) -> AzureCounters:
        """Everything this reader did since it was built (a live object)."""
        return self._sink.total

    def __repr__(self) -> str:
        return f"AzureReader(arm_endpoint={self.settings.resolved_arm_endpoint!r})"

    # --- credentials ----------------------------------------------------------------------

    def verify_credentials(self) -> None:
        """Get a token now; raise AzureAuthError naming the problem if Entra refuses."""
        try:
            self._get_credential().get_token(self.settings.credential_scope)
        except ClientAuthenticationError as err:
            raise auth_error(err, self.settings) from None

    # --- subscriptions --------------------------------------------------------------------

    def list_subscriptions(self) -> SubscriptionListing:
        """Every subscription the credential sees, narrowed by the include/exclude lists."""
        with self._sink.call() as counters:
            items, complete, error = [], True, None
            try:
                for page in self._subscriptions().subscriptions.list().by_page():
                    items.extend(subscription_record(model) for model in page)
                    self._sink.add(pages=1)
            except Exception as err:
                self._raise_if_auth(err)
                if not _is_service_error(err):
                    raise
                complete = False
                error = self._scrub(f"listing subscriptions failed: {_text(err)}")
            kept, excluded = self._narrow(items)
            seen = {str(item.get("subscription_id", "")).lower() for item in items}
            missing = [s for s in self.settings.subscriptions_include if s not in seen]
            enabled = [item for item in kept if str(item.get("state", "")).lower() == "enabled"]
            return SubscriptionListing(
                items=kept,
                enabled=enabled,
                complete=complete,
                error=error,
                excluded=excluded,
                missing_included=missing,
                counters=counters,
            )

    def get_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        """One subscription's record (the `subscription` kind's item); None if not visible.

        Raises AzureRequestError when Azure cannot answer (after retries or the deadline).
        """
        try:
            return self._get_subscription(subscription_id)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise AzureRequestError(
                self._scrub(f"reading subscription {subscription_id} failed: {_text(err)}"),
                status=getattr(err, "status_code", None),
            ) from None

    def _get_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        try:
            model = self._subscriptions().subscriptions.get(subscription_id)
        except HttpResponseError as err:
            self._raise_if_auth(err)
            if err.status_code == 404:
                return None
            raise
        except ClientAuthenticationError as err:
            raise auth_error(err, self.settings) from None
        return subscription_record(model)

    # --- kinds ----------------------------------------------------------------------------

    def list_kind(
        self,
        subscription_id: str,
        kind: str,
        api_version: str | None,
        resource_kinds: Mapping[str, str] | None = None,
        resource_group: str | None = None,
    ) -> Listing:
        """The raw objects of one mapped kind in one subscription (see listing.py), or in one
        of its resource groups."""
        with self._sink.call() as counters:
            if kind.lower() == SUBSCRIPTION_KIND:
                return self._list_subscription_kind(subscription_id, kind, counters)
            lister = KindLister(self._arm(), self._rg_filter)
            try:
                result, filtered = lister.list(
                    subscription_id,
                    kind,
                    api_version,
                    dict(resource_kinds or {}) or None,
                    resource_group=resource_group,
                )
            except AuthorizationFailure as err:
                raise self._arm_auth_error(err.error) from None
            except ClientAuthenticationError as err:
                raise auth_error(err, self.settings) from None
            return Listing(
                kind=kind,
                subscription_id=subscription_id,
                items=result.items,
                complete=result.complete,
                error=self._scrub(result.error),
                filtered_out=filtered,
                counters=counters,
            )

    def get_by_id(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        """The current full object of a resource; None when it does not exist (404).

        Raises ArmRequestError for other failures (after retries).
        """
        with self._sink.call():
            return self._get_by_id(resource_id, api_version)

    # --- change windows -------------------------------------------------------------------

    def change_window(
        self, subscription_ids: Sequence[str], start: datetime, end: datetime
    ) -> ChangeWindow:
        """Latest change per resource in [start, end) for the subscriptions (Resource Graph)."""
        with self._sink.call() as counters:
            reader = self._graph_reader()
            try:
                changes, complete, error = reader.changes(subscription_ids, start, end)
            except ClientAuthenticationError as err:
                raise auth_error(err, self.settings) from None
            except HttpResponseError as err:
                self._raise_if_auth(err)
                raise AzureRequestError(
                    self._scrub(f"reading changes from Resource Graph failed: {_text(err)}"),
                    status=err.status_code,
                ) from None
            return ChangeWindow(
                start=start,
                end=end,
                subscription_ids=list(subscription_ids),
                changes=changes,
                complete=complete,
                error=self._scrub(error),
                counters=counters,
            )

    def query_resource_graph(self, query: str, subscription_ids: Sequence[str]) -> GraphQueryResult:
        """Any KQL query, every page, in batches of subscriptions (e.g. reconciliation counts).

        Raises AzureQueryError when Resource Graph rejects the query (400).
        """
        with self._sink.call() as counters:
            graph = self._graph_reader()
            rows: list[dict[str, Any]] = []
            complete, errors = True, []
            try:
                for batch in _batches(list(subscription_ids), self.settings.graph_batch_size):
                    outcome = graph.query(batch, query)
                    rows.extend(outcome.rows)
                    if not outcome.complete:
                        complete = False
                        errors.append(outcome.error or "incomplete")
                        break  # Azure stopped answering: the other batches would wait too
            except ClientAuthenticationError as err:
                raise auth_error(err, self.settings) from None
            error = self._scrub("; ".join(errors) or None)
            return GraphQueryResult(rows, complete, error, counters)

    def fetch_current(
        self, changes: Iterable[ResourceChange], api_versions: Mapping[str, str]
    ) -> CurrentResources:
        """The current object of each changed resource, by id, with its kind's api-version.

        `api_versions` maps ARM type (any casing) to api-version; changes of other types are
        `skipped`. Every id is read, Deletes included; a 404 is `deleted`. Resources in groups
        the tag filters exclude are `filtered_out`. Subscriptions come back as subscription records.
        """
        versions = {k.lower(): v for k, v in api_versions.items()}
        with self._sink.call() as counters:
            result = CurrentResources(items=[], deleted=[], complete=True, counters=counters)
            group_tags: dict[tuple[str, str], dict[str, Any] | None] = {}
            stopped: str | None = None
            for change in changes:
                if stopped is not None:  # Azure stopped answering: do not wait once per id
                    result.errors[change.resource_id] = f"not read: {stopped}"
                    result.transient.append(change.resource_id)
                    continue
                stopped = self._fetch_one(change, versions, group_tags, result)
            result.errors = {rid: self._scrub(text) or "" for rid, text in result.errors.items()}
            result.complete = not result.errors
            return result

    # --- internals ------------------------------------------------------------------------

    def _fetch_one(
        self,
        change: ResourceChange,
        versions: dict[str, str],
        group_tags: dict[tuple[str, str], dict[str, Any] | None],
        result: CurrentResources,
    ) -> str | None:
        """Read one changed resource into `result`; the reason to stop reading, if any."""
        rid, rtype = change.resource_id, change.resource_type.lower()
        try:  # a Delete is read too: a resource re-created since is current, not deleted
            if rtype == SUBSCRIPTIONS_TYPE:
                record = self._get_subscription(rid.rstrip("/").split("/")[-1])
                (result.items.append(record) if record else result.deleted.append(rid))
                return None
            version = versions.get(rtype)
            if version is None:
                result.skipped.append(rid)
                return None
            current = self._get_by_id(rid, version)
            if current is not None and self._rg_filter.active:
                is_group = rtype == RESOURCE_GROUPS_KIND
                passes = (
                    self._rg_filter.allows(current.get("tags"))
                    if is_group
                    else self._group_passes(rid, group_tags)
                )
                if not passes:
                    result.filtered_out.append(rid)
                    return None
        except ArmRequestError as err:
            result.errors[rid] = str(err)
            if is_storm(err):
                result.transient.append(rid)
                return _STOPPED
            return None
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            result.errors[rid] = _text(err)
            status = getattr(err, "status_code", None)
            if status is None or status == 429 or status >= 500:
                result.transient.append(rid)
                return _STOPPED
            return None
        if current is None:
            result.deleted.append(rid)
        else:
            result.items.append(current)
        return None

    def _group_passes(
        self, resource_id: str, cache: dict[tuple[str, str], dict[str, Any] | None]
    ) -> bool:
        key = resource_group_key(resource_id)
        if key is None:
            return self._rg_filter.allows({})
        if key not in cache:
            group = self._get_by_id(
                f"/subscriptions/{key[0]}/resourceGroups/{key[1]}", _RG_API_VERSION
            )
            cache[key] = group
        group = cache[key]
        return group is not None and self._rg_filter.allows(group.get("tags"))

    def _get_by_id(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        try:
            return self._arm().get(resource_id, api_version)
        except ArmRequestError as err:
            if err.status == 401:
                raise self._arm_auth_error(err) from None
            raise
        except ClientAuthenticationError as err:
            raise auth_error(err, self.settings) from None

    def _list_subscription_kind(
        self, subscription_id: str, kind: str, counters: AzureCounters
    ) -> Listing:
        try:
            record = self._get_subscription(subscription_id)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            return Listing(
                kind,
                subscription_id,
                [],
                False,
                self._scrub(f"reading subscription {subscription_id} failed: {_text(err)}"),
                counters=counters,
            )
        if record is not None:
            self._sink.add(pages=1)
        return Listing(kind, subscription_id, [record] if record else [], True, counters=counters)

    def _narrow(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        include = set(self.settings.subscriptions_include)
        exclude = set(self.settings.subscriptions_exclude)
        kept, excluded = [], []
        for item in items:
            sid = str(item.get("subscription_id", "")).lower()
            if (include and sid not in include) or sid in exclude:
                excluded.append(sid)
            else:
                kept.append(item)
        return kept, excluded

    def _scrub(self, text: str | None) -> str | None:
        """A message with the client secret, bearer tokens and JWTs removed."""
        return scrub(text, self.settings) if text else text

    def _raise_if_auth(self, err: Exception) -> None:
        if is_auth_failure(err):
            raise auth_error(err, self.settings) from None

    def _arm_auth_error(self, err: ArmRequestError) -> AzureAuthError:
        return auth_error(_Refused(f"ARM refused the token: {err}", err.code), self.settings)

    def _get_credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                self._credential = build_credential(self.settings)
            return self._credential

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        connect = min(s.timeout, 30.0)
        kwargs: dict[str, Any] = {
            "base_url": s.resolved_arm_endpoint,
            "credential_scopes": [s.credential_scope],
            "retry_policy": CountingRetryPolicy(
                self._sink,
                deadline_seconds=s.deadline_seconds,
                retry_total=s.retry_total,
                retry_backoff_factor=s.retry_backoff_factor,
                retry_backoff_max=s.retry_backoff_max,
            ),
            "per_retry_policies": [
                DeadlinePolicy(read_timeout=s.timeout, connection_timeout=connect),
                RequestCountingPolicy(self._sink),
            ],
            "user_agent": USER_AGENT,
            "read_timeout": s.timeout,
            "connection_timeout": connect,
        }
        if s.ca_bundle:
            kwargs["connection_verify"] = s.ca_bundle
        return kwargs

    def _subscriptions(self) -> SubscriptionClient:
        credential = self._get_credential()
        with self._lock:
            if self._subscription_client is None:
                self._subscription_client = SubscriptionClient(credential, **self._client_kwargs())
            return self._subscription_client

    def _arm(self) -> ArmPipeline:
        client = self._subscriptions()
        # The generated client's pipeline (ARMPipelineClient): auth, retry, counting policies.
        return ArmPipeline(client._client, self.settings.resolved_arm_endpoint, self._sink)

    def _graph_reader(self) -> GraphReader:
        return GraphReader(
            self._graph(),
            self._sink,
            page_size=self.settings.graph_page_size,
            batch_size=self.settings.graph_batch_size,
            max_throttle_waits=self.settings.graph_max_throttle_waits,
            max_wait_seconds=self.settings.graph_max_wait_seconds,
            deadline_seconds=self.settings.deadline_seconds,
        )

    def _graph(self) -> ResourceGraphClient:
        credential = self._get_credential()
        with self._lock:
            if self._graph_client is None:
                self._graph_client = ResourceGraphClient(credential, **self._client_kwargs())
            return self._graph_client


_RG_API_VERSION = "2022-09-01"
_STOPPED = "Azure stopped answering earlier in this call (see the first error)"


class _Refused(Exception):
    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.error = type("E", (), {"code": code})()


def subscription_record(model: Any) -> dict[str, Any]:
    """A subscription as Port's default mapping reads it: snake_case keys, like the
    msrest-era SDK `as_dict()` (the current SDK's `as_dict()` keeps REST camelCase).
    Tag names are user data and keep their spelling."""
    raw = model.as_dict() if hasattr(model, "as_dict") else dict(model)
    return _snake(raw)


def _snake(value: Any, *, key: str | None = None) -> Any:
    if isinstance(value, dict):
        if key == "tags":
            return dict(value)
        return {_snake_key(k): _snake(v, key=_snake_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _snake_key(key: str) -> str:
    return _CAMEL.sub(r"_\1", key).lower()


def _is_service_error(err: Exception) -> bool:
    return isinstance(err, HttpResponseError | ServiceRequestError | ServiceResponseError)


def _text(err: Exception) -> str:
    message = " ".join(str(getattr(err, "message", None) or err).split())
    status = getattr(err, "status_code", None)
    return redact(f"HTTP {status}: {message}" if status else message)
