"""An Azure emulator the unmodified azure-identity / azure-mgmt SDKs talk to over HTTPS.

One host serves Entra (OpenID discovery + client-credentials tokens), ARM reads and writes and
Resource Graph, backed by a deterministic `Estate`. Tests and the pipeline point the SDKs at it
with `authority=base_url`, `base_url=base_url` and `connection_verify=ca_file`; nothing in the
clients changes.

Every write goes through one path: ARM's PUT / PATCH / DELETE handlers (`writes`) and the
Python write methods (`put_resource`, `create_resource`, `update_resource`, `delete_resource`,
`set_subscription_state`) change the estate, record Resource Graph change rows (visible after
`change_delay` seconds, kept 14 days, both on the emulator's `clock`) and optionally publish
Event Grid events to a Storage Queue, so the incremental and real-time paths can be exercised
end to end. Events use the Event Grid schema or, with `event_schema = "cloudevents"`,
CloudEvents 1.0; `faults` can delay, duplicate, reorder them or slip in an undecodable message.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..server import HttpServer, Request, RequestCounters, Response, Service, ShutdownSignals
from ..tls import TlsMaterial, make_tls
from .arm import GRAPH_PATH, ArmRoutes, ArmScope, classify
from .entra import AuthFailure, Entra, entra_route
from .estate import (
    API_VERSIONS,
    RESOURCE_GROUP_TYPE,
    SUBSCRIPTION_TYPE,
    Estate,
    canonical_type,
    generate_estate,
)
from .events import (
    CLOUD_EVENTS_SCHEMA,
    DEPLOYER,
    EVENT_GRID_SCHEMA,
    EVENT_SCHEMAS,
    UNDECODABLE_MESSAGE,
    Actor,
    Change,
    ChangeLog,
    QueuePublisher,
    apply_changes,
    cloud_event,
    diff,
    encode_message,
    event_grid_event,
    scrub,
)
from .faults import ARM, GRAPH, AzureFaults, EventDelivery
from .graph import GraphQuota, GraphScope, ResourceGraph
from .wire import ArmRequest, arm_error
from .writes import ArmWrites, Operations

__all__ = ["DEFAULT_CHANGE_DELAY", "AzureEmulator", "EventPublishError", "serve"]

#: seconds a standalone emulator (`emulate azure`) takes to "ingest" a change row; Azure takes
#: up to about 5 minutes, a demo wants seconds. `AzureEmulator` itself defaults to 0.
DEFAULT_CHANGE_DELAY = 5.0

_log = logging.getLogger(__name__)


class EventPublishError(RuntimeError):
    """The change was applied but its Event Grid event could not be queued."""


class AzureEmulator(Service):
    """Entra + ARM + Resource Graph on https://127.0.0.1:PORT for one estate.

    change_delay: seconds from a write until Resource Graph shows its change row (0: at once;
    settable later through the `change_delay` attribute). `clock`: the emulator's now, which
    ingestion, retention and KQL's now() / ago() read; tests replace it to move time.
    """

    def __init__(
        self,
        estate: Estate,
        tenant_id: str | None = None,
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        page_size: int = 100,
        token_lifetime: float = 3599,
        rg_quota: int | None = 15,
        rg_quota_window: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        ca_file: str | None = None,
        change_delay: float = 0.0,
    ) -> None:
        if tenant_id and tenant_id != estate.tenant_id:
            estate.tenant_id = tenant_id
        self.estate = estate
        self.tenant_id = estate.tenant_id
        self.client_id = client_id
        self.page_size = page_size
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.entra = Entra(self.tenant_id, client_id, client_secret, token_lifetime)
        self.faults = AzureFaults()
        self.graph_quota = GraphQuota(rg_quota, rg_quota_window)
        self.changes = ChangeLog(estate.seed)
        # seconds from a write until Resource Graph shows its change row (Azure: minutes)
        self.change_delay = change_delay
        self.operations = Operations()  # long-running operations ARM writes started
        # (connection string, queue name): where Event Grid events go; None: nowhere
        self.event_queue: tuple[str, str] | None = None
        self._event_schema = EVENT_GRID_SCHEMA
        # one sender at a time, so the order faults.plan_events decides is the order sent
        self._events_lock = threading.Lock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._counters = RequestCounters()
        self._ca_target = ca_file
        self._tls: TlsMaterial | None = None
        self._server: HttpServer | None = None
        self._publisher: QueuePublisher | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving on a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._tls = make_tls(self._ca_target)
        self._server = HttpServer(
            self.handle,
            _internal_error,
            host=self.host,
            port=self.port,
            tls=self._tls.server_context,
            name="azure-emulator",
            server_version="AzureEmulator/1.0",
            idle_timeout=60,
            counters=self._counters,
        )
        self._server.start()
        self.port = self._server.port
        return self.base_url

    def stop(self) -> None:
        """Stop serving; events the reorder fault still holds are sent first (they are writes
        that happened), and a queue that cannot take them is logged, not raised, so stopping
        always completes."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        try:
            self.flush_events()
        except EventPublishError as error:
            _log.warning("azure emulator: held events lost on stop: %s", error)
        with self._events_lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def authority_host(self) -> str:
        return self.base_url

    @property
    def ca_file(self) -> str:
        if self._tls is None:
            raise RuntimeError("start() the emulator first: the CA is made on start")
        return self._tls.ca_file

    def now(self) -> datetime:
        return self.clock()

    @property
    def event_schema(self) -> str:
        """The schema events are published in: "eventgrid" (default) or "cloudevents" (1.0),
        the two an Event Grid subscription can deliver."""
        return self._event_schema

    @event_schema.setter
    def event_schema(self, schema: str) -> None:
        # checked here, not at publish time, when a write has already changed the estate
        if schema not in EVENT_SCHEMAS:
            raise ValueError(f"event_schema must be one of {', '.join(EVENT_SCHEMAS)}")
        self._event_schema = schema

    def flush_events(self) -> int:
        """Send the events `faults.reorder_events` is holding back (reversed, as a partial
        group); returns how many messages were sent. Nothing is sent without `event_queue`."""
        if self.event_queue is None:
            return 0
        with self._events_lock:
            deliveries = self.faults.release_held()
            self._send(deliveries)
        return len(deliveries)

    def prepare_event_queue(self) -> str:
        """Create the events queue unless it exists; returns the queue service's host, which
        is safe to print (the connection string's key and SAS are not in it)."""
        if self.event_queue is None:
            raise RuntimeError("set event_queue first")
        with self._events_lock:
            try:
                publisher = self._queue_publisher()
                publisher.ensure_queue()
            except Exception as error:
                raise self._publish_error("could not create the events queue", error) from None
            return publisher.endpoint_host

    @property
    def counters(self) -> Counter[str]:
        """Requests by "METHOD route-template" (a copy), e.g. "GET /subscriptions"."""
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        self._counters.clear()

    def expire_tokens(self) -> None:
        """Expire every token issued so far (clients then get 401 ExpiredAuthenticationToken)."""
        self.entra.expire_tokens()

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register another service principal of the tenant."""
        self.entra.add_client(client_id, client_secret)

    # ---- writes: one path for ARM's HTTP writes and the mutation API ------------------------
    # ARM's PUT / PATCH / DELETE handlers (`writes.ArmWrites`) validate and shape a request,
    # then call `put_resource`, `delete_resource` or `set_subscription_state`, exactly what
    # tests and the demo call: the estate changes, one change row per changed resource is
    # recorded (visible to Resource Graph after `change_delay`), and an Event Grid event is
    # queued when `event_queue` is set.
    def put_resource(
        self,
        obj: dict[str, Any],
        at: datetime | None = None,
        *,
        actor: Actor | None = None,
        changed_by: str | None = None,
        delay: float | None = None,
        http_method: str = "PUT",
        correlation_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Create or replace a resource or resource group (REST body with `id` and `type`).

        Returns ("Create", body), ("Update", body), or ("", body) when nothing changed (ARM
        records no change then). `at`: the change's timestamp (default: the emulator's now);
        `delay`: seconds until its row is ingested (default: `change_delay`).
        """
        return self._put(
            obj,
            at,
            self._actor(actor, changed_by),
            delay,
            http_method,
            correlation_id=correlation_id,
        )

    def create_resource(
        self,
        obj: dict[str, Any],
        at: datetime | None = None,
        *,
        changed_by: str | None = None,
        actor: Actor | None = None,
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Add a resource or resource group (REST body with at least `id` and `type`); a
        ValueError if it exists."""
        _, body = self._put(obj, at, self._actor(actor, changed_by), delay, "PUT", create_only=True)
        return body

    def update_resource(
        self,
        resource_id: str,
        changes: dict[str, Any],
        at: datetime | None = None,
        *,
        changed_by: str | None = None,
        actor: Actor | None = None,
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Apply dotted-path values and/or a merge patch; records an Update with the diff."""
        with self.lock:
            after = apply_changes(self._current(resource_id), changes)
            _, body, event = self._put_locked(
                after, at, self._actor(actor, changed_by), delay, "PATCH"
            )
        self._publish([event] if event else [])
        return body

    def delete_resource(
        self,
        resource_id: str,
        at: datetime | None = None,
        *,
        changed_by: str | None = None,
        actor: Actor | None = None,
        delay: float | None = None,
        correlation_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Delete a resource (and children) or a resource group (and its resources): one
        Delete row per removed resource, the group's in `resourcecontainerchanges`."""
        who = self._actor(actor, changed_by)
        correlation = correlation_id or self.changes.guid()
        with self.lock:
            removed = self.estate.remove(resource_id)
            events = [
                self._record("Delete", body, at, who, delay=delay, correlation_id=correlation)
                for body in removed
            ]
        self._publish([e for e in events if e])
        return removed

    def set_subscription_state(
        self,
        subscription_id: str,
        state: str,
        at: datetime | None = None,
        *,
        actor: Actor | None = None,
        changed_by: str | None = None,
        delay: float | None = None,
        http_method: str = "POST",
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Set a subscription's state (Enabled, Disabled, Warned, PastDue, Deleted), as the
        Microsoft.Subscription `cancel` / `enable` actions do; records an Update of
        `properties.state` in `resourcecontainerchanges`. Returns the subscription body."""
        who = self._actor(actor, changed_by)
        with self.lock:
            before = self.estate.set_subscription_state(subscription_id, state)
            after = self.estate.subscription(subscription_id) or before
            delta = diff(
                {"properties": {"state": before["state"]}}, {"properties": {"state": state}}
            )
            event = None
            if delta:
                action = {"Enabled": "enable", "Disabled": "cancel"}.get(state)
                event = self._record(
                    "Update",
                    {"id": after["id"], "type": SUBSCRIPTION_TYPE},
                    at,
                    who,
                    delta,
                    delay=delay,
                    http_method=http_method,
                    operation=f"Microsoft.Subscription/{action}/action" if action else "",
                    correlation_id=correlation_id,
                )
        self._publish([event] if event else [])
        return after

    def disable_subscription(self, subscription_id: str, **options: Any) -> dict[str, Any]:
        """`set_subscription_state(subscription_id, "Disabled")`: what cancelling does."""
        return self.set_subscription_state(subscription_id, "Disabled", **options)

    def enable_subscription(self, subscription_id: str, **options: Any) -> dict[str, Any]:
        """`set_subscription_state(subscription_id, "Enabled")`."""
        return self.set_subscription_state(subscription_id, "Enabled", **options)

    def pending_changes(self) -> int:
        """Change rows recorded but not yet visible to Resource Graph (the ingestion delay)."""
        return self.changes.pending(self.now())

    def _put(
        self,
        obj: dict[str, Any],
        at: datetime | None,
        actor: Actor,
        delay: float | None,
        http_method: str,
        *,
        create_only: bool = False,
        correlation_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        with self.lock:
            change_type, body, event = self._put_locked(
                obj,
                at,
                actor,
                delay,
                http_method,
                create_only=create_only,
                correlation_id=correlation_id,
            )
        self._publish([event] if event else [])
        return change_type, body

    def _put_locked(
        self,
        obj: dict[str, Any],
        at: datetime | None,
        actor: Actor,
        delay: float | None,
        http_method: str,
        *,
        create_only: bool = False,
        correlation_id: str | None = None,
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """The write itself (the caller holds `lock`): (change type, body, event to queue)."""
        body = copy.deepcopy(obj)
        body.setdefault("name", body["id"].rstrip("/").rsplit("/", 1)[1])
        if (canonical_type(body.get("type", "")) or "") == RESOURCE_GROUP_TYPE:
            body.setdefault("properties", {"provisioningState": "Succeeded"})
        before = None if create_only else self._find(body["id"])
        if before is None:
            self.estate.add(body)
            change_type, delta = "Create", None
        else:
            delta = diff(before, body)
            if not delta:
                return "", before, None
            body["id"] = before["id"]  # ARM keeps the id it was created with
            self.estate.replace(before["id"], body)
            change_type = "Update"
        event = self._record(
            change_type,
            body,
            at,
            actor,
            delta,
            delay=delay,
            http_method=http_method,
            correlation_id=correlation_id,
        )
        return change_type, body, event

    @staticmethod
    def _actor(actor: Actor | None, changed_by: str | None) -> Actor:
        if actor is not None:
            return actor
        return Actor(changed_by) if changed_by else DEPLOYER

    def _find(self, resource_id: str) -> dict[str, Any] | None:
        try:
            return self._current(resource_id)
        except KeyError:
            return None

    def _current(self, resource_id: str) -> dict[str, Any]:
        body = self.estate.get(resource_id)
        if body is None:
            parts = resource_id.strip("/").split("/")
            body = self.estate.resource_group(parts[1], parts[3]) if len(parts) == 4 else None
        if body is None:
            raise KeyError(f"not found: {resource_id}")
        return body

    def _record(
        self,
        change_type: str,
        body: dict[str, Any],
        at: datetime | None,
        actor: Actor,
        delta: dict[str, Any] | None = None,
        *,
        delay: float | None = None,
        http_method: str = "",
        operation: str = "",
        correlation_id: str | None = None,
    ) -> dict[str, Any] | None:
        rtype = canonical_type(body.get("type", "")) or body.get("type", "")
        if not self.changes.tracked(rtype):
            return None
        now = self.now()
        moment = at or now
        change = Change(
            change_type=change_type,
            target_id=body["id"],
            target_type=rtype,
            at=moment,
            tenant_id=self.tenant_id,
            correlation_id=correlation_id or self.changes.guid(),
            changed_by=actor.changed_by,
            changed_by_type=actor.changed_by_type,
            client_type=actor.client_type,
            principal_id=actor.object_id,
            http_method=http_method,
            operation_name=operation,
        )
        wait = self.change_delay if delay is None else delay
        visible_at = max(moment, now) + timedelta(seconds=max(0.0, wait))
        self.changes.record(change, changes=delta, visible_at=visible_at)
        versions = API_VERSIONS.get(rtype, ("2022-09-01",))
        build = cloud_event if self._event_schema == CLOUD_EVENTS_SCHEMA else event_grid_event
        return build(change, event_id=self.changes.guid(), api_version=versions[-1])

    def _publish(self, events: list[dict[str, Any]]) -> None:
        """Queue one write's events, delivered as `faults` says (delayed, duplicated,
        reordered, after an undecodable message)."""
        if not events or self.event_queue is None:
            return
        with self._events_lock:
            self._send(self.faults.plan_events(events))

    def _send(self, deliveries: list[EventDelivery]) -> None:
        """Put each message on the queue in order (the caller holds `_events_lock`)."""
        if not deliveries:
            return
        try:
            publisher = self._queue_publisher()
            for delivery in deliveries:
                event = delivery.event
                content = UNDECODABLE_MESSAGE if event is None else encode_message(event)
                publisher.send_message(content, visibility_timeout=delivery.visibility_timeout)
        except Exception as error:
            raise self._publish_error("could not queue Event Grid event", error) from error

    def _queue_publisher(self) -> QueuePublisher:
        """The publisher for the current `event_queue` (the caller holds `_events_lock`)."""
        assert self.event_queue is not None
        if self._publisher is None or self._publisher.target != tuple(self.event_queue):
            if self._publisher is not None:
                self._publisher.close()
            self._publisher = QueuePublisher(*self.event_queue)
        return self._publisher

    def _publish_error(self, doing: str, error: Exception) -> EventPublishError:
        """An EventPublishError naming the cause in one line, without the connection string's
        key or SAS (SDK errors can quote the request URL)."""
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        secret = self.event_queue[0] if self.event_queue else ""
        return EventPublishError(f"{doing}: {scrub(first, secret)}")

    # ---- request handling ---------------------------------------------------------------------
    def handle(self, http_request: Request) -> Response:
        """Answer one request (the `HttpServer` app)."""
        return _with_request_ids(self._route(ArmRequest.parse(http_request)))

    def _route(self, request: ArmRequest) -> Response:
        """Entra, else authenticate and serve ARM / Resource Graph."""
        entra = entra_route(self.entra, self.base_url, request)
        if entra is not None:
            key, response = entra
            self._counters.count(key)
            fault = self.faults.on_request(key, request.path, arm=False)  # explicit routes only
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return arm_error(fault.status, fault.code, fault.message, **fault.headers)
            return response
        lowered = request.path.rstrip("/").lower()
        graph = lowered == GRAPH_PATH
        route = None if graph else classify(request.path)
        template = (
            "/providers/Microsoft.ResourceGraph/resources"
            if graph
            else (route.template if route else "(unknown)")
        )
        key = f"{request.method} {template}"
        self._counters.count(key)
        self.faults.wait_latency(GRAPH if graph else ARM)  # Azure's response time, not a fault
        principal = self.entra.authenticate(
            request.headers.get("authorization"), f"{self.base_url}/{self.tenant_id}"
        )
        if isinstance(principal, AuthFailure):
            return arm_error(
                401,
                principal.code,
                principal.message,
                **{"WWW-Authenticate": principal.www_authenticate},
            )
        request.principal = principal
        fault = self.faults.on_request(key, request.path, arm=not graph)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            message = fault.message
            if fault.echo_authorization:
                message += f" Authorization: {request.headers.get('authorization', '')}"
            return arm_error(fault.status, fault.code, message, **fault.headers)
        if graph:
            if request.method != "POST":
                return arm_error(405, "MethodNotAllowed", "Resource Graph queries are POSTs.")
            scope = GraphScope(
                self.estate, self.changes, self.faults, self.graph_quota, self.lock, self.now()
            )
            return ResourceGraph(scope).handle(request)
        if route is None:
            return arm_error(
                404,
                "NotFound",
                f"No HTTP resource was found that matches the request URI "
                f"'{self.base_url}{request.raw_path}'.",
            )
        if ArmWrites.serves(route, request.method):
            return ArmWrites(self).handle(route, request)
        scope = ArmScope(self.estate, self.faults, self.lock, self.page_size, self.base_url)
        response = ArmRoutes(scope).handle(route, request)
        response.headers.setdefault("x-ms-ratelimit-remaining-subscription-reads", "249")
        if response.status == 200 and isinstance(response.body, dict):
            rewrite = self.faults.page_rewrite(key, request.path)
            if rewrite is not None:
                response = _rewritten(response, rewrite(copy.deepcopy(response.body)))
        return response

    def issued_tokens(self) -> list[str]:
        """Every access token Entra issued so far (tests assert none leaks anywhere)."""
        return self.entra.issued_tokens()


def _rewritten(response: Response, body: Any) -> Response:
    """The answer with a rewritten body: JSON for a dict or list, raw text otherwise."""
    if isinstance(body, str | bytes):
        raw = body.encode() if isinstance(body, str) else body
        return Response(
            response.status, raw=raw, headers=response.headers, content_type="text/html"
        )
    return Response(response.status, body, response.headers, response.content_type)


def _internal_error(error: Exception) -> Response:
    """A bug in the emulator: say so like ARM would, and keep serving."""
    return _with_request_ids(arm_error(500, "InternalServerError", f"Emulator error: {error!r}"))


def _with_request_ids(response: Response) -> Response:
    """Every ARM answer names its request (one id for both headers, as a lone call has)."""
    request_id = str(uuid.uuid4())
    ids = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id}
    response.headers = {**ids, **response.headers}
    return response


def _client_instructions(emulator: AzureEmulator, estate: Estate, client_id: str) -> str:
    """What a client needs: the variables to point the pipeline here, and the subscriptions."""
    disabled = set(estate.disabled_subscription_ids)
    lines = [
        "Point the pipeline here with (AZURE_CLIENT_SECRET as you set it for the emulator):",
        f"  AZURE_TENANT_ID={emulator.tenant_id}",
        f"  AZURE_CLIENT_ID={client_id}",
        f"  AZURE_AUTHORITY_HOST={emulator.authority_host}",
        f"  AZURE_ARM_ENDPOINT={emulator.base_url}",
        f"  AZURE_CA_BUNDLE={emulator.ca_file}",
        "Subscriptions:",
    ]
    for subscription_id in estate.subscription_ids:
        state = "Disabled" if subscription_id in disabled else "Enabled"
        lines.append(f"  {subscription_id}  {state}")
    return "\n".join(lines)


def serve(
    port: int,
    ca_file: str,
    seed: int = 1,
    subscriptions: int = 3,
    resources: int = 2000,
    host: str = "127.0.0.1",
    change_delay: float = DEFAULT_CHANGE_DELAY,
    events_queue: tuple[str, str] | None = None,
    events_schema: str = EVENT_GRID_SCHEMA,
    arm_latency: float = 0.0,
    graph_latency: float = 0.0,
) -> None:
    """Run the emulator in the foreground until SIGINT (Ctrl-C) or SIGTERM, then return.

    Credentials come from AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET. Call it
    from the main thread (it installs the signal handlers). `change_delay`: seconds before a
    write's change row is visible to Resource Graph. `events_queue`: (connection string,
    queue name) to publish an event per ARM write to, in `events_schema`; the queue is created
    if missing, before the ready line, so a wrong connection string fails at once.
    `arm_latency` / `graph_latency`: seconds added to every ARM request / Resource Graph
    query (see `AzureFaults.latency`), for benchmarks closer to Azure's response times.
    """
    if change_delay < 0:
        raise SystemExit("azure emulator: --change-delay must be 0 or more seconds")
    for flag, seconds in (("--arm-latency", arm_latency), ("--graph-latency", graph_latency)):
        if not 0 <= seconds < math.inf:
            raise SystemExit(f"azure emulator: {flag} must be 0 or more seconds")
    if events_schema not in EVENT_SCHEMAS:
        raise SystemExit(f"azure emulator: the events schema must be one of {EVENT_SCHEMAS}")
    names = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise SystemExit(
            f"azure emulator: set {', '.join(missing)} (the credentials clients "
            "will use; the tenant id becomes the estate's tenant)"
        )
    tenant, client, secret = (os.environ[n] for n in names)
    with ShutdownSignals() as signals:  # from here on, a signal is never lost
        # `subscriptions` enabled ones, and one more the generator disables (discovery skips it)
        estate = generate_estate(
            seed=seed, subscriptions=subscriptions + 1, resources=resources, tenant_id=tenant
        )
        emulator = AzureEmulator(
            estate,
            tenant_id=tenant,
            client_id=client,
            client_secret=secret,
            host=host,
            port=port,
            ca_file=ca_file,
            change_delay=change_delay,
        )
        emulator.event_schema = events_schema
        emulator.event_queue = events_queue
        emulator.faults.latency(arm=arm_latency, graph=graph_latency)
        with emulator:
            events_line = ""
            if events_queue is not None:
                try:
                    queue_host = emulator.prepare_event_queue()
                except EventPublishError as error:
                    raise SystemExit(f"azure emulator: {error}") from None
                schema = "CloudEvents 1.0" if events_schema == CLOUD_EVENTS_SCHEMA else "Event Grid"
                events_line = (
                    f"Event Grid events ({schema} schema) go to Storage Queue "
                    f"{events_queue[1]!r} at {queue_host}"
                )
            print(
                f"Azure emulator on {emulator.base_url} (authority and ARM); "
                f"CA: {emulator.ca_file}; {len(estate.subscription_ids)} subscriptions, "
                f"tenant {tenant}; change rows visible to Resource Graph after "
                f"{change_delay:g} s",
                flush=True,
            )
            if events_line:
                print(events_line, flush=True)
            if arm_latency or graph_latency:
                print(
                    f"Latency added: {arm_latency:g} s to each ARM request, "
                    f"{graph_latency:g} s to each Resource Graph query",
                    flush=True,
                )
            print(_client_instructions(emulator, estate, client), flush=True)
            signals.wait()
