"""A faithful Port API emulator: a real HTTP server on 127.0.0.1 for tests and demos.

It serves the subset of Port's REST API this project uses (auth, blueprints, entity upsert /
bulk / delete / search, counts) with Port's validation, status codes and body shapes, records
each writer's User-Agent as the entity's `$datasource`, and misbehaves on request (rate
limits with `x-ratelimit-*` headers, 429s, 5xx, latency, dropped connections). See
`port_routes` for the routes, `port_store` for the semantics, `port_faults` for faults.

    with PortEmulator(client_id="id", client_secret="secret") as emu:
        requests.post(f"{emu.base_url}/v1/auth/access_token", json={...})

Choices where Port's spec and docs are silent (kept deliberately, tests pin them):
- single `POST .../entities` answers 201 for create and update alike (the spec lists only 201);
- bulk: route-schema problems (identifier pattern, >20 entities, bad relation ids) fail the
  whole request with 422 `invalid_request`; entity problems go into a 207 whose `ok` is false;
- `team` is stored and returned as a list (a string becomes [string], absent becomes []);
- `$datasource` is the last writer's User-Agent; placeholders made by
  `create_missing_related_entities` get the writer's too; `updatedAt` moves only on change;
- deleting a blueprint with entities, or one another blueprint's relation targets: 422
  `has_dependents`; deleting an entity others relate to: 403 `has_dependents` unless
  `delete_dependents=true`, which deletes them transitively;
- bulk delete skips identifiers that do not exist (`deletedEntities` lists what went);
- `relatedTo` follows relations over any number of hops: `downstream` = entities that relate
  to the given one, `upstream` = entities it relates to, no direction = both.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from azure_port_pipeline.emulators.port_errors import PortApiError, invalid_request
from azure_port_pipeline.emulators.port_faults import Decision, Faults, error_code_for
from azure_port_pipeline.emulators.port_routes import ROUTES, ApiRequest, Handler
from azure_port_pipeline.emulators.port_store import PortStore, UpsertOptions

BODY_LIMIT = 1024 * 1024
AUTH_ROUTE = "/v1/auth/access_token"
_DISCARD_LIMIT = 64 * 1024 * 1024

RejectRule = Callable[[str, dict[str, Any]], "PortApiError | str | bool | None"]


class _Tokens:
    """Port's client-credentials tokens: one active token per credential until it expires."""

    def __init__(self, credentials: dict[str, str], lifetime: float) -> None:
        self._lock = threading.Lock()
        self._credentials = dict(credentials)
        self.lifetime = lifetime
        self._active: dict[str, tuple[str, float]] = {}
        self._by_token: dict[str, tuple[str, float]] = {}

    def add_credentials(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._credentials[client_id] = client_secret

    def issue(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_request("body must be object")
        for key in ("clientId", "clientSecret"):
            if key not in body:
                raise invalid_request(f"body must have required property '{key}'")
            if not isinstance(body[key], str):
                raise invalid_request(f"body/{key} must be string")
        extra = set(body) - {"clientId", "clientSecret"}
        if extra:
            raise invalid_request(f"body must NOT have additional properties ({sorted(extra)})")
        client_id, secret = body["clientId"], body["clientSecret"]
        now = time.monotonic()
        with self._lock:
            expected = self._credentials.get(client_id)
            if expected is None or not secrets.compare_digest(expected, secret):
                raise PortApiError(401, "unauthorized", "Invalid client id or client secret")
            token, expires = self._active.get(client_id, ("", 0.0))
            if not token or expires <= now:
                self._by_token.pop(token, None)
                token, expires = f"emu.{secrets.token_urlsafe(32)}", now + self.lifetime
                self._active[client_id] = (token, expires)
                self._by_token[token] = (client_id, expires)
        remaining = max(0.0, expires - now)
        expires_in: float | int = int(remaining) if remaining >= 60 else round(remaining, 3)
        return {"ok": True, "accessToken": token, "expiresIn": expires_in, "tokenType": "Bearer"}

    def verify(self, authorization: str | None) -> str:
        """The client id of a valid bearer token; 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PortApiError(401, "unauthorized", "Missing bearer token")
        with self._lock:
            found = self._by_token.get(token.strip())
        if found is None:
            raise PortApiError(401, "unauthorized", "Invalid token")
        client_id, expires = found
        if expires <= time.monotonic():
            raise PortApiError(401, "unauthorized", "Token expired")
        return client_id

    def expire_all(self) -> None:
        with self._lock:
            self._active.clear()
            self._by_token = {t: (c, 0.0) for t, (c, _) in self._by_token.items()}


class PortEmulator:
    """The Port API on a free 127.0.0.1 port, with inspection helpers for tests.

    client_id / client_secret: the accepted credentials. token_lifetime: seconds a token
    lives (Port: 3 hours). body_limit: request body bytes before a 413 (Port: 1 MiB).
    blueprints: created up front (bare first, then relations, so order does not matter).
    """

    def __init__(
        self,
        client_id: str = "id",
        client_secret: str = "secret",
        token_lifetime: float = 10800.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        body_limit: int = BODY_LIMIT,
        blueprints: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.store = PortStore()
        self.faults = Faults()
        self.tokens = _Tokens({client_id: client_secret}, token_lifetime)
        self.body_limit = body_limit
        self._host, self._port = host, port
        self._counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.add_blueprints(blueprints)

    def __repr__(self) -> str:
        return f"PortEmulator(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ lifecycle
    def _bind(self) -> _Server:
        if self._server is None:
            self._server = _Server((self._host, self._port), _Handler, self)
            host, port = self._server.server_address[:2]
            self.base_url = f"http://{host}:{port}"
        return self._server

    def start(self) -> str:
        """Start serving in a daemon thread; returns the base URL (routes are under /v1)."""
        if self._thread is not None:
            return self.base_url
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"port-emulator-{self.base_url}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self, announce: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until interrupted (for the CLI)."""
        server = self._bind()
        if announce is not None:
            announce(self.base_url)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            self._server = None

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> PortEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------- counters
    @property
    def counters(self) -> Counter[str]:
        """Requests by "METHOD route-template" (a copy), e.g. "POST /v1/blueprints/{bp}/..."."""
        with self._counter_lock:
            return Counter(self._counters)

    def reset_counters(self) -> None:
        with self._counter_lock:
            self._counters.clear()

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self._counters[key] += 1

    # --------------------------------------------------------------- test helpers
    def blueprints(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return self.store.list_blueprints()

    def add_blueprint(self, blueprint: dict[str, Any], actor: str = "emulator") -> None:
        """Create one blueprint without HTTP (its relation targets must already exist)."""
        with self.store.lock:
            self.store.create_blueprint(copy.deepcopy(blueprint), actor)

    def add_blueprints(self, blueprints: Iterable[dict[str, Any]]) -> None:
        """Create several blueprints in Ocean's order: bare first, then relations."""
        items = [copy.deepcopy(b) for b in blueprints]
        with self.store.lock:
            for bp in items:
                self.store.create_blueprint({**bp, "relations": {}}, "emulator")
            for bp in items:
                if bp.get("relations"):
                    self.store.patch_blueprint(
                        bp["identifier"], {"relations": bp["relations"]}, "emulator"
                    )

    def entities(self, blueprint: str | None = None) -> list[dict[str, Any]]:
        """Stored entities as API bodies plus `datasource` (the writer's User-Agent)."""
        with self.store.lock:
            if blueprint is None:
                stored = list(self.store.all_entities())
            else:
                stored = self.store.entities_of(blueprint)
            return [copy.deepcopy(e.to_api(with_datasource=True)) for e in stored]

    def entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None:
        with self.store.lock:
            found = self.store.find(blueprint, identifier)
            return None if found is None else copy.deepcopy(found.to_api(with_datasource=True))

    def entity_count(self, blueprint: str | None = None) -> int:
        with self.store.lock:
            return self.store.count(blueprint)

    def put_entity(
        self,
        blueprint: str,
        body: dict[str, Any],
        *,
        datasource: str = "",
        create_missing_related_entities: bool = True,
    ) -> dict[str, Any]:
        """Write an entity without HTTP (validated like an upsert), e.g. to seed a catalog
        with entities "owned by someone else"."""
        opts = UpsertOptions(
            upsert=True,
            merge=False,
            create_missing_related_entities=create_missing_related_entities,
            datasource=datasource,
            actor="emulator",
        )
        with self.store.lock:
            _, entity = self.store.upsert(blueprint, copy.deepcopy(body), opts)
            return copy.deepcopy(entity.to_api(with_datasource=True))

    def reject(self, rule: RejectRule | None) -> None:
        """Force per-entity refusals: `rule(blueprint, entity_body)` returning True or a
        message -> 422 blueprint_schema_mismatch; a PortApiError -> that error; falsy -> ok.
        `reject(None)` removes the rule."""
        with self.store.lock:
            self.store.reject_hook = rule

    def expire_tokens(self) -> None:
        """Make every issued token expired now (the next request with one gets 401)."""
        self.tokens.expire_all()

    def add_credentials(self, client_id: str, client_secret: str) -> None:
        self.tokens.add_credentials(client_id, client_secret)

    # ----------------------------------------------------------------- dispatching
    def dispatch(
        self,
        method: str,
        raw_path: str,
        query: dict[str, list[str]],
        body: Any,
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any]]:
        """Route, authenticate and run one decoded request (no faults here)."""
        template, params, handler = match_route(method, raw_path)
        if template == AUTH_ROUTE and method == "POST":
            return 200, self.tokens.issue(body)
        if handler is None:
            raise PortApiError(404, "not_found", f"Route {method}:{raw_path} not found")
        client_id = self.tokens.verify(headers.get("authorization"))
        request = ApiRequest(
            store=self.store,
            params=params,
            query=query,
            body=body,
            datasource=headers.get("user-agent", ""),
            actor=client_id,
        )
        with self.store.lock:
            return handler(request)


def match_route(method: str, raw_path: str) -> tuple[str | None, dict[str, str], Handler | None]:
    """Split the raw path on '/' first, then percent-decode each segment (ids hold '/')."""
    segments = [unquote(s) for s in raw_path.rstrip("/").split("/")[1:]]
    if method == "POST" and "/" + "/".join(segments) == AUTH_ROUTE:
        return AUTH_ROUTE, {}, None
    for route_method, template, handler in ROUTES:
        if route_method != method:
            continue
        parts = template.split("/")[1:]
        if len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    break
                params[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return template, params, handler
    return None, {}, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, emulator: PortEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, dropped-connection tests) is not an error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        """No Nagle: headers and body go out as separate writes, and Nagle + delayed ACK
        would add ~40 ms to every keep-alive response."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks would drown in access logs."""

    def _handle(self) -> None:
        emu = self.server.emulator
        raw_path, _, raw_query = self.path.partition("?")
        template, _, _ = match_route(self.command, raw_path)
        key = f"{self.command} {template or '<unmatched>'}"
        emu._count(key)
        decision = emu.faults.decide(key)
        if decision.drop:
            self._drop()
            return
        too_large, raw_body = self._read_body(emu.body_limit)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.status is not None:
            self._send_fault(decision)
            return
        if too_large:
            self.close_connection = True
            error = PortApiError(413, "bad_request", "Request body is too large (limit is 1MiB)")
            self._send(413, error.body(), decision)
            return
        status, body = self._run(emu, raw_path, raw_query, raw_body)
        if decision.drop_after:
            self._drop()
            return
        self._send(status, body, decision)

    def _run(
        self, emu: PortEmulator, raw_path: str, raw_query: str, raw_body: bytes
    ) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except (ValueError, UnicodeDecodeError):
            return 400, {"ok": False, "error": "bad_request", "message": "Body is not valid JSON"}
        query = parse_qs(raw_query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            return emu.dispatch(self.command, raw_path, query, body, headers)
        except PortApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # an emulator bug must still answer like a server would
            return 500, {"ok": False, "error": "internal_error", "message": repr(exc)}

    def _read_body(self, limit: int) -> tuple[bool, bytes]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            remaining = min(length, _DISCARD_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            return True, b""
        return False, self.rfile.read(length) if length else b""

    def _send_fault(self, decision: Decision) -> None:
        status = decision.status or 500
        if status == 429:
            message = "Rate limit exceeded, please retry later"
            body = {"ok": False, "error": "rate_limit_exceeded", "message": message}
        else:
            body = {
                "ok": False,
                "error": error_code_for(status),
                "message": f"Injected fault: HTTP {status}",
            }
        self._send(status, body, decision)

    def _send(self, status: int, body: dict[str, Any], decision: Decision) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Trace-Id", uuid.uuid4().hex)
        for name, value in decision.rate_headers.items():
            self.send_header(name, value)
        if decision.retry_after is not None:
            self.send_header("Retry-After", str(max(1, int(decision.retry_after + 0.999))))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the socket without a response, as a dying load balancer would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Run the emulator in the foreground (the `emulate port` CLI command).

    Credentials come from PORT_CLIENT_ID / PORT_CLIENT_SECRET; blueprints may be preloaded
    from the JSON list in PORT_EMULATOR_BLUEPRINTS (a file path), if set.
    """
    client_id = os.environ.get("PORT_CLIENT_ID")
    client_secret = os.environ.get("PORT_CLIENT_SECRET")
    if not client_id or not client_secret:
        raise SystemExit(
            "The Port emulator needs PORT_CLIENT_ID and PORT_CLIENT_SECRET in the environment "
            "(the credentials it will accept)."
        )
    emu = PortEmulator(client_id, client_secret, host=host, port=port)
    blueprints_file = os.environ.get("PORT_EMULATOR_BLUEPRINTS")
    if blueprints_file:
        with open(blueprints_file, encoding="utf-8") as fh:
            emu.add_blueprints(json.load(fh))
    emu.serve_forever(
        announce=lambda url: print(
            f"Port emulator listening on {url} (routes under /v1)", flush=True
        )
    )
