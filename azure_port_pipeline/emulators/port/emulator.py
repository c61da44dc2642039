"""A faithful Port API emulator: a real HTTP server on 127.0.0.1 for tests and demos.

It serves the subset of Port's REST API this project uses (auth, blueprints, entity upsert /
bulk / delete / search, counts) with Port's validation, status codes and body shapes, records
each writer's User-Agent as the entity's `$datasource`, and misbehaves on request (rate
limits with `x-ratelimit-*` headers, 429s, 5xx, latency, dropped connections). See
`routes` for the routes, `store` for the semantics, `faults` for faults, `auth` for tokens.

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
  `has_dependents`; deleting an entity others relate to through a *required* relation: 403
  `has_dependents` unless `delete_dependents=true`; entities relating to it through optional
  relations stay, with that relation cleared (null, or the id dropped from a `many` list);
  `delete_dependents=true` deletes every entity relating to it, transitively, whoever wrote it
  (Port's docs: "will also delete all entities with a relation to the deleted entity");
- bulk delete skips identifiers that do not exist (`deletedEntities` lists what went);
- `relatedTo` follows relations over any number of hops: `downstream` = entities that relate
  to the given one, `upstream` = entities it relates to, no direction = both.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from azure_port_pipeline.emulators.port.auth import AUTH_ROUTE, Tokens
from azure_port_pipeline.emulators.port.errors import PortApiError
from azure_port_pipeline.emulators.port.faults import Answer, Decision, Faults, error_code_for
from azure_port_pipeline.emulators.port.routes import ApiRequest, match_route
from azure_port_pipeline.emulators.port.store import PortStore, UpsertOptions
from azure_port_pipeline.emulators.server import (
    COUNTERS_RESET_PATH,
    HttpServer,
    Request,
    RequestCounters,
    Response,
    Service,
    ShutdownSignals,
)

__all__ = ["BODY_LIMIT", "PortApi", "PortEmulator", "serve"]

BODY_LIMIT = 1024 * 1024

RejectRule = Callable[[str, dict[str, Any]], "PortApiError | str | bool | None"]


class PortEmulator(Service):
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
        self.tokens = Tokens({client_id: client_secret}, token_lifetime)
        self.body_limit = body_limit
        self._host, self._port = host, port
        self._counters = RequestCounters()
        self._server: HttpServer | None = None
        self.base_url = ""
        self.add_blueprints(blueprints)

    def __repr__(self) -> str:
        return f"PortEmulator(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Start serving in a daemon thread; returns the base URL (routes are under /v1)."""
        if self._server is None:
            api = PortApi(self.store, self.tokens, self.faults, self._counters)
            self._server = _PortHttpServer(
                self.faults,
                api.handle,
                api.internal_error,
                host=self._host,
                port=self._port,
                name="port-emulator",
                body_limit=self.body_limit,
                compact_json=True,
                counters=self._counters,
            )
            self.base_url = self._server.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -------------------------------------------------------------------- counters
    @property
    def counters(self) -> Counter[str]:
        """Requests by "METHOD route-template" (a copy), e.g. "POST /v1/blueprints/{bp}/..."."""
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        """Clear the request counts and the peaks (`peaks`)."""
        self._counters.clear()
        self.faults.take_peaks()

    def peaks(self) -> dict[str, float | int]:
        """The most requests served in any sliding second and `rate_window`, and the 429s
        the organization limit answered, since the last reset (see `Faults.peaks`)."""
        return self.faults.peaks()

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


class PortApi:
    """The HTTP app: counts, faults, the body limit, auth, then the route (store locked).

    It sees only what it serves from: the store, the tokens, the faults and the counters.
    """

    def __init__(
        self, store: PortStore, tokens: Tokens, faults: Faults, counters: RequestCounters
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.faults = faults
        self.counters = counters

    def handle(self, request: Request) -> Response:
        raw_path, _, raw_query = request.target.partition("?")
        template, _, _ = match_route(request.method, raw_path)
        key = f"{request.method} {template or '<unmatched>'}"
        self.counters.count(key)
        decision = self.faults.decide(key, agent=request.headers.get("user-agent", ""))
        if decision.expire_tokens:
            self.tokens.expire_all()
        if decision.drop:
            return DROP
        too_large = request.body_too_large  # reads the body (or throws an oversized one away)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.status is not None:
            return _fault(decision, close=request.client_closes)
        made_up = decision.answer
        if made_up is not None and not made_up.after:
            return _made_up(made_up, decision, close=request.client_closes)
        if too_large:
            error = PortApiError(413, "bad_request", "Request body is too large (limit is 1MiB)")
            return _answer(413, error.body(), decision, close=True)
        status, body = self._run(request, raw_path, raw_query)
        if decision.drop_after:
            return DROP
        if made_up is not None:
            return _made_up(made_up, decision, close=request.client_closes)
        return _answer(status, body, decision, close=request.client_closes)

    def internal_error(self, error: Exception) -> Response:
        """An emulator bug must still answer like a server would."""
        return _answer(500, _internal_error_body(error), Decision(), close=False)

    def _run(self, request: Request, raw_path: str, raw_query: str) -> tuple[int, dict[str, Any]]:
        raw_body = request.body
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except (ValueError, UnicodeDecodeError):
            return 400, {"ok": False, "error": "bad_request", "message": "Body is not valid JSON"}
        query = parse_qs(raw_query, keep_blank_values=True)
        try:
            return self.dispatch(request.method, raw_path, query, body, request.headers)
        except PortApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # an emulator bug must still answer like a server would
            return 500, _internal_error_body(exc)

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
        api_request = ApiRequest(
            store=self.store,
            params=params,
            query=query,
            body=body,
            datasource=headers.get("user-agent", ""),
            actor=client_id,
        )
        with self.store.lock:
            return handler(api_request)


class _PortHttpServer(HttpServer):
    """The shared server, whose counters answer also carries the organization's peaks.

    `GET /_emulator/counters` adds `Faults.peaks()` to the request counts;
    `POST /_emulator/counters/reset` adds the peaks it cleared (each cleared atomically).
    Until a request is served or refused after a reset there is nothing to report, and the
    answer is the shared server's alone (`{"total": 0, "requests": {}, "routes": {}}`).
    """

    def __init__(self, faults: Faults, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._faults = faults

    def serve_counters(self, request: Request) -> Response | None:
        response = super().serve_counters(request)
        if response is None or response.status != 200:
            return response
        reset = request.target.split("?", 1)[0].rstrip("/") == COUNTERS_RESET_PATH
        peaks = self._faults.take_peaks() if reset else self._faults.peaks()
        if peaks["peak_requests_per_second"] or peaks["rate_limited"]:
            response.body.update(peaks)
        return response


DROP = Response(0, drop=True)


def _fault(decision: Decision, *, close: bool) -> Response:
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
    return _answer(status, body, decision, close=close)


def _answer(status: int, body: dict[str, Any], decision: Decision, *, close: bool) -> Response:
    """Port's headers: a trace id, the rate limiter's, Retry-After when throttled."""
    headers = {"X-Trace-Id": uuid.uuid4().hex, **decision.rate_headers}
    if decision.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(decision.retry_after + 0.999)))
    return Response(status, body, headers, close=close)


def _made_up(answer: Answer, decision: Decision, *, close: bool) -> Response:
    """An `answer_next` answer, with Port's headers (rate limit, trace id) all the same."""
    response = _answer(answer.status, answer.body, decision, close=close)
    response.raw = answer.raw
    response.content_type = answer.content_type
    return response


def _internal_error_body(error: Exception) -> dict[str, Any]:
    return {"ok": False, "error": "internal_error", "message": repr(error)}


def serve(port: int, host: str = "127.0.0.1", latency: float = 0.0) -> None:
    """Run the emulator in the foreground until SIGINT (Ctrl-C) or SIGTERM, then return
    (the `emulate port` CLI command; call it from the main thread).

    Credentials come from PORT_CLIENT_ID / PORT_CLIENT_SECRET; blueprints may be preloaded
    from the JSON list in PORT_EMULATOR_BLUEPRINTS (a file path), if set. `latency`: seconds
    added to each request (Port answers in tens of milliseconds; the emulator in far less).
    """
    if not 0 <= latency < math.inf:
        raise SystemExit("port emulator: --latency must be 0 or more seconds")
    client_id = os.environ.get("PORT_CLIENT_ID")
    client_secret = os.environ.get("PORT_CLIENT_SECRET")
    if not client_id or not client_secret:
        raise SystemExit(
            "The Port emulator needs PORT_CLIENT_ID and PORT_CLIENT_SECRET in the environment "
            "(the credentials it will accept)."
        )
    with ShutdownSignals() as signals:  # from here on, a signal is never lost
        emu = PortEmulator(client_id, client_secret, host=host, port=port)
        emu.faults.configure(latency=latency)
        blueprints_file = os.environ.get("PORT_EMULATOR_BLUEPRINTS")
        if blueprints_file:
            with open(blueprints_file, encoding="utf-8") as fh:
                emu.add_blueprints(json.load(fh))
        with emu:
            added = f"; {latency:g} s added to each request" if latency else ""
            print(
                f"Port emulator listening on {emu.base_url} (routes under /v1){added}",
                flush=True,
            )
            signals.wait()
