"""An Azure emulator the unmodified azure-identity / azure-mgmt SDKs talk to over HTTPS.

One host serves Entra (OpenID discovery + client-credentials tokens), ARM reads and Resource
Graph, backed by a deterministic `Estate`. Tests and the pipeline point the SDKs at it with
`authority=base_url`, `base_url=base_url` and `connection_verify=ca_file`; nothing in the
clients changes. The mutation API (`create_resource`, `update_resource`, `delete_resource`)
records Resource Graph change rows and optionally publishes Event Grid events to a Storage
Queue, so the incremental and real-time paths can be exercised end to end.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .azure_arm import GRAPH_PATH, ArmRoutes, classify
from .azure_entra import AuthFailure, Entra
from .azure_events import (
    ChangeLog,
    QueuePublisher,
    apply_changes,
    diff,
    event_grid_event,
)
from .azure_faults import AzureFaults
from .azure_graph import GraphQuota, ResourceGraph
from .azure_http import Request, Response, arm_error
from .estate import API_VERSIONS, RESOURCE_GROUP_TYPE, Estate, canonical_type, generate_estate
from .tls import TlsMaterial, make_tls

__all__ = ["AzureEmulator", "EventPublishError", "serve"]


class EventPublishError(RuntimeError):
    """The change was applied but its Event Grid event could not be queued."""


class AzureEmulator:
    """Entra + ARM + Resource Graph on https://127.0.0.1:PORT for one estate."""

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
        self.counters: Counter[str] = Counter()
        self.event_queue: tuple[str, str] | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._ca_target = ca_file
        self._tls: TlsMaterial | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._publisher: QueuePublisher | None = None
        self._arm = ArmRoutes(self)
        self._graph = ResourceGraph(self)
        self._counter_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving on a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._tls = make_tls(self._ca_target)
        self._server = _TlsServer((self.host, self.port), _Handler, self._tls.server_context)
        self._server.emulator = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            name=f"azure-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def __enter__(self) -> AzureEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def reset_counters(self) -> None:
        with self._counter_lock:
            self.counters.clear()

    def expire_tokens(self) -> None:
        """Expire every token issued so far (clients then get 401 ExpiredAuthenticationToken)."""
        self.entra.expire_tokens()

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register another service principal of the tenant."""
        self.entra.add_client(client_id, client_secret)

    # ---- mutation API: what a deployment would do, recorded like Azure records it ----------
    def create_resource(
        self,
        obj: dict[str, Any],
        at: datetime | None = None,
        *,
        changed_by: str = "deploy@contoso.com",
    ) -> dict[str, Any]:
        """Add a resource or resource group (REST body with at least `id` and `type`)."""
        body = copy.deepcopy(obj)
        body.setdefault("name", body["id"].rstrip("/").rsplit("/", 1)[1])
        if (canonical_type(body.get("type", "")) or "") == RESOURCE_GROUP_TYPE:
            body.setdefault("properties", {"provisioningState": "Succeeded"})
        with self.lock:
            self.estate.add(body)
            event = self._record("Create", body, at, changed_by)
        self._publish([event] if event else [])
        return body

    def update_resource(
        self,
        resource_id: str,
        changes: dict[str, Any],
        at: datetime | None = None,
        *,
        changed_by: str = "deploy@contoso.com",
    ) -> dict[str, Any]:
        """Apply dotted-path values and/or a merge patch; records an Update with the diff."""
        with self.lock:
            before = self._current(resource_id)
            after = apply_changes(before, changes)
            delta = diff(before, after)
            if not delta:
                return after
            self.estate.replace(resource_id, after)
            event = self._record("Update", after, at, changed_by, delta)
        self._publish([event] if event else [])
        return after

    def delete_resource(
        self,
        resource_id: str,
        at: datetime | None = None,
        *,
        changed_by: str = "deploy@contoso.com",
    ) -> list[dict[str, Any]]:
        """Delete a resource (and children) or a resource group (and its resources)."""
        with self.lock:
            removed = self.estate.remove(resource_id)
            events = [self._record("Delete", body, at, changed_by) for body in removed]
        self._publish([e for e in events if e])
        return removed

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
        changed_by: str,
        delta: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        rtype = canonical_type(body.get("type", "")) or body.get("type", "")
        if not self.changes.tracked(rtype):
            return None
        moment = at or self.now()
        correlation = self.changes.guid()
        self.changes.record(
            change_type=change_type,
            target_id=body["id"],
            target_type=rtype,
            at=moment,
            tenant_id=self.tenant_id,
            correlation_id=correlation,
            changed_by=changed_by,
            changed_by_type="User" if "@" in changed_by else "Application",
            client_type="ARM Template",
            changes=delta,
        )
        versions = API_VERSIONS.get(rtype, ("2022-09-01",))
        return event_grid_event(
            change_type=change_type,
            target_id=body["id"],
            target_type=rtype,
            at=moment,
            tenant_id=self.tenant_id,
            correlation_id=correlation,
            event_id=self.changes.guid(),
            principal_id=str(uuid.uuid5(uuid.NAMESPACE_URL, changed_by)),
            api_version=versions[-1],
        )

    def _publish(self, events: list[dict[str, Any]]) -> None:
        if not events or self.event_queue is None:
            return
        try:
            if self._publisher is None or self._publisher.target != tuple(self.event_queue):
                self._publisher = QueuePublisher(*self.event_queue)
            self._publisher.send(events)
        except Exception as error:
            raise EventPublishError(f"could not queue Event Grid event: {error}") from error

    # ---- request handling ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Route one request: Entra, else authenticate and serve ARM / Resource Graph."""
        entra = self._entra(request)
        if entra is not None:
            return entra
        lowered = request.path.rstrip("/").lower()
        graph = lowered == GRAPH_PATH
        route = None if graph else classify(request.path)
        template = (
            "/providers/Microsoft.ResourceGraph/resources"
            if graph
            else (route.template if route else "(unknown)")
        )
        key = f"{request.method} {template}"
        self._count(key)
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
            return arm_error(fault.status, fault.code, fault.message, **fault.headers)
        if graph:
            if request.method != "POST":
                return arm_error(405, "MethodNotAllowed", "Resource Graph queries are POSTs.")
            return self._graph.handle(request)
        if route is None:
            return arm_error(
                404,
                "NotFound",
                f"No HTTP resource was found that matches the request URI "
                f"'{self.base_url}{request.raw_path}'.",
            )
        response = self._arm.handle(route, request)
        response.headers.setdefault("x-ms-ratelimit-remaining-subscription-reads", "249")
        return response

    def _entra(self, request: Request) -> Response | None:
        parts = [p for p in request.path.split("/") if p]
        low = [p.lower() for p in parts]
        if len(parts) == 3 and low[1:] == ["discovery", "instance"]:
            self._count("GET /{tenant}/discovery/instance")
            return Response(200, self.entra.instance_discovery(self.base_url))
        if len(parts) >= 3 and low[-2:] == [".well-known", "openid-configuration"]:
            self._count("GET /{tenant}/v2.0/.well-known/openid-configuration")
            status, body = self.entra.openid_configuration(parts[0], self.base_url)
            return Response(status, body)
        if len(parts) == 4 and low[1:] == ["oauth2", "v2.0", "token"]:
            self._count("POST /{tenant}/oauth2/v2.0/token")
            if request.method != "POST":
                return Response(405, {"error": "invalid_request"})
            form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            status, body = self.entra.issue_token(parts[0], form)
            return Response(
                status, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
            )
        return None

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self.counters[key] += 1


class _TlsServer(ThreadingHTTPServer):
    """Threading HTTP server whose connections do their TLS handshake on their own thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext) -> None:
        self.ssl_context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive with exact Content-Length; everything else is the emulator's."""

    protocol_version = "HTTP/1.1"
    server_version = "AzureEmulator/1.0"
    timeout = 60

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.do_handshake()  # type: ignore[attr-defined]
        except (ssl.SSLError, OSError):
            self.close_connection = True
            self.rfile = _Empty()  # type: ignore[assignment]

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        emulator: AzureEmulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = {k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)}
        request = Request(
            method=method,
            path=unquote(split.path),
            raw_path=split.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = emulator.handle(request)
        except Exception as error:  # a bug in the emulator: say so like ARM would, keep serving
            response = arm_error(500, "InternalServerError", f"Emulator error: {error!r}")
        self._write(response)

    def _write(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        request_id = str(uuid.uuid4())
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
        return


class _Empty:
    def readline(self, *args: Any) -> bytes:
        return b""

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        return


def serve(
    port: int,
    ca_file: str,
    seed: int = 1,
    subscriptions: int = 3,
    resources: int = 2000,
    host: str = "127.0.0.1",
) -> None:
    """Run the emulator in the foreground (Ctrl-C stops it); credentials from AZURE_* env."""
    names = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise SystemExit(
            f"azure emulator: set {', '.join(missing)} (the credentials clients "
            "will use; the tenant id becomes the estate's tenant)"
        )
    tenant, client, secret = (os.environ[n] for n in names)
    estate = generate_estate(
        seed=seed, subscriptions=subscriptions, resources=resources, tenant_id=tenant
    )
    emulator = AzureEmulator(
        estate,
        tenant_id=tenant,
        client_id=client,
        client_secret=secret,
        host=host,
        port=port,
        ca_file=ca_file,
    )
    base_url = emulator.start()
    print(
        f"Azure emulator on {base_url} (authority and ARM); CA: {emulator.ca_file}; "
        f"{len(estate.subscription_ids)} subscriptions, tenant {tenant}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
