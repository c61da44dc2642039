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
from azure_port_pipeline.port import DeletionTotals, SyncPlan, plan_sync
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
@given(
    store=stores(),
    desired=st.lists(entities(), max_size=12),
    threshold=st.floats(0, 1),
    min_entities=st.integers(0, 15),
    elsewhere=st.tuples(st.integers(0, 30), st.integers(0, 30)),
)
def test_threshold_deletes_all_or_nothing(
    store: Store,
    desired: list[Entity],
    threshold: float,
    min_entities: int,
    elsewhere: tuple[int, int],
) -> None:
    owned = owned_in(store)
    other_to_delete, other_kept = elsewhere
    rest = DeletionTotals(to_delete=other_to_delete, entities=other_to_delete + other_kept)
    plan = plan_sync(
        desired,
        owned,
        listing_complete=True,
        deletion_threshold=threshold,
        min_entities=min_entities,
        elsewhere=rest,
    )
    wanted = last_wins(desired)
    owned_keys = {(b["blueprint"], b["identifier"]) for b in owned}
    gone = owned_keys - set(wanted)
    to_delete = len(gone) + other_to_delete
    there = len(owned_keys | set(wanted)) + rest.entities
    assert plan.would_delete == len(gone)
    assert (plan.guard_to_delete, plan.guard_entities) == (to_delete, there)
    if gone and there >= min_entities and to_delete / there > threshold:
        assert plan.delete == [] and "threshold" in (plan.deletion_skipped_reason or "")
    else:
        assert set(plan.delete) == gone and plan.deletion_skipped_reason is None


def test_deletion_guard_boundaries() -> None:
    # the ratio: strictly above the threshold is refused
    assert deletion_guard(90, 100, listing_complete=True, threshold=0.9) is None
    assert deletion_guard(91, 100, listing_complete=True, threshold=0.9) is not None
    # the floor: below min_entities any share goes, from min_entities on the ratio applies
    assert deletion_guard(19, 19, listing_complete=True, threshold=0.9, min_entities=20) is None
    assert deletion_guard(20, 20, listing_complete=True, threshold=0.9, min_entities=20)
    assert deletion_guard(0, 0, listing_complete=True, threshold=0.0, min_entities=0) is None
    # nothing to delete here: nothing to hold back, whatever the rest of the subscription does
    assert deletion_guard(50, 50, listing_complete=True, threshold=0.9, here=0) is None
    assert "incomplete" in (deletion_guard(0, 5, listing_complete=False, threshold=1) or "")


def _rgs(subscription: str, n: int, start: int = 0) -> list[Entity]:
    return [Entity("rg", f"/subscriptions/{subscription}/rg-{i}") for i in range(start, n)]


def _keys(entities: list[Entity]) -> set[tuple[str, str]]:
    return {(entity.blueprint, entity.identifier) for entity in entities}


def _owned(entities: list[Entity]) -> list[dict[str, Any]]:
    return [{**entity.to_port(), "blueprint": entity.blueprint} for entity in entities]


def test_the_last_resource_of_a_kind_is_deleted() -> None:
    """1 of 1 in its scope, in a subscription that keeps 40 other entities."""
    last = [Entity("res", "/subscriptions/s/rg-0/sa-0")]
    plan = plan_sync(
        [],
        _owned(last),
        listing_complete=True,
        deletion_threshold=0.9,
        elsewhere=DeletionTotals(to_delete=0, entities=40),
    )
    assert plan.delete == [("res", last[0].identifier)]
    assert plan.deletion_skipped_reason is None
    # the same scope judged alone: 1 entity is below the floor, so it goes too
    alone = plan_sync([], _owned(last), listing_complete=True, deletion_threshold=0.9)
    assert alone.delete == [("res", last[0].identifier)]


def test_three_of_four_deleted_in_a_small_subscription() -> None:
    four = _rgs("s", 4)
    plan = plan_sync(
        four[3:],
        _owned(four),
        listing_complete=True,
        deletion_threshold=0.5,  # 75% is above it: only the floor lets it through
        elsewhere=DeletionTotals(),
    )
    assert sorted(plan.delete) == sorted(("rg", e.identifier) for e in four[:3])


def test_91_of_100_is_refused_as_a_mass_disappearance() -> None:
    hundred = _rgs("s", 60)
    plan = plan_sync(
        hundred[51:],  # 9 of the 60 still listed: 51 gone here...
        _owned(hundred),
        listing_complete=True,
        deletion_threshold=0.9,
        elsewhere=DeletionTotals(to_delete=40, entities=40),  # ...and all 40 elsewhere
    )
    assert plan.delete == [] and plan.would_delete == 51
    reason = plan.deletion_skipped_reason or ""
    assert "would delete 91 of the 100 entities of this subscription (91%)" in reason
    assert "threshold 90%" in reason and "nothing deleted" in reason
    ninety = plan_sync(
        hundred[50:],
        _owned(hundred),
        listing_complete=True,
        deletion_threshold=0.9,
        elsewhere=DeletionTotals(to_delete=40, entities=40),
    )
    assert len(ninety.delete) == 50  # 90 of 100 is not above 90%


def test_a_whole_subscription_wipe_deletes_nothing_and_says_why() -> None:
    estate = _rgs("s", 30)
    plan = plan_sync(
        [],
        _owned(estate),
        listing_complete=True,
        deletion_threshold=0.9,
        elsewhere=DeletionTotals(to_delete=100, entities=101, left_out=("Microsoft.Web/sites",)),
    )
    assert plan.delete == []
    reason = plan.deletion_skipped_reason or ""
    assert "would delete 130 of the 131 entities of this subscription" in reason
    assert "(not counted: Microsoft.Web/sites)" in reason
    assert "Azure now lists only 1 of them" in reason
    assert "entityDeletionThreshold" in reason


@settings(max_examples=150, deadline=None)
@given(
    scopes=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 6)),
        min_size=1,
        max_size=4,
    ),
    threshold=st.floats(0, 1),
    min_entities=st.integers(0, 20),
)
def test_scopes_of_one_subscription_agree_whatever_order_they_sync_in(
    scopes: list[tuple[int, int, int]], threshold: float, min_entities: int
) -> None:
    """Scopes sync one after another, each judging the subscription as Port holds it then:
    either every deletion of the subscription happens, or none does."""
    owned: list[list[Entity]] = []
    desired: list[list[Entity]] = []
    for index, (kept, gone, new) in enumerate(scopes):
        have = [Entity(f"bp{index}", f"e{i}") for i in range(kept + gone)]
        owned.append(have)
        desired.append(have[:kept] + [Entity(f"bp{index}", f"n{i}") for i in range(new)])
    deleted = refused = 0
    for index in range(len(scopes)):
        others = [j for j in range(len(scopes)) if j != index]
        rest = DeletionTotals(
            to_delete=sum(len(_keys(owned[j]) - _keys(desired[j])) for j in others),
            entities=sum(len(_keys(owned[j]) | _keys(desired[j])) for j in others),
        )
        plan = plan_sync(
            desired[index],
            _owned(owned[index]),
            listing_complete=True,
            deletion_threshold=threshold,
            min_entities=min_entities,
            elsewhere=rest,
        )
        refused += plan.would_delete > 0 and plan.deletion_skipped_reason is not None
        deleted += len(plan.delete)
        wanted = _keys(desired[index])  # creates and updates land; allowed deletes go
        vanished = [e for e in owned[index] if (e.blueprint, e.identifier) not in wanted]
        owned[index] = [*desired[index], *([] if plan.delete else vanished)]
    assert not (deleted and refused)


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
