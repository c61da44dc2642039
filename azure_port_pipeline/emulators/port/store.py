"""State of the Port emulator: blueprints, entities and the indexes that keep it fast.

Not thread-safe by itself: the HTTP layer holds `PortStore.lock` around every call, so a
request sees and leaves a consistent catalog.

Indexes (all O(1) or amortised O(1) per write):
- `_entities[bp][id]`: the entities of each blueprint;
- `_by_seq[seq]`: every live entity by its sequence number. An entity gets a new `seq` when it
  is created and whenever its `$datasource` changes, so "appears in an ordered index" can be
  checked by `seq in _by_seq` (old entries become dead and are skipped / compacted lazily);
- `SeqIndex` per blueprint and per (blueprint, datasource): ascending seq lists, so a search
  page resumes after the cursor's seq with one bisect instead of a scan of everything;
- `_incoming[(bp, id)]`: who relates to an entity (dependents, `relatedTo`).
"""

from __future__ import annotations

import bisect
import copy
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure_port_pipeline.emulators.port.errors import (
    PortApiError,
    invalid_request,
    not_found,
    schema_mismatch,
)
from azure_port_pipeline.emulators.port.validation import (
    check_blueprint_body,
    property_value_error,
)

EntityKey = tuple[str, str]
COMPACT_MIN_DEAD = 1024  # dead index entries tolerated before a compaction is considered
RejectHook = Callable[[str, dict[str, Any]], "PortApiError | str | bool | None"]


def iso_now() -> str:
    """Port's timestamp format: ISO 8601 UTC with milliseconds and `Z`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class StoredEntity:
    blueprint: str
    identifier: str
    title: str | None
    icon: str | None
    team: list[str]
    properties: dict[str, Any]
    relations: dict[str, Any]
    created_at: str
    updated_at: str
    created_by: str
    updated_by: str
    datasource: str
    seq: int

    def to_api(self, *, with_datasource: bool = False) -> dict[str, Any]:
        """The entity as Port's API returns it (datasource only when asked for)."""
        body: dict[str, Any] = {
            "identifier": self.identifier,
            "title": self.title,
            "icon": self.icon,
            "team": list(self.team),
            "properties": dict(self.properties),
            "relations": {
                k: (list(v) if isinstance(v, list) else v) for k, v in self.relations.items()
            },
            "blueprint": self.blueprint,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "createdBy": self.created_by,
            "updatedBy": self.updated_by,
        }
        if with_datasource:
            body["datasource"] = self.datasource
        return body

    def meta(self, name: str) -> Any:
        """A `$meta` property value as search rules see it."""
        return {
            "$identifier": self.identifier,
            "$title": self.title,
            "$icon": self.icon,
            "$team": self.team,
            "$blueprint": self.blueprint,
            "$createdAt": self.created_at,
            "$updatedAt": self.updated_at,
            "$createdBy": self.created_by,
            "$updatedBy": self.updated_by,
            "$datasource": self.datasource,
        }.get(name)


@dataclass(slots=True)
class SeqIndex:
    """Ascending sequence numbers with lazy deletion: cheap append, bisect to resume a page."""

    seqs: list[int] = field(default_factory=list)
    dead: int = 0

    def add(self, seq: int) -> None:
        self.seqs.append(seq)

    def kill(self, live: dict[int, StoredEntity]) -> None:
        self.dead += 1
        if self.dead > COMPACT_MIN_DEAD and self.dead * 2 > len(self.seqs):
            self.seqs = [s for s in self.seqs if s in live]
            self.dead = 0

    def iter_after(self, after: int, live: dict[int, StoredEntity]) -> Iterator[StoredEntity]:
        start = bisect.bisect_right(self.seqs, after)
        seqs = self.seqs
        for i in range(start, len(seqs)):
            entity = live.get(seqs[i])
            if entity is not None:
                yield entity


@dataclass(slots=True)
class UpsertOptions:
    upsert: bool = True
    merge: bool = False
    create_missing_related_entities: bool = False
    validation_only: bool = False
    datasource: str = ""
    actor: str = ""


class PortStore:
    """Blueprints + entities with Port's semantics; raises PortApiError on refusal."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._blueprints: dict[str, dict[str, Any]] = {}
        self._entities: dict[str, dict[str, StoredEntity]] = {}
        self._by_seq: dict[int, StoredEntity] = {}
        self._bp_index: dict[str, SeqIndex] = {}
        self._ds_index: dict[tuple[str, str], SeqIndex] = {}
        self._incoming: dict[EntityKey, set[tuple[str, str, str]]] = {}
        self._seq = 0
        self.reject_hook: RejectHook | None = None

    # ----------------------------------------------------------------- blueprints
    def list_blueprints(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(bp) for bp in self._blueprints.values()]

    def get_blueprint(self, identifier: str) -> dict[str, Any]:
        return copy.deepcopy(self._blueprint(identifier))

    def has_blueprint(self, identifier: str) -> bool:
        return identifier in self._blueprints

    def _blueprint(self, identifier: str) -> dict[str, Any]:
        bp = self._blueprints.get(identifier)
        if bp is None:
            raise not_found(f'Blueprint with identifier "{identifier}" was not found')
        return bp

    def create_blueprint(self, body: Any, actor: str) -> dict[str, Any]:
        check_blueprint_body(body)
        identifier = body["identifier"]
        if identifier in self._blueprints:
            raise PortApiError(
                409,
                "identifier_taken",
                f'A blueprint with identifier "{identifier}" already exists',
            )
        self._check_relation_targets(identifier, body.get("relations") or {})
        now = iso_now()
        stored = self._normalise_blueprint(body, now, now, actor, actor)
        self._blueprints[identifier] = stored
        self._entities[identifier] = {}
        self._bp_index[identifier] = SeqIndex()
        return copy.deepcopy(stored)

    def put_blueprint(self, identifier: str, body: Any, actor: str) -> dict[str, Any]:
        existing = self._blueprint(identifier)
        if isinstance(body, dict) and body.get("identifier", identifier) != identifier:
            raise invalid_request("Changing a blueprint's identifier is not supported")
        candidate = {**body, "identifier": identifier} if isinstance(body, dict) else body
        check_blueprint_body(candidate)
        return self._replace_blueprint(existing, candidate, actor)

    def patch_blueprint(self, identifier: str, body: Any, actor: str) -> dict[str, Any]:
        """PATCH merges `schema.properties` and `relations` key by key (Ocean adds relations
        to bare blueprints this way); any other top-level key given replaces the old one."""
        existing = self._blueprint(identifier)
        if not isinstance(body, dict):
            raise invalid_request("body must be object")
        if body.get("identifier", identifier) != identifier:
            raise invalid_request("Changing a blueprint's identifier is not supported")
        merged = copy.deepcopy(existing)
        for key, value in body.items():
            if key == "schema" and isinstance(value, dict):
                schema = merged["schema"]
                props = dict(schema.get("properties", {}))
                props.update(value.get("properties") or {})
                schema["properties"] = props
                if "required" in value:
                    schema["required"] = value["required"]
                extra = set(value) - {"properties", "required"}
                if extra:
                    raise invalid_request(
                        f"body/schema must NOT have additional properties ({sorted(extra)})"
                    )
            elif key == "relations" and isinstance(value, dict):
                relations = dict(merged.get("relations") or {})
                relations.update(value)
                merged["relations"] = relations
            else:
                merged[key] = value
        check_blueprint_body(merged)
        return self._replace_blueprint(existing, merged, actor)

    def _replace_blueprint(
        self, existing: dict[str, Any], body: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        identifier = existing["identifier"]
        self._check_relation_targets(identifier, body.get("relations") or {})
        stored = self._normalise_blueprint(
            body, existing["createdAt"], iso_now(), existing["createdBy"], actor
        )
        self._blueprints[identifier] = stored
        return copy.deepcopy(stored)

    def delete_blueprint(self, identifier: str) -> None:
        self._blueprint(identifier)
        count = len(self._entities[identifier])
        if count:
            raise PortApiError(
                422,
                "has_dependents",
                f'Blueprint "{identifier}" still has {count} entities; delete them first',
            )
        for other in self._blueprints.values():
            for name, rel in (other.get("relations") or {}).items():
                if rel["target"] == identifier and other["identifier"] != identifier:
                    raise PortApiError(
                        422,
                        "has_dependents",
                        f'Blueprint "{other["identifier"]}" has relation "{name}" '
                        f'targeting "{identifier}"',
                    )
        del self._blueprints[identifier]
        del self._entities[identifier]
        self._bp_index.pop(identifier, None)
        for key in [k for k in self._ds_index if k[0] == identifier]:
            del self._ds_index[key]

    def _check_relation_targets(self, identifier: str, relations: dict[str, Any]) -> None:
        for name, rel in relations.items():
            target = rel["target"]
            if target != identifier and target not in self._blueprints:
                raise not_found(
                    f'Relation "{name}" targets blueprint "{target}", which was not found'
                )

    @staticmethod
    def _normalise_blueprint(
        body: dict[str, Any],
        created_at: str,
        updated_at: str,
        created_by: str,
        updated_by: str,
    ) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        stored.setdefault("icon", None)
        stored.setdefault("description", None)
        stored["schema"].setdefault("required", [])
        stored["relations"] = stored.get("relations") or {}
        for key in ("mirrorProperties", "calculationProperties", "aggregationProperties"):
            stored.setdefault(key, {})
        stored.update(
            createdAt=created_at, updatedAt=updated_at, createdBy=created_by, updatedBy=updated_by
        )
        return stored

    # ------------------------------------------------------------------ entities
    def entity(self, blueprint: str, identifier: str) -> StoredEntity:
        self._blueprint(blueprint)
        found = self._entities[blueprint].get(identifier)
        if found is None:
            raise not_found(
                f'Entity with identifier "{identifier}" of blueprint "{blueprint}" was not found'
            )
        return found

    def find(self, blueprint: str, identifier: str) -> StoredEntity | None:
        return self._entities.get(blueprint, {}).get(identifier)

    def entities_of(self, blueprint: str) -> list[StoredEntity]:
        self._blueprint(blueprint)
        return list(self._entities[blueprint].values())

    def all_entities(self) -> Iterator[StoredEntity]:
        for entities in self._entities.values():
            yield from entities.values()

    def count(self, blueprint: str | None = None) -> int:
        if blueprint is None:
            return len(self._by_seq)
        self._blueprint(blueprint)
        return len(self._entities[blueprint])

    def blueprint_ids(self) -> list[str]:
        return list(self._blueprints)

    def bp_index(self, blueprint: str) -> SeqIndex:
        return self._bp_index[blueprint]

    def ds_index(self, blueprint: str, datasource: str) -> SeqIndex | None:
        return self._ds_index.get((blueprint, datasource))

    @property
    def live(self) -> dict[int, StoredEntity]:
        return self._by_seq

    def incoming(self, key: EntityKey) -> set[tuple[str, str, str]]:
        return self._incoming.get(key, set())

    def relation_target(self, blueprint: str, relation: str) -> str | None:
        rel = (self._blueprints.get(blueprint, {}).get("relations") or {}).get(relation)
        return rel["target"] if rel else None

    def upsert(
        self, blueprint: str, body: dict[str, Any], opts: UpsertOptions
    ) -> tuple[bool, StoredEntity]:
        """Create or update one entity; returns (created, entity). Raises PortApiError.

        Without `upsert` an existing identifier is a 409. With `merge` only the fields sent
        change (properties and relations key by key); otherwise the entity is replaced.
        """
        bp = self._blueprint(blueprint)
        identifier = body.get("identifier") or f"e_{secrets.token_hex(8)}"
        existing = self._entities[blueprint].get(identifier)
        if existing is not None and not opts.upsert:
            raise PortApiError(
                409,
                "identifier_taken",
                f'Entity with identifier "{identifier}" of blueprint "{blueprint}" already exists',
            )
        self._apply_reject_hook(blueprint, {**body, "identifier": identifier})
        merge = opts.merge and existing is not None
        title, icon, team, properties, relations = self._merged_fields(body, existing, merge)
        self._validate_properties(bp, body.get("properties") or {}, properties)
        relations = self._validate_relations(blueprint, bp, identifier, relations)
        missing = self._missing_targets(blueprint, identifier, bp, relations)
        if missing and not opts.create_missing_related_entities:
            target_bp, target_id = missing[0]
            raise not_found(
                f'Related entity with identifier "{target_id}" of blueprint "{target_bp}" '
                "was not found"
            )
        if opts.validation_only:
            preview = self._new_entity(blueprint, identifier, opts)
            preview.title, preview.icon, preview.team = title, icon, team
            preview.properties, preview.relations = properties, relations
            return existing is None, preview
        for target_bp, target_id in missing:
            self._store_placeholder(target_bp, target_id, opts)
        return self._write(
            blueprint,
            identifier,
            existing,
            opts,
            title=title,
            icon=icon,
            team=team,
            properties=properties,
            relations=relations,
        )

    def _apply_reject_hook(self, blueprint: str, body: dict[str, Any]) -> None:
        if self.reject_hook is None:
            return
        verdict = self.reject_hook(blueprint, body)
        if isinstance(verdict, PortApiError):
            raise verdict
        if verdict:
            message = verdict if isinstance(verdict, str) else "rejected by the emulator hook"
            raise schema_mismatch(message)

    @staticmethod
    def _merged_fields(
        body: dict[str, Any], existing: StoredEntity | None, merge: bool
    ) -> tuple[str | None, str | None, list[str], dict[str, Any], dict[str, Any]]:
        sent_props = body.get("properties") or {}
        sent_rels = body.get("relations") or {}
        team = _normalise_team(body.get("team"))
        if merge and existing is not None:
            return (
                body.get("title", existing.title),
                body.get("icon", existing.icon),
                team if "team" in body else list(existing.team),
                {**existing.properties, **sent_props},
                {**existing.relations, **sent_rels},
            )
        return body.get("title"), body.get("icon"), team, dict(sent_props), dict(sent_rels)

    @staticmethod
    def _validate_properties(
        bp: dict[str, Any], sent: dict[str, Any], result: dict[str, Any]
    ) -> None:
        schema_props = bp["schema"].get("properties", {})
        for name, value in sent.items():
            prop = schema_props.get(name)
            if prop is None:
                raise schema_mismatch(
                    f'Property "{name}" is not defined in blueprint "{bp["identifier"]}"'
                )
            problem = property_value_error(name, prop, value)
            if problem:
                raise schema_mismatch(problem)
        for name in bp["schema"].get("required", []):
            if result.get(name) is None:
                raise schema_mismatch(f"must have required property '{name}'")

    @staticmethod
    def _validate_relations(
        blueprint: str, bp: dict[str, Any], identifier: str, relations: dict[str, Any]
    ) -> dict[str, Any]:
        defs = bp.get("relations") or {}
        normalised: dict[str, Any] = {}
        for name, value in relations.items():
            rel = defs.get(name)
            if rel is None:
                raise invalid_request(
                    f'Relation "{name}" is not defined in blueprint "{blueprint}"'
                )
            if isinstance(value, list) and not rel["many"]:
                raise PortApiError(
                    422,
                    "relation_many_violation",
                    f'Relation "{name}" of blueprint "{blueprint}" is not "many" but an array '
                    "was given",
                )
            if rel["many"] and isinstance(value, str):
                value = [value]
            normalised[name] = value
        for name, rel in defs.items():
            if rel["required"] and not normalised.get(name):
                raise PortApiError(
                    422,
                    "required_relation",
                    f'Relation "{name}" is required for entity "{identifier}" of blueprint '
                    f'"{blueprint}"',
                )
        return normalised

    def _missing_targets(
        self, blueprint: str, identifier: str, bp: dict[str, Any], relations: dict[str, Any]
    ) -> list[EntityKey]:
        missing: list[EntityKey] = []
        defs = bp.get("relations") or {}
        for name, value in relations.items():
            target_bp = defs[name]["target"]
            targets = value if isinstance(value, list) else [value] if value else []
            for target_id in targets:
                if target_bp == blueprint and target_id == identifier:
                    continue
                if target_id not in self._entities[target_bp] and (
                    (target_bp, target_id) not in missing
                ):
                    missing.append((target_bp, target_id))
        return missing

    def _store_placeholder(self, blueprint: str, identifier: str, opts: UpsertOptions) -> None:
        """Port's `create_missing_related_entities`: a bare entity (identifier only)."""
        entity = self._new_entity(blueprint, identifier, opts)
        self._insert(entity)

    def _new_entity(self, blueprint: str, identifier: str, opts: UpsertOptions) -> StoredEntity:
        now = iso_now()
        return StoredEntity(
            blueprint=blueprint,
            identifier=identifier,
            title=None,
            icon=None,
            team=[],
            properties={},
            relations={},
            created_at=now,
            updated_at=now,
            created_by=opts.actor,
            updated_by=opts.actor,
            datasource=opts.datasource,
            seq=0,
        )

    def _write(
        self,
        blueprint: str,
        identifier: str,
        existing: StoredEntity | None,
        opts: UpsertOptions,
        **fields: Any,
    ) -> tuple[bool, StoredEntity]:
        if existing is None:
            entity = self._new_entity(blueprint, identifier, opts)
            for name, value in fields.items():
                setattr(entity, name, value)
            self._insert(entity)
            return True, entity
        changed = opts.datasource != existing.datasource or any(
            getattr(existing, name) != value for name, value in fields.items()
        )
        if not changed:
            return False, existing
        self._unlink_relations(existing)
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.updated_at = iso_now()
        existing.updated_by = opts.actor
        if opts.datasource != existing.datasource:
            self._reindex(existing, opts.datasource)
        self._link_relations(existing)
        return False, existing

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _insert(self, entity: StoredEntity) -> None:
        entity.seq = self._next_seq()
        self._entities[entity.blueprint][entity.identifier] = entity
        self._by_seq[entity.seq] = entity
        self._bp_index[entity.blueprint].add(entity.seq)
        self._ds_index.setdefault((entity.blueprint, entity.datasource), SeqIndex()).add(entity.seq)
        self._link_relations(entity)

    def _reindex(self, entity: StoredEntity, datasource: str) -> None:
        """A new writer owns the entity now: move it to the end of the ordered indexes."""
        old_ds = entity.datasource
        del self._by_seq[entity.seq]
        self._bp_index[entity.blueprint].kill(self._by_seq)
        self._ds_index[(entity.blueprint, old_ds)].kill(self._by_seq)
        entity.datasource = datasource
        entity.seq = self._next_seq()
        self._by_seq[entity.seq] = entity
        self._bp_index[entity.blueprint].add(entity.seq)
        self._ds_index.setdefault((entity.blueprint, datasource), SeqIndex()).add(entity.seq)

    def _relation_edges(self, entity: StoredEntity) -> Iterator[tuple[EntityKey, str]]:
        defs = self._blueprints[entity.blueprint].get("relations") or {}
        for name, value in entity.relations.items():
            rel = defs.get(name)
            if rel is None or not value:
                continue
            for target_id in value if isinstance(value, list) else [value]:
                yield (rel["target"], target_id), name

    def _link_relations(self, entity: StoredEntity) -> None:
        source = (entity.blueprint, entity.identifier, "")
        for target, name in self._relation_edges(entity):
            self._incoming.setdefault(target, set()).add((source[0], source[1], name))

    def _unlink_relations(self, entity: StoredEntity) -> None:
        for target, name in self._relation_edges(entity):
            edges = self._incoming.get(target)
            if edges is not None:
                edges.discard((entity.blueprint, entity.identifier, name))
                if not edges:
                    del self._incoming[target]

    def dependents(self, blueprint: str, identifier: str) -> list[EntityKey]:
        return sorted(
            {
                (bp, ident)
                for bp, ident, _ in self.incoming((blueprint, identifier))
                if (bp, ident) != (blueprint, identifier)
            }
        )

    def required_dependents(self, blueprint: str, identifier: str) -> list[EntityKey]:
        """Entities relating to this one through a relation their blueprint marks required:
        the ones that make Port refuse a delete without `delete_dependents`."""
        return sorted(
            {
                (bp, ident)
                for bp, ident, name in self.incoming((blueprint, identifier))
                if (bp, ident) != (blueprint, identifier) and self._is_required(bp, name)
            }
        )

    def _is_required(self, blueprint: str, relation: str) -> bool:
        rel = (self._blueprints.get(blueprint, {}).get("relations") or {}).get(relation)
        return bool(rel and rel.get("required"))

    def delete(self, blueprint: str, identifier: str, *, delete_dependents: bool) -> list[str]:
        """Delete one entity, as Port does.

        Without `delete_dependents`: refused (403 `has_dependents`) when an entity relates to
        it through a required relation; entities relating to it through optional relations
        stay, with that relation cleared. With `delete_dependents`: every entity relating to
        it (any relation, transitively) is deleted too. Returns the deleted keys as "bp/id".
        """
        return self.delete_many(
            blueprint, [identifier], delete_dependents=delete_dependents, strict=True
        )

    def delete_many(
        self,
        blueprint: str,
        identifiers: list[str],
        *,
        delete_dependents: bool,
        strict: bool = False,
    ) -> list[str]:
        """Delete entities of one blueprint together (the bulk route): a required dependent
        outside the set refuses the whole call before anything is deleted. Identifiers that do
        not exist are skipped, or raise 404 when `strict`. Returns the deleted keys."""
        present: list[StoredEntity] = []
        for identifier in dict.fromkeys(identifiers):
            found = (
                self.entity(blueprint, identifier) if strict else self.find(blueprint, identifier)
            )
            if found is not None:
                present.append(found)
        doomed: dict[EntityKey, StoredEntity] = {
            (entity.blueprint, entity.identifier): entity for entity in present
        }
        if delete_dependents:
            stack = list(present)
            while stack:
                current = stack.pop()
                for dep in self.dependents(current.blueprint, current.identifier):
                    found = self.find(*dep)
                    if found is not None and dep not in doomed:
                        doomed[dep] = found
                        stack.append(found)
        else:
            for entity in present:
                blocking = [
                    dep
                    for dep in self.required_dependents(entity.blueprint, entity.identifier)
                    if dep not in doomed
                ]
                if blocking:
                    raise PortApiError(
                        403,
                        "has_dependents",
                        f'Entity "{entity.identifier}" of blueprint "{entity.blueprint}" has '
                        f"{len(blocking)} dependent entities with a required relation to it; "
                        "pass delete_dependents=true to delete them too",
                    )
            for entity in present:
                self._detach_dependents(entity, doomed)
        for doomed_entity in doomed.values():
            self._remove(doomed_entity)
        return [f"{bp}/{ident}" for bp, ident in doomed]

    def _detach_dependents(self, target: StoredEntity, doomed: dict[EntityKey, Any]) -> None:
        """Clear the optional relations that point at `target` from the entities that stay."""
        key = (target.blueprint, target.identifier)
        for bp, ident, name in sorted(self.incoming(key)):
            dependent = self.find(bp, ident)
            if dependent is None or (bp, ident) in doomed:
                continue
            value = dependent.relations.get(name)
            self._unlink_relations(dependent)
            if isinstance(value, list):
                dependent.relations[name] = [v for v in value if v != target.identifier]
            elif value == target.identifier:
                dependent.relations[name] = None
            self._link_relations(dependent)

    def _remove(self, entity: StoredEntity) -> None:
        self._unlink_relations(entity)
        del self._entities[entity.blueprint][entity.identifier]
        del self._by_seq[entity.seq]
        self._bp_index[entity.blueprint].kill(self._by_seq)
        ds_key = (entity.blueprint, entity.datasource)
        self._ds_index[ds_key].kill(self._by_seq)


def _normalise_team(team: Any) -> list[str]:
    """Port keeps `team` as a list: a single team string becomes [team], null becomes []."""
    if team is None:
        return []
    if isinstance(team, str):
        return [team]
    return list(team)
