"""The Port API routes the emulator serves: one small function per route.

Each handler gets an `ApiRequest` (path params already percent-decoded, query params as
lists, JSON body, writer identity) and returns (status, body) or raises PortApiError. The
HTTP layer holds the store lock around the call, so handlers read and write freely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from azure_port_pipeline.emulators.port.auth import AUTH_ROUTE
from azure_port_pipeline.emulators.port.errors import PortApiError, invalid_request
from azure_port_pipeline.emulators.port.search import (
    compile_query,
    decode_cursor,
    encode_cursor,
    parse_limit,
    project,
    run_search,
)
from azure_port_pipeline.emulators.port.store import PortStore, UpsertOptions
from azure_port_pipeline.emulators.port.validation import (
    BULK_DELETE_MAX,
    BULK_MAX_ENTITIES,
    check_entity_body,
    check_entity_identifier,
    parse_bool,
    require_list,
)

Response = tuple[int, dict[str, Any]]


@dataclass(slots=True)
class ApiRequest:
    store: PortStore
    params: dict[str, str]
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    datasource: str = ""
    actor: str = ""

    def flag(self, name: str, default: bool = False) -> bool:
        values = self.query.get(name)
        return parse_bool(values[-1] if values else None, name, default)

    def many(self, name: str) -> list[str] | None:
        return self.query.get(name) or None

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise invalid_request("body must be object")
        return self.body


# ------------------------------------------------------------------------------ blueprints
def list_blueprints(req: ApiRequest) -> Response:
    return 200, {"ok": True, "blueprints": req.store.list_blueprints()}


def create_blueprint(req: ApiRequest) -> Response:
    return 201, {"ok": True, "blueprint": req.store.create_blueprint(req.body, req.actor)}


def get_blueprint(req: ApiRequest) -> Response:
    return 200, {"ok": True, "blueprint": req.store.get_blueprint(req.params["bp"])}


def put_blueprint(req: ApiRequest) -> Response:
    blueprint = req.store.put_blueprint(req.params["bp"], req.body, req.actor)
    return 200, {"ok": True, "blueprint": blueprint}


def patch_blueprint(req: ApiRequest) -> Response:
    blueprint = req.store.patch_blueprint(req.params["bp"], req.body, req.actor)
    return 200, {"ok": True, "blueprint": blueprint}


def delete_blueprint(req: ApiRequest) -> Response:
    req.store.delete_blueprint(req.params["bp"])
    return 200, {"ok": True}


# -------------------------------------------------------------------------------- entities
def _upsert_options(req: ApiRequest) -> UpsertOptions:
    return UpsertOptions(
        upsert=req.flag("upsert"),
        merge=req.flag("merge"),
        create_missing_related_entities=req.flag("create_missing_related_entities"),
        validation_only=req.flag("validation_only"),
        datasource=req.datasource,
        actor=req.actor,
    )


def create_entity(req: ApiRequest) -> Response:
    """Single create/upsert: 201 with the entity (Port's spec declares only 201)."""
    opts = _upsert_options(req)
    check_entity_body(req.body, "body")
    _, entity = req.store.upsert(req.params["bp"], req.body, opts)
    return 201, {"ok": True, "entity": entity.to_api()}


def bulk_upsert(req: ApiRequest) -> Response:
    """1-20 entities; route-schema problems fail the request, entity problems only that
    entity (200 when none failed, else 207 with `errors` by index)."""
    opts = _upsert_options(req)
    body = req.json_object()
    extra = set(body) - {"entities"}
    if extra:
        raise invalid_request(f"body must NOT have additional properties ({sorted(extra)})")
    if "entities" not in body:
        raise invalid_request("body must have required property 'entities'")
    entities = require_list(
        body["entities"], "body/entities", min_items=1, max_items=BULK_MAX_ENTITIES
    )
    for index, entity in enumerate(entities):
        check_entity_body(entity, f"body/entities/{index}")
    blueprint = req.params["bp"]
    req.store.get_blueprint(blueprint)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, entity in enumerate(entities):
        try:
            created, stored = req.store.upsert(blueprint, entity, opts)
        except PortApiError as exc:
            errors.append(
                {
                    "identifier": entity.get("identifier", ""),
                    "index": index,
                    "statusCode": exc.status,
                    "error": exc.error,
                    "message": exc.message,
                }
            )
            continue
        results.append({"created": created, "identifier": stored.identifier, "index": index})
    status = 207 if errors else 200
    return status, {"ok": not errors, "entities": results, "errors": errors}


def get_entity(req: ApiRequest) -> Response:
    entity = req.store.entity(req.params["bp"], req.params["id"])
    return 200, {"ok": True, "entity": project(entity, req.many("include"), req.many("exclude"))}


def put_entity(req: ApiRequest) -> Response:
    return _update_entity(req, merge=False)


def patch_entity(req: ApiRequest) -> Response:
    return _update_entity(req, merge=True)


def _update_entity(req: ApiRequest, *, merge: bool) -> Response:
    """PUT replaces, PATCH merges; both only for an existing entity (404 otherwise)."""
    blueprint, identifier = req.params["bp"], req.params["id"]
    check_entity_body(req.body, "body")
    req.store.entity(blueprint, identifier)
    opts = UpsertOptions(
        upsert=True,
        merge=merge,
        create_missing_related_entities=req.flag("create_missing_related_entities"),
        datasource=req.datasource,
        actor=req.actor,
    )
    _, entity = req.store.upsert(blueprint, {**req.body, "identifier": identifier}, opts)
    return 200, {"ok": True, "entity": entity.to_api()}


def delete_entity(req: ApiRequest) -> Response:
    req.store.delete(
        req.params["bp"], req.params["id"], delete_dependents=req.flag("delete_dependents")
    )
    return 200, {"ok": True}


def bulk_delete(req: ApiRequest) -> Response:
    """1-100 identifiers of one blueprint. Identifiers that do not exist are skipped; one with
    a required dependent outside the list (and no delete_dependents) refuses the whole request
    before anything is deleted (see `PortStore.delete_many`)."""
    body = req.json_object()
    ids = require_list(
        body.get("entities"), "body/entities", min_items=1, max_items=BULK_DELETE_MAX
    )
    for index, identifier in enumerate(ids):
        if not isinstance(identifier, str):
            raise invalid_request(f"body/entities/{index} must be string")
    blueprint = req.params["bp"]
    req.store.get_blueprint(blueprint)
    present = [i for i in dict.fromkeys(ids) if req.store.find(blueprint, i) is not None]
    req.store.delete_many(blueprint, present, delete_dependents=req.flag("delete_dependents"))
    return 200, {"ok": True, "deletedEntities": present}


def list_entities(req: ApiRequest) -> Response:
    include, exclude = req.many("include"), req.many("exclude")
    entities = req.store.entities_of(req.params["bp"])
    return 200, {"ok": True, "entities": [project(e, include, exclude) for e in entities]}


def count_entities(req: ApiRequest) -> Response:
    return 200, {"ok": True, "count": req.store.count(req.params["bp"])}


def search_all(req: ApiRequest) -> Response:
    """`POST /v1/entities/search`: every match, unpaginated."""
    body = req.json_object()
    extra = set(body) - {"combinator", "rules"}
    if extra:
        raise invalid_request(f"body must NOT have additional properties ({sorted(extra)})")
    query = compile_query(body, req.store)
    entities, _ = run_search(req.store, query)
    include, exclude = req.many("include"), req.many("exclude")
    return 200, {"ok": True, "entities": [project(e, include, exclude) for e in entities]}


def search_blueprint(req: ApiRequest) -> Response:
    """Paginated blueprint search: `limit` 1-1000 (200), `from` = the previous `next`."""
    body = req.json_object() if req.body is not None else {}
    extra = set(body) - {"query", "include", "exclude", "limit", "from"}
    if extra:
        raise invalid_request(f"body must NOT have additional properties ({sorted(extra)})")
    blueprint = req.params["bp"]
    req.store.get_blueprint(blueprint)
    limit = parse_limit(body.get("limit"))
    after = decode_cursor(body["from"]) if body.get("from") is not None else 0
    query = compile_query(body.get("query"), req.store, "body/query")
    include = _string_list(body.get("include"), "body/include")
    exclude = _string_list(body.get("exclude"), "body/exclude")
    page, last = run_search(req.store, query, blueprint=blueprint, after=after, limit=limit)
    response: dict[str, Any] = {
        "ok": True,
        "entities": [project(e, include, exclude) for e in page],
    }
    if last is not None:
        response["next"] = encode_cursor(last)
    return 200, response


def _string_list(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_request(f"{where} must be array of strings")
    return value


def check_path_identifier(value: str) -> None:
    check_entity_identifier(value, "params/entity_identifier")


Handler = Callable[[ApiRequest], Response]

# (method, template, handler); templates use {bp} and {id} (counter keys use them too).
ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/blueprints", list_blueprints),
    ("POST", "/v1/blueprints", create_blueprint),
    ("GET", "/v1/blueprints/{bp}", get_blueprint),
    ("PUT", "/v1/blueprints/{bp}", put_blueprint),
    ("PATCH", "/v1/blueprints/{bp}", patch_blueprint),
    ("DELETE", "/v1/blueprints/{bp}", delete_blueprint),
    ("GET", "/v1/blueprints/{bp}/entities", list_entities),
    ("POST", "/v1/blueprints/{bp}/entities", create_entity),
    ("POST", "/v1/blueprints/{bp}/entities/bulk", bulk_upsert),
    ("POST", "/v1/blueprints/{bp}/entities/search", search_blueprint),
    ("GET", "/v1/blueprints/{bp}/entities/{id}", get_entity),
    ("PUT", "/v1/blueprints/{bp}/entities/{id}", put_entity),
    ("PATCH", "/v1/blueprints/{bp}/entities/{id}", patch_entity),
    ("DELETE", "/v1/blueprints/{bp}/entities/{id}", delete_entity),
    ("POST", "/v1/blueprints/{bp}/bulk/entities/delete", bulk_delete),
    ("GET", "/v1/blueprints/{bp}/entities-count", count_entities),
    ("POST", "/v1/entities/search", search_all),
]


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
