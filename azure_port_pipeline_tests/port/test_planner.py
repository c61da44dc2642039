"""Planner properties: applying a plan to any owned state yields the desired state, touches
nothing it does not own, and deletes nothing when the listing was incomplete or the share to
delete is above the threshold. Plans are applied to an in-memory model of Port's store."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import SyncPlan, plan_sync
from azure_port_pipeline.port.compare import entity_matches
from azure_port_pipeline.port.planner import deletion_guard

OURS = "azure-port-pipeline/test (installation=a; scope=s)"
THEIRS = "someone-else/1.0"

Store = dict[tuple[str, str], dict[str, Any]]

blueprints = st.sampled_from(["sub", "rg", "res"])
identifiers = st.sampled_from([f"id-{n}" for n in range(12)])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["x", "y", ""]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from("pq"), scalars, max_size=2),
)
properties = st.dictionaries(
    st.sampled_from(["location", "type", "tags", "size"]), values, max_size=3
)
relation_values = st.one_of(st.none(), identifiers, st.lists(identifiers, max_size=3))
relations = st.dictionaries(st.sampled_from(["parent", "links"]), relation_values, max_size=2)
teams = st.one_of(
    st.none(),
    st.sampled_from(["t1", "t2"]),
    st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3),
)


@st.composite
def entities(draw: st.DrawFn) -> Entity:
    return Entity(
        blueprint=draw(blueprints),
        identifier=draw(identifiers),
        title=draw(st.one_of(st.none(), st.sampled_from(["A", "B"]))),
        icon=draw(st.one_of(st.none(), st.just("Azure"))),
        team=draw(teams),
        properties=draw(properties),
        relations=draw(relations),
    )


@st.composite
def stores(draw: st.DrawFn) -> Store:
    """Port's store: some entities written by us (this scope), some by someone else."""
    store: Store = {}
    for entity in draw(st.lists(entities(), max_size=12)):
        body = entity.to_port()
        body["datasource"] = draw(st.sampled_from([OURS, OURS, THEIRS]))
        if isinstance(body.get("team"), str) and draw(st.booleans()):
            body["team"] = [body["team"]]  # Port answers a list
        store[(entity.blueprint, entity.identifier)] = body
    return store


def owned_in(store: Store) -> list[dict[str, Any]]:
    return [copy.deepcopy(body) for body in store.values() if body["datasource"] == OURS]


def apply_to_store(store: Store, plan: SyncPlan) -> Store:
    """Port's merge upsert and delete, in memory: fields sent replace, others stay."""
    result = copy.deepcopy(store)
    for entity in plan.writes:
        key = (entity.blueprint, entity.identifier)
        body = result.get(key, {"blueprint": entity.blueprint, "identifier": entity.identifier})
        body["title"] = entity.title
        if entity.icon is not None:
            body["icon"] = entity.icon
        if entity.team is not None:
            body["team"] = entity.team
        body["properties"] = {**body.get("properties", {}), **entity.properties}
        body["relations"] = {**body.get("relations", {}), **entity.relations}
        body["datasource"] = OURS
        result[key] = body
    for key in plan.delete:
        result.pop(key)
    return result


def canonical(value: Any, *, as_set: bool = False) -> str:
    if as_set and isinstance(value, list):
        value = sorted(set(value)) or None
    return json.dumps(value, sort_keys=True)


def holds(body: dict[str, Any], entity: Entity) -> bool:
    """Independent of the planner's comparison: every field the mapping sets is stored."""
    props, rels = body.get("properties", {}), body.get("relations", {})
    team = body.get("team")
    return (
        body.get("title") == entity.title
        and (entity.icon is None or body.get("icon") == entity.icon)
        and (
            entity.team is None
            or canonical(
                [entity.team] if isinstance(entity.team, str) else entity.team, as_set=True
            )
            == canonical([team] if isinstance(team, str) else (team or []), as_set=True)
        )
        and all(canonical(props.get(k)) == canonical(v) for k, v in entity.properties.items())
        and all(
            canonical(rels.get(k), as_set=True) == canonical(v, as_set=True)
            for k, v in entity.relations.items()
        )
    )


def last_wins(desired: list[Entity]) -> dict[tuple[str, str], Entity]:
    return {(entity.blueprint, entity.identifier): entity for entity in desired}


@settings(max_examples=150, deadline=None)
@given(store=stores(), desired=st.lists(entities(), max_size=12))
def test_applying_a_complete_plan_converges_and_spares_foreign_entities(
    store: Store, desired: list[Entity]
) -> None:
    plan = plan_sync(desired, owned_in(store), listing_complete=True, deletion_threshold=1.0)
    after = apply_to_store(store, plan)

    wanted = last_wins(desired)
    for key, entity in wanted.items():
        assert holds(after[key], entity), (key, after[key], entity)
    owned_keys = {key for key, body in store.items() if body["datasource"] == OURS}
    assert {key for key in after if key in owned_keys or key in wanted} == owned_keys & set(
        wanted
    ) | set(wanted)
    for key, body in store.items():
        if body["datasource"] != OURS and key not in wanted:
            assert after[key] == body  # never touched
    assert set(plan.delete) <= owned_keys
    assert plan.duplicates == len(desired) - len(wanted)
    assert len(plan.create) + len(plan.update) + len(plan.unchanged) == len(wanted)


@settings(max_examples=100, deadline=None)
@given(store=stores(), desired=st.lists(entities(), max_size=12))
def test_a_second_plan_writes_nothing(store: Store, desired: list[Entity]) -> None:
    first = plan_sync(desired, owned_in(store), listing_complete=True, deletion_threshold=1.0)
    after = apply_to_store(store, first)
    second = plan_sync(desired, owned_in(after), listing_complete=True, deletion_threshold=1.0)
    assert second.create == [] and second.update == [] and second.delete == []
    assert len(second.unchanged) == len(last_wins(desired))


@settings(max_examples=100, deadline=None)
@given(store=stores(), desired=st.lists(entities(), max_size=12), threshold=st.floats(0, 1))
def test_incomplete_listing_deletes_nothing(
    store: Store, desired: list[Entity], threshold: float
) -> None:
    plan = plan_sync(desired, owned_in(store), listing_complete=False, deletion_threshold=threshold)
    assert plan.delete == []
    assert plan.deletion_skipped_reason is not None
    after = apply_to_store(store, plan)
    assert set(store) <= set(after)


@settings(max_examples=150, deadline=None)
@given(store=stores(), desired=st.lists(entities(), max_size=12), threshold=st.floats(0, 1))
def test_threshold_deletes_all_or_nothing(
    store: Store, desired: list[Entity], threshold: float
) -> None:
    owned = owned_in(store)
    plan = plan_sync(desired, owned, listing_complete=True, deletion_threshold=threshold)
    wanted = last_wins(desired)
    gone = [
        (b["blueprint"], b["identifier"])
        for b in owned
        if (b["blueprint"], b["identifier"]) not in wanted
    ]
    assert plan.would_delete == len(gone)
    if gone and len(gone) / len(owned) > threshold:
        assert plan.delete == [] and "threshold" in (plan.deletion_skipped_reason or "")
    else:
        assert sorted(plan.delete) == sorted(gone) and plan.deletion_skipped_reason is None


def test_deletion_guard_mirrors_ocean_at_the_boundary() -> None:
    assert deletion_guard(9, 10, listing_complete=True, threshold=0.9) is None
    assert deletion_guard(10, 10, listing_complete=True, threshold=0.9) is not None
    assert deletion_guard(0, 0, listing_complete=True, threshold=0.0) is None
    assert "incomplete" in (deletion_guard(0, 5, listing_complete=False, threshold=1) or "")


def test_duplicates_last_wins_and_are_counted() -> None:
    first = Entity("rg", "a", title="old")
    last = Entity("rg", "a", title="new")
    plan = plan_sync(
        [first, Entity("rg", "b"), last], [], listing_complete=True, deletion_threshold=0.9
    )
    assert [entity.title for entity in plan.create if entity.identifier == "a"] == ["new"]
    assert plan.duplicates == 1 and len(plan.create) == 2


def test_relation_order_puts_targets_first_and_override_wins() -> None:
    desired = [
        Entity("azureCloudResource", "r1", relations={"resource_group": "rg1"}),
        Entity("azureResourceGroup", "rg1", relations={"subscription": "s1"}),
        Entity("azureSubscription", "s1"),
    ]
    plan = plan_sync(desired, [], listing_complete=True, deletion_threshold=0.9)
    assert plan.relation_order == ["azureSubscription", "azureResourceGroup", "azureCloudResource"]
    forced = plan_sync(
        desired,
        [],
        listing_complete=True,
        deletion_threshold=0.9,
        relation_order=["azureCloudResource"],
    )
    assert forced.relation_order[0] == "azureCloudResource"
    assert set(forced.relation_order) == set(plan.relation_order)


def test_comparison_normalises_what_port_changes_without_meaning() -> None:
    desired = Entity(
        "res",
        "x",
        title="X",
        team="t1",
        properties={"when": "2024-01-02T03:04:05Z", "gone": None, "n": 1},
        relations={"many": ["b", "a"], "none": []},
    )
    current = {
        "blueprint": "res",
        "identifier": "x",
        "title": "X",
        "team": ["t1"],
        "icon": "Someone's",
        "properties": {"when": "2024-01-02T03:04:05.000Z", "n": 1.0, "extra": "kept"},
        "relations": {"many": ["a", "b"], "none": None},
    }
    assert entity_matches(desired, current)
    assert not entity_matches(
        Entity("res", "x", title="X", properties={"n": True}), {**current, "properties": {"n": 1}}
    )
    assert not entity_matches(Entity("res", "x", title="Y"), current)
    assert not entity_matches(Entity("res", "x", title="X", team=["t2"]), current)
    assert not entity_matches(Entity("res", "x", title="X", relations={"many": ["a"]}), current)
