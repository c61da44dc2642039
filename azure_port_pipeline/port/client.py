"""The Port API operations this project needs, per entity outcomes included.

Writes carry a User-Agent naming the installation and the scope; Port records it as the
entity's `$datasource`, which is how `search_owned` finds this installation's entities again
(and only them) for the planner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import batching
from azure_port_pipeline.port.batching import Item
from azure_port_pipeline.port.blueprints import bare, creation_order, relations_patch
from azure_port_pipeline.port.errors import PortApiError, PortResponseError
from azure_port_pipeline.port.metrics import PortMetrics
from azure_port_pipeline.port.models import (
    FOREIGN_DEPENDENTS,
    BlueprintSetupReport,
    EntityKey,
    EntityOutcome,
)
from azure_port_pipeline.port.settings import PortSettings
from azure_port_pipeline.port.transport import PortTokenCache, PortTransport, Route, error_details

PRODUCT = "azure-port-pipeline"
SEARCH_PAGE = 1000
IDENTIFIERS_PER_SEARCH = 200  # one `in` rule per search: a bounded request body

BLUEPRINTS = Route("GET", "/v1/blueprints")
CREATE_BLUEPRINT = Route("POST", "/v1/blueprints", write=True)
PATCH_BLUEPRINT = Route("PATCH", "/v1/blueprints/{bp}", write=True)
BULK_UPSERT = Route("POST", "/v1/blueprints/{bp}/entities/bulk", write=True)
BULK_DELETE = Route("POST", "/v1/blueprints/{bp}/bulk/entities/delete", write=True)
DELETE = Route("DELETE", "/v1/blueprints/{bp}/entities/{id}", write=True)
SEARCH = Route("POST", "/v1/blueprints/{bp}/entities/search")
SEARCH_ALL = Route("POST", "/v1/entities/search")

_SPLIT_ON = frozenset({400, 413, 422})
"""Whole-request rejections a smaller batch may avoid: size, or one bad entity in the body."""

T = TypeVar("T")
logger = logging.getLogger(__name__)


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

    def verify_credentials(self) -> None:
        """Get a token now; PortAuthError naming PORT_CLIENT_ID / PORT_CLIENT_SECRET if Port
        refuses them. Nothing else is sent."""
        self._transport.authenticate()

    def blueprint_identifiers(self) -> set[str]:
        """The identifiers of every blueprint of the organization (one read)."""
        listed = self._json(BLUEPRINTS, "/v1/blueprints").get("blueprints")
        if not isinstance(listed, list) or not all(_is_entity(bp) for bp in listed):
            raise self._bad_answer(BLUEPRINTS, "/v1/blueprints", "no list of blueprints")
        return {bp["identifier"] for bp in listed}

    def may_create_blueprints(self) -> bool:
        """Whether Port lets this token create blueprints, asked without creating one.

        The probe is a create whose body has no identifier, so it can never succeed: a token
        without the right is refused (403) before the body is validated; one with it gets
        the body refused (422 or 400). Any other answer raises PortApiError.
        """
        response = self._transport.request(CREATE_BLUEPRINT, "/v1/blueprints", body={})
        if response.status_code in (400, 422):
            return True
        if response.status_code == 403:
            return False
        raise self._transport.error(CREATE_BLUEPRINT, "/v1/blueprints", response)

    def ensure_blueprints(self, blueprints: list[dict[str, Any]]) -> BlueprintSetupReport:
        """Create the blueprints that are missing, each whole once those it points at exist
        (see port/blueprints.py); leave the existing ones exactly as they are."""
        existing = set(self.blueprint_identifiers())
        whole, cyclic = creation_order(blueprints, existing)
        created: set[str] = set()
        for blueprint in whole:
            if self._create(blueprint):
                created.add(blueprint["identifier"])
        bare_created = [bp for bp in cyclic if self._create(bare(bp))]
        for blueprint in bare_created:
            created.add(blueprint["identifier"])
            patch = relations_patch(blueprint)
            if patch:
                path = f"/v1/blueprints/{_segment(blueprint['identifier'])}"
                self._json(PATCH_BLUEPRINT, path, method_body=patch)
        report = BlueprintSetupReport()
        for blueprint in blueprints:
            identifier = blueprint["identifier"]
            (report.created if identifier in created else report.existing).append(identifier)
        return report

    def _create(self, body: dict[str, Any]) -> bool:
        """False when someone created it meanwhile (409): then it is theirs, not ours."""
        response = self._transport.request(CREATE_BLUEPRINT, "/v1/blueprints", body=body)
        if response.status_code == 409:
            return False
        if response.status_code not in (200, 201):
            raise self._transport.error(CREATE_BLUEPRINT, "/v1/blueprints", response)
        return True

    # -- search ------------------------------------------------------------------------

    def search_owned(self, blueprint: str, scope: str) -> list[dict[str, Any]]:
        """Every entity of `blueprint` whose `$datasource` is this scope's User-Agent.

        A missing blueprint owns nothing (the upserts will then report it per entity): only
        Port's own JSON `not_found` says so. Any other answer that is not a successful page
        (`ok: false`, not JSON, the wrong shape) raises PortApiError: a search that did not
        succeed must never stand for "nothing owned", or the plan would re-create or keep
        what it cannot see.
        """
        return self._search_scope(blueprint, scope, [])

    def search_owned_identifiers(
        self, blueprint: str, scope: str, identifiers: list[str]
    ) -> list[dict[str, Any]]:
        """The entities among `identifiers` this scope owns: what an incremental sync compares
        its few changed entities with, instead of reading the whole scope."""
        found: list[dict[str, Any]] = []
        unique = sorted(set(identifiers))
        for start in range(0, len(unique), IDENTIFIERS_PER_SEARCH):
            chunk = unique[start : start + IDENTIFIERS_PER_SEARCH]
            rule = {"property": "$identifier", "operator": "in", "value": chunk}
            found.extend(self._search_scope(blueprint, scope, [rule]))
        return found

    def _search_scope(
        self, blueprint: str, scope: str, rules: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/search"
        rule = {"property": "$datasource", "operator": "=", "value": self.user_agent(scope)}
        query: dict[str, Any] = {
            "query": {"combinator": "and", "rules": [rule, *rules]},
            "limit": SEARCH_PAGE,
        }
        found: list[dict[str, Any]] = []
        cursors: set[str] = set()
        while True:
            response = self._transport.request(SEARCH, path, body=query)
            if response.status_code == 404 and not found and _is_port_not_found(response):
                return []
            if response.status_code != 200:
                raise self._transport.error(SEARCH, path, response)
            page = self._transport.json_object(SEARCH, path, response)
            entities = page.get("entities")
            if not isinstance(entities, list) or not all(_is_entity(body) for body in entities):
                what = "a page whose `entities` is not a list of entities"
                raise self._bad_answer(SEARCH, path, what, response)
            for body in entities:
                body.setdefault("blueprint", blueprint)
                found.append(body)
            cursor = page.get("next")
            if not cursor:
                return found
            if not isinstance(cursor, str) or cursor in cursors:
                what = f"a `next` cursor that goes nowhere: {cursor!r}"
                raise self._bad_answer(SEARCH, path, what, response)
            cursors.add(cursor)
            query["from"] = cursor

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
            return self._confirmed(blueprint, items, path, response)
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

    def _confirmed(
        self, blueprint: str, items: list[Item], path: str, response: requests.Response
    ) -> list[tuple[int, EntityOutcome]]:
        """What Port confirms of a 2xx bulk answer: a write counts only when Port says so.

        Not JSON, or not an object: PortResponseError (nothing can be read from it). `ok`
        other than true on a 200/201: every entity failed with Port's reason, whatever the
        status said (a 207 carries `ok: false` and its per-entity results by design).
        """
        status = response.status_code
        payload = self._transport.json_object(BULK_UPSERT, path, response, allow_not_ok=True)
        redact = self._transport.redact
        if status != 207 and payload.get("ok") is not True:
            code, message = error_details(response)
            text = redact(
                f"Port answered {status} with ok: {json.dumps(payload.get('ok'))}"
                f"{': ' + message if message else ''}; not counted as written"
            )
            return [
                (item.position, _failed(blueprint, item.entity.identifier, status, code, text))
                for item in items
            ]
        results, errors = payload.get("entities") or [], payload.get("errors") or []
        if not isinstance(results, list) or not isinstance(errors, list):
            what = "`entities` or `errors` that are not lists"
            raise self._bad_answer(BULK_UPSERT, path, what, response)
        return _bulk_outcomes(blueprint, items, results, errors, status, redact)

    # -- delete ------------------------------------------------------------------------

    def bulk_delete(
        self,
        blueprint: str,
        identifiers: Iterable[str],
        *,
        delete_dependents: bool,
        foreign_cascade: bool = False,
    ) -> list[EntityOutcome]:
        """Delete up to 100 per request; an entity already gone is ok, counted apart.

        An entity Port says it did not find (404, or left out of a bulk answer's
        `deletedEntities`) is `already_gone`, not deleted by this run; a 200 that says
        `ok: false` confirms nothing and each of its entities is a failure.

        Deletes go without Port's cascade first. `delete_dependents` (the mapping's
        `deleteDependentEntities`) lets a delete Port refuses for its dependents cascade, but
        only once a search shows every dependent was written by this installation; an entity
        that entities written by others depend on is kept and reported
        (`kept_for_foreign_dependents`), never cascaded into. `foreign_cascade` restores Port's
        own behaviour (cascade into whatever depends on it), the foreign entities it deletes
        reported on the outcome. Every outcome names the foreign dependents it found.

        When Port refuses a whole request (one entity has dependents fails the whole bulk
        call), each entity of it is deleted alone (404 = already gone) so the others
        still go and the refused one is reported.
        """
        ids = list(dict.fromkeys(identifiers))
        jobs = [
            partial(self._delete_chunk, blueprint, chunk, delete_dependents, foreign_cascade)
            for chunk in batching.chunks(ids)
        ]
        return [outcome for results in self._run_all(jobs) for outcome in results]

    def installation_datasource_prefix(self) -> str:
        """What every `$datasource` this installation writes starts with, whatever the scope."""
        return f"{PRODUCT} (installation={self.settings.installation_id}; scope="

    def foreign_dependents(self, blueprint: str, identifiers: list[str]) -> list[EntityKey]:
        """Entities relating to any of `identifiers` (directly or through other entities: what
        Port's cascade would reach) that this installation did not write, sorted."""
        if not identifiers:
            return []
        related: dict[str, Any] = {
            "combinator": "or",
            "rules": [
                {
                    "operator": "relatedTo",
                    "blueprint": blueprint,
                    "value": identifier,
                    "direction": "downstream",
                }
                for identifier in identifiers
            ],
        }
        everyone = self._search_all({"combinator": "and", "rules": [related]})
        if not everyone:
            return []
        ours = {
            "property": "$datasource",
            "operator": "beginsWith",
            "value": self.installation_datasource_prefix(),
        }
        owned = self._search_all({"combinator": "and", "rules": [related, ours]})
        return sorted(everyone - owned)

    def _search_all(self, query: dict[str, Any]) -> set[EntityKey]:
        response = self._transport.request(SEARCH_ALL, "/v1/entities/search", body=query)
        if response.status_code != 200:
            raise self._transport.error(SEARCH_ALL, "/v1/entities/search", response)
        page = self._transport.json_object(SEARCH_ALL, "/v1/entities/search", response)
        entities = page.get("entities")
        if not isinstance(entities, list) or not all(
            _is_entity(body) and isinstance(body.get("blueprint"), str) for body in entities
        ):
            what = "`entities` that are not a list of entities with their blueprint"
            raise self._bad_answer(SEARCH_ALL, "/v1/entities/search", what)
        return {(body["blueprint"], body["identifier"]) for body in entities}

    def _foreign_by_id(self, blueprint: str, ids: list[str]) -> dict[str, list[EntityKey]]:
        """The foreign dependents of each id that has any: one search for the whole chunk
        (the usual answer is none), halving only the parts that have some."""
        foreign = self.foreign_dependents(blueprint, ids)
        if not foreign:
            return {}
        if len(ids) == 1:
            return {ids[0]: foreign}
        middle = len(ids) // 2
        return {
            **self._foreign_by_id(blueprint, ids[:middle]),
            **self._foreign_by_id(blueprint, ids[middle:]),
        }

    def _delete_chunk(
        self, blueprint: str, ids: list[str], delete_dependents: bool, foreign_cascade: bool
    ) -> list[EntityOutcome]:
        try:
            foreign = self._foreign_by_id(blueprint, ids)
        except PortApiError as error:  # reporting only: deletes still never cascade unchecked
            logger.warning(f"could not list what depends on {blueprint} entities: {error}")
            foreign = {}
        outcomes: dict[str, EntityOutcome] = {}
        cascade = delete_dependents and foreign_cascade  # Port's own cascade, opted into
        clean = [identifier for identifier in ids if identifier not in foreign]
        if clean:
            path = f"/v1/blueprints/{_segment(blueprint)}/bulk/entities/delete"
            response = self._transport.request(
                BULK_DELETE,
                path,
                params={"delete_dependents": _flag(cascade)},
                body={"entities": clean},
            )
            refused = _not_ok(response) if response.status_code == 200 else None
            if refused is not None:  # a 200 that says `ok: false` deleted nothing we can count
                message = self._transport.redact(f"Port did not confirm the delete: {refused}")
                for i in clean:
                    outcomes[i] = _failed(blueprint, i, 200, "not_confirmed", message, "delete")
            elif response.status_code == 200:  # ids Port skipped were not there: already gone
                went = _deleted_ids(response)  # None: Port did not say which, all count
                for i in clean:
                    outcomes[i] = _deleted(blueprint, i, gone=went is not None and i not in went)
            else:
                for identifier in clean:
                    outcomes[identifier] = self._delete_one(
                        blueprint, identifier, cascade=cascade, owned_cascade=delete_dependents
                    )
        for identifier, theirs in foreign.items():
            outcomes[identifier] = self._delete_one(
                blueprint,
                identifier,
                cascade=cascade,
                owned_cascade=False,
                foreign=tuple(theirs),
            )
        return [outcomes[identifier] for identifier in ids]

    def _delete_one(
        self,
        blueprint: str,
        identifier: str,
        *,
        cascade: bool,
        owned_cascade: bool,
        foreign: tuple[EntityKey, ...] = (),
    ) -> EntityOutcome:
        """Delete one entity. Refused for its dependents: with `owned_cascade`, cascade when a
        fresh search finds no foreign dependent; with foreign dependents, keep it."""
        response = self._delete_request(blueprint, identifier, cascade)
        if response.status_code == 403 and not cascade:
            code, _ = error_details(response)
            if code == "has_dependents" and owned_cascade and not foreign:
                try:
                    foreign = tuple(self.foreign_dependents(blueprint, [identifier]))
                except PortApiError as error:
                    message = (
                        "Port refused: it has dependents, and who wrote them could not be "
                        f"checked, so nothing was cascaded ({error})"
                    )
                    message = self._transport.redact(message)
                    return _failed(blueprint, identifier, 403, code, message, "delete")
                if not foreign:  # every dependent is ours: Port's cascade stays inside
                    response = self._delete_request(blueprint, identifier, True)
            if code == "has_dependents" and foreign:
                return _kept(blueprint, identifier, foreign)
        refused = _not_ok(response) if response.status_code == 200 else None
        if refused is not None:
            message = self._transport.redact(f"Port did not confirm the delete: {refused}")
            return _failed(blueprint, identifier, 200, "not_confirmed", message, "delete")
        if response.status_code in (200, 204, 404):
            outcome = _deleted(blueprint, identifier, gone=response.status_code == 404)
            return replace(outcome, foreign_dependents=foreign) if foreign else outcome
        code, message = error_details(response)
        message = self._transport.redact(message)
        return _failed(blueprint, identifier, response.status_code, code, message, "delete")

    def _delete_request(self, blueprint: str, identifier: str, cascade: bool) -> requests.Response:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/{_segment(identifier)}"
        return self._transport.request(DELETE, path, params={"delete_dependents": _flag(cascade)})

    # -- plumbing ----------------------------------------------------------------------

    def _json(
        self, route: Route, path: str, *, method_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self._transport.request(route, path, body=method_body)
        if not 200 <= response.status_code < 300:
            raise self._transport.error(route, path, response)
        return self._transport.json_object(route, path, response)

    def _bad_answer(
        self, route: Route, path: str, what: str, response: requests.Response | None = None
    ) -> PortResponseError:
        """PortResponseError: Port's answer (`response`, with its status) was not usable."""
        if response is not None:
            return self._transport.bad_answer(route, path, response, what)
        error = self._transport.error(
            route, path, None, f"answered with {what}", cls=PortResponseError
        )
        assert isinstance(error, PortResponseError)
        return error

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
    results: list[Any],
    errors: list[Any],
    status: int,
    redact: Callable[[str], str],
) -> list[tuple[int, EntityOutcome]]:
    """Map Port's per-entity results back by `index` (by identifier when the index is
    missing or not one of this request's).

    Only an entity listed among `entities` counts as written (`created` only when Port says
    true or false); one listed under `errors` fails with Port's reason; one not mentioned
    fails too. Entries naming an index that was not in the request are never applied to
    another entity: they are reported in the message of the entities left unconfirmed (or
    logged, when Port confirmed every entity anyway).
    """
    by_index: dict[int, EntityOutcome] = {}
    index_of = {item.entity.identifier: index for index, item in enumerate(items)}
    strays: list[str] = []
    for result in results:
        index = _index(result, len(items), index_of)
        if index is None:
            strays.append("a success for " + _describe_entry(result))
            continue
        created = result.get("created")
        by_index[index] = EntityOutcome(
            blueprint,
            items[index].entity.identifier,
            ok=True,
            created=created if isinstance(created, bool) else None,
            status=status,
        )
    for error in errors:
        index = _index(error, len(items), index_of)
        if index is None:
            strays.append("an error for " + _describe_entry(error))
            continue
        code = error.get("statusCode")
        by_index[index] = _failed(
            blueprint,
            items[index].entity.identifier,
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            str(error["error"]) if error.get("error") is not None else None,
            redact(str(error.get("message") or "")),
        )
    missing = "Port's answer did not mention this entity"
    if strays:
        named = "; ".join(strays[:5]) + ("; ..." if len(strays) > 5 else "")
        missing += f" (it named entries that were not in the request: {redact(named)})"
        if len(by_index) == len(items):
            logger.warning("Port's %s answer for %s: %s", status, blueprint, missing)
    return [
        (
            item.position,
            by_index.get(index)
            or _failed(blueprint, item.entity.identifier, status, None, missing),
        )
        for index, item in enumerate(items)
    ]


def _index(result: Any, size: int, index_of: dict[str, int]) -> int | None:
    """The request position an entry of Port's answer is about, or None if none of ours."""
    if not isinstance(result, dict):
        return None
    index = result.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size:
        return index
    identifier = result.get("identifier")
    return index_of.get(identifier) if isinstance(identifier, str) else None


def _describe_entry(entry: Any) -> str:
    if not isinstance(entry, dict):
        return f"{json.dumps(entry)[:100]}"
    text = f"index {json.dumps(entry.get('index'))}"
    if entry.get("identifier") is not None:
        text += f" ({json.dumps(entry.get('identifier'))[:100]})"
    detail = " ".join(
        str(entry[key]) for key in ("statusCode", "error", "message") if entry.get(key)
    )
    return f"{text}: {detail[:200]}" if detail else text


def _is_entity(body: Any) -> bool:
    """A Port entity (or blueprint) body: an object with a string identifier."""
    return isinstance(body, dict) and isinstance(body.get("identifier"), str)


def _is_port_not_found(response: requests.Response) -> bool:
    """Port's own JSON 404 (`error: not_found`), not a proxy's or a wrong URL's."""
    try:
        payload = response.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("error") == "not_found"


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


def _deleted(blueprint: str, identifier: str, *, gone: bool = False) -> EntityOutcome:
    """A delete Port confirmed; `gone`: it was not there (someone else deleted it first),
    which is fine but not this run's deletion (see EntityOutcome.already_gone)."""
    if gone:
        return EntityOutcome(
            blueprint, identifier, ok=True, status=404, message="already gone", operation="delete"
        )
    return EntityOutcome(blueprint, identifier, ok=True, operation="delete")


def _kept(blueprint: str, identifier: str, foreign: tuple[EntityKey, ...]) -> EntityOutcome:
    shown = ", ".join(f"{bp}/{ident}" for bp, ident in foreign[:5])
    more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
    message = (
        f"kept: {len(foreign)} entities this installation did not write depend on it "
        f"({shown}{more}) and Port would delete them with it; "
        "AZURE_PORT_FOREIGN_CASCADE=true lets Port cascade into them"
    )
    return EntityOutcome(
        blueprint,
        identifier,
        ok=False,
        status=403,
        code=FOREIGN_DEPENDENTS,
        message=message,
        operation="delete",
        foreign_dependents=foreign,
    )


def _not_ok(response: requests.Response) -> str | None:
    """Port's reason when a 200 answer says `ok: false`; None when it does not say so."""
    try:
        payload = response.json()
    except ValueError:
        return None
    if isinstance(payload, dict) and payload.get("ok") is False:
        return str(payload.get("message") or payload.get("error") or "ok: false")[:300]
    return None


def _deleted_ids(response: requests.Response) -> set[str] | None:
    """The ids a bulk delete's answer says it deleted (`deletedEntities`), None if unsaid."""
    try:
        payload = response.json()
    except ValueError:
        return None
    went = payload.get("deletedEntities") if isinstance(payload, dict) else None
    return {i for i in went if isinstance(i, str)} if isinstance(went, list) else None


def _too_large(item: Item) -> EntityOutcome:
    size = len(item.payload)
    message = f"entity body is {size} bytes, above Port's 1 MiB request limit; not sent"
    return _failed(item.entity.blueprint, item.entity.identifier, 413, "request_too_large", message)


def _segment(value: str) -> str:
    """Azure ids contain '/': percent-encode everything in a path segment."""
    return quote(value, safe="")


def _flag(value: bool) -> str:
    return "true" if value else "false"
