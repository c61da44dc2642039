"""The Port API operations this project needs, per entity outcomes included.

Writes carry a User-Agent naming the installation and the scope; Port records it as the
entity's `$datasource`, which is how `search_owned` finds this installation's entities again
(and only them) for the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import batching
from azure_port_pipeline.port.batching import Item
from azure_port_pipeline.port.blueprints import bare, relations_patch
from azure_port_pipeline.port.metrics import PortMetrics
from azure_port_pipeline.port.models import BlueprintSetupReport, EntityOutcome
from azure_port_pipeline.port.settings import PortSettings
from azure_port_pipeline.port.transport import PortTokenCache, PortTransport, Route, error_details

PRODUCT = "azure-port-pipeline"
SEARCH_PAGE = 1000

BLUEPRINTS = Route("GET", "/v1/blueprints")
CREATE_BLUEPRINT = Route("POST", "/v1/blueprints", write=True)
PATCH_BLUEPRINT = Route("PATCH", "/v1/blueprints/{bp}", write=True)
BULK_UPSERT = Route("POST", "/v1/blueprints/{bp}/entities/bulk", write=True)
BULK_DELETE = Route("POST", "/v1/blueprints/{bp}/bulk/entities/delete", write=True)
DELETE = Route("DELETE", "/v1/blueprints/{bp}/entities/{id}", write=True)
SEARCH = Route("POST", "/v1/blueprints/{bp}/entities/search")

_SPLIT_ON = frozenset({400, 413, 422})
"""Whole-request rejections a smaller batch may avoid: size, or one bad entity in the body."""

T = TypeVar("T")


def package_version() -> str:
    try:
        return version(PRODUCT)
    except PackageNotFoundError:
        return "0"


class PortClient:
    """A client of one Port organization; thread-safe; close it (or use `with`)."""

    def __init__(self, settings: PortSettings, tokens: PortTokenCache | None = None) -> None:
        """`tokens`: share one Port token with other clients (the steps of one run)."""
        self.settings = settings
        self._agent = f"{PRODUCT}/{package_version()}"
        self._transport = PortTransport(
            settings, f"{self._agent} (installation={settings.installation_id})", tokens
        )
        self._pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="port")

    def __enter__(self) -> PortClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._transport.close()

    def __repr__(self) -> str:
        return (
            f"PortClient(base_url={self.settings.api_url!r}, "
            f"installation_id={self.settings.installation_id!r})"
        )

    @property
    def metrics(self) -> PortMetrics:
        return self._transport.metrics

    def user_agent(self, scope: str) -> str:
        """The identity Port records as `$datasource` for entities written in `scope`.

        Ownership is found again by this exact string, so it carries no package version:
        an upgrade must not orphan the entities the previous version wrote.
        """
        return f"{PRODUCT} (installation={self.settings.installation_id}; scope={scope})"

    # -- blueprints --------------------------------------------------------------------

    def ensure_blueprints(self, blueprints: list[dict[str, Any]]) -> BlueprintSetupReport:
        """Create the blueprints that are missing; leave the existing ones exactly as they are."""
        existing = {
            bp["identifier"] for bp in self._json(BLUEPRINTS, "/v1/blueprints")["blueprints"]
        }
        report = BlueprintSetupReport()
        for blueprint in blueprints:
            if blueprint["identifier"] in existing or not self._create_bare(blueprint):
                report.existing.append(blueprint["identifier"])
            else:
                report.created.append(blueprint["identifier"])
        for blueprint in blueprints:
            patch = relations_patch(blueprint)
            if blueprint["identifier"] in report.created and patch:
                path = f"/v1/blueprints/{_segment(blueprint['identifier'])}"
                self._json(PATCH_BLUEPRINT, path, method_body=patch)
        return report

    def _create_bare(self, blueprint: dict[str, Any]) -> bool:
        """False when someone created it meanwhile (409): then it is theirs, not ours."""
        response = self._transport.request(CREATE_BLUEPRINT, "/v1/blueprints", body=bare(blueprint))
        if response.status_code == 409:
            return False
        if response.status_code not in (200, 201):
            raise self._transport.error(CREATE_BLUEPRINT, "/v1/blueprints", response)
        return True

    # -- search ------------------------------------------------------------------------

    def search_owned(self, blueprint: str, scope: str) -> list[dict[str, Any]]:
        """Every entity of `blueprint` whose `$datasource` is this scope's User-Agent.

        A missing blueprint owns nothing (the upserts will then report it per entity).
        """
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/search"
        rule = {"property": "$datasource", "operator": "=", "value": self.user_agent(scope)}
        query: dict[str, Any] = {
            "query": {"combinator": "and", "rules": [rule]},
            "limit": SEARCH_PAGE,
        }
        found: list[dict[str, Any]] = []
        while True:
            response = self._transport.request(SEARCH, path, body=query)
            if response.status_code == 404 and not found:
                return []
            if response.status_code != 200:
                raise self._transport.error(SEARCH, path, response)
            page = response.json()
            for body in page.get("entities", []):
                body.setdefault("blueprint", blueprint)
                found.append(body)
            if not page.get("next"):
                return found
            query["from"] = page["next"]

    # -- upsert ------------------------------------------------------------------------

    def bulk_upsert(
        self,
        entities: list[Entity],
        *,
        scope: str,
        merge: bool = True,
        create_missing_related_entities: bool = True,
    ) -> list[EntityOutcome]:
        """Upsert all entities; one outcome per entity, in input order.

        Blueprints are written one after another in first-seen order (callers order them by
        relations); the batches of one blueprint go out concurrently. Per-entity rejections
        (422, 404, ...) come back as outcomes; only an unreachable Port raises PortApiError.
        """
        params = {
            "upsert": "true",
            "merge": _flag(merge),
            "create_missing_related_entities": _flag(create_missing_related_entities),
        }
        agent = self.user_agent(scope)
        outcomes: list[EntityOutcome | None] = [None] * len(entities)
        for blueprint, items in _by_blueprint(entities):
            sendable = [item for item in items if batching.fits_alone(item)]
            for item in items:
                if not batching.fits_alone(item):
                    outcomes[item.position] = _too_large(item)
            jobs = [
                partial(self._upsert, blueprint, batch, params, agent)
                for batch in batching.batches(sendable)
            ]
            for results in self._run_all(jobs):
                for position, outcome in results:
                    outcomes[position] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _upsert(
        self, blueprint: str, items: list[Item], params: dict[str, str], agent: str
    ) -> list[tuple[int, EntityOutcome]]:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/bulk"
        response = self._transport.request(
            BULK_UPSERT, path, params=params, body=batching.bulk_body(items), user_agent=agent
        )
        if response.status_code in (200, 201, 207):
            return _bulk_outcomes(blueprint, items, response, self._transport.redact)
        if response.status_code in _SPLIT_ON and len(items) > 1:
            # too large, or one bad entity failed the whole request: bisect until the good
            # entities land and each bad one is alone with its own error
            middle = len(items) // 2
            return [
                *self._upsert(blueprint, items[:middle], params, agent),
                *self._upsert(blueprint, items[middle:], params, agent),
            ]
        code, message = error_details(response)
        message = self._transport.redact(message)
        return [
            (
                item.position,
                _failed(blueprint, item.entity.identifier, response.status_code, code, message),
            )
            for item in items
        ]

    # -- delete ------------------------------------------------------------------------

    def bulk_delete(
        self, blueprint: str, identifiers: Iterable[str], *, delete_dependents: bool
    ) -> list[EntityOutcome]:
        """Delete up to 100 per request; an entity already gone counts as deleted.

        When Port refuses a whole request (e.g. one entity has dependents, which fails the
        whole bulk call), each entity of it is deleted alone (404 = already gone = ok) so the
        others still go and the refused one is reported.
        """
        ids = list(dict.fromkeys(identifiers))
        jobs = [
            partial(self._delete_chunk, blueprint, chunk, delete_dependents)
            for chunk in batching.chunks(ids)
        ]
        return [outcome for results in self._run_all(jobs) for outcome in results]

    def _delete_chunk(
        self, blueprint: str, ids: list[str], delete_dependents: bool
    ) -> list[EntityOutcome]:
        path = f"/v1/blueprints/{_segment(blueprint)}/bulk/entities/delete"
        response = self._transport.request(
            BULK_DELETE,
            path,
            params={"delete_dependents": _flag(delete_dependents)},
            body={"entities": ids},
        )
        if response.status_code == 200:  # ids Port skipped were not there: already gone
            return [_deleted(blueprint, identifier) for identifier in ids]
        return [self._delete_one(blueprint, identifier, delete_dependents) for identifier in ids]

    def _delete_one(
        self, blueprint: str, identifier: str, delete_dependents: bool
    ) -> EntityOutcome:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/{_segment(identifier)}"
        response = self._transport.request(
            DELETE, path, params={"delete_dependents": _flag(delete_dependents)}
        )
        if response.status_code in (200, 204, 404):
            return _deleted(blueprint, identifier)
        code, message = error_details(response)
        message = self._transport.redact(message)
        return _failed(blueprint, identifier, response.status_code, code, message, "delete")

    # -- plumbing ----------------------------------------------------------------------

    def _json(
        self, route: Route, path: str, *, method_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self._transport.request(route, path, body=method_body)
        if not 200 <= response.status_code < 300:
            raise self._transport.error(route, path, response)
        return response.json()

    def _run_all(self, jobs: list[Callable[[], T]]) -> list[T]:
        """Run jobs on the shared pool; wait for all, then re-raise the first failure."""
        if len(jobs) == 1:
            return [jobs[0]()]
        futures: list[Future[T]] = [self._pool.submit(job) for job in jobs]
        errors = [future.exception() for future in futures]
        first = next((error for error in errors if error is not None), None)
        if first is not None:
            raise first
        return [future.result() for future in futures]


def _by_blueprint(entities: list[Entity]) -> list[tuple[str, list[Item]]]:
    groups: dict[str, list[Item]] = {}
    for position, entity in enumerate(entities):
        groups.setdefault(entity.blueprint, []).append(batching.encode(position, entity))
    return list(groups.items())


def _bulk_outcomes(
    blueprint: str,
    items: list[Item],
    response: requests.Response,
    redact: Callable[[str], str],
) -> list[tuple[int, EntityOutcome]]:
    """Map Port's per-entity results back by `index` (by identifier if an index is missing)."""
    payload = response.json()
    by_index: dict[int, EntityOutcome] = {}
    index_of = {item.entity.identifier: index for index, item in enumerate(items)}
    for result in payload.get("entities") or []:
        index = _index(result, index_of)
        if index is not None:
            identifier = items[index].entity.identifier
            by_index[index] = EntityOutcome(
                blueprint,
                identifier,
                ok=True,
                created=result.get("created"),
                status=response.status_code,
            )
    for error in payload.get("errors") or []:
        index = _index(error, index_of)
        if index is not None:
            by_index[index] = _failed(
                blueprint,
                items[index].entity.identifier,
                error.get("statusCode"),
                error.get("error"),
                redact(str(error.get("message") or "")),
            )
    missing = "Port's answer did not mention this entity"
    return [
        (
            item.position,
            by_index.get(index)
            or _failed(blueprint, item.entity.identifier, response.status_code, None, missing),
        )
        for index, item in enumerate(items)
    ]


def _index(result: dict[str, Any], index_of: dict[str, int]) -> int | None:
    index = result.get("index")
    if isinstance(index, int):
        return index
    return index_of.get(result.get("identifier"))


def _failed(
    blueprint: str,
    identifier: str,
    status: int | None,
    code: str | None,
    message: str,
    operation: str = "upsert",
) -> EntityOutcome:
    return EntityOutcome(
        blueprint,
        identifier,
        ok=False,
        status=status,
        code=code,
        message=message,
        operation=operation,
    )


def _deleted(blueprint: str, identifier: str) -> EntityOutcome:
    return EntityOutcome(blueprint, identifier, ok=True, operation="delete")


def _too_large(item: Item) -> EntityOutcome:
    size = len(item.payload)
    message = f"entity body is {size} bytes, above Port's 1 MiB request limit; not sent"
    return _failed(item.entity.blueprint, item.entity.identifier, 413, "request_too_large", message)


def _segment(value: str) -> str:
    """Azure ids contain '/': percent-encode everything in a path segment."""
    return quote(value, safe="")


def _flag(value: bool) -> str:
    return "true" if value else "false"
