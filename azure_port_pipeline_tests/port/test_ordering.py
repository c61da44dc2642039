"""Blueprint write order: targets first, stable among equals, cycles in first-seen order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port.ordering import _topological, relation_order


def _kahn(blueprints: list[str], targets: dict[str, set[str]]) -> list[str]:
    """The hand-written order `_topological` replaced (kept as the reference it must equal)."""
    order: list[str] = []
    remaining = list(blueprints)
    while remaining:
        placed = set(order)
        ready = [bp for bp in remaining if targets.get(bp, set()) <= placed]
        if not ready:
            order.extend(remaining)
            break
        order.extend(ready)
        remaining = [bp for bp in remaining if bp not in set(ready)]
    return order


def _entity(blueprint: str, identifier: str, *targets: str) -> Entity:
    return Entity(blueprint, identifier, relations={f"to_{t}": t for t in targets})


def test_targets_first_and_first_seen_order_among_equals() -> None:
    entities = [
        _entity("vm", "vm1", "rg1"),
        _entity("storage", "sa1", "rg1"),
        _entity("rg", "rg1", "sub1"),
        _entity("app", "app1", "rg1"),
        _entity("sub", "sub1"),
        _entity("tag", "t1"),
    ]
    # round 1: sub, tag (no targets, first seen order); round 2: rg; round 3: vm, storage, app
    assert relation_order(entities) == ["sub", "tag", "rg", "vm", "storage", "app"]
    assert relation_order(list(reversed(entities))) == ["tag", "sub", "rg", "app", "storage", "vm"]


def test_many_relations_and_unknown_identifiers() -> None:
    entities = [
        Entity("vm", "vm1", relations={"disks": ["d1", "d2", 7], "nowhere": "missing"}),
        Entity("disk", "d1"),
        Entity("disk", "d2", relations={"self": "d1"}),  # same blueprint: no constraint
    ]
    assert relation_order(entities) == ["disk", "vm"]


def test_cycle_falls_back_to_first_seen_order() -> None:
    entities = [
        _entity("a", "a1", "b1"),
        _entity("b", "b1", "a1"),
    ]
    assert relation_order(entities) == ["a", "b"]
    assert relation_order(list(reversed(entities))) == ["b", "a"]


def test_cycle_goes_after_what_can_be_ordered() -> None:
    entities = [
        _entity("src", "s1", "a1"),  # points into the cycle: cannot be ordered either
        _entity("a", "a1", "b1"),
        _entity("rg", "rg1", "sub1"),
        _entity("b", "b1", "a1", "rg1"),
        _entity("sub", "sub1"),
        _entity("c", "c1", "d1"),  # a second, separate cycle
        _entity("d", "d1", "c1"),
    ]
    assert relation_order(entities) == ["sub", "rg", "src", "a", "b", "c", "d"]


def test_override_wins_even_with_a_cycle() -> None:
    entities = [_entity("a", "a1", "b1"), _entity("b", "b1", "a1"), _entity("c", "c1")]
    assert relation_order(entities, ["b", "unknown", "b"]) == ["b", "c", "a"]


def test_target_outside_the_list_cannot_be_ordered() -> None:
    assert _topological(["x", "y"], {"x": {"elsewhere"}, "y": set()}) == ["y", "x"]


_NAMES = [f"bp{i}" for i in range(8)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_NAMES), unique=True, min_size=0, max_size=8).flatmap(
        lambda seen: st.tuples(
            st.just(seen),
            st.fixed_dictionaries(
                {bp: st.sets(st.sampled_from(seen)).map(lambda s, bp=bp: s - {bp}) for bp in seen}
            ),
        )
    )
)
def test_graphlib_order_equals_the_hand_written_one(
    graph: tuple[list[str], dict[str, set[str]]],
) -> None:
    seen, targets = graph
    assert _topological(seen, targets) == _kahn(seen, targets)
