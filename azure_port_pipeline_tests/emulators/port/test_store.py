"""The emulator's ordered indexes against a plain model: any mix of writes, owner changes
and deletes leaves every paginated `$datasource` walk exact (no loss, no duplicates)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.emulators.port import store as port_store
from azure_port_pipeline.emulators.port.search import compile_query, run_search
from azure_port_pipeline.emulators.port.store import PortStore, UpsertOptions

OWNERS = ["a", "b", "c"]
operations = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.integers(0, 8), st.sampled_from(OWNERS)),
    max_size=120,
)


def walk(store: PortStore, owner: str, limit: int) -> list[str]:
    query = compile_query(
        {
            "combinator": "and",
            "rules": [{"property": "$datasource", "operator": "=", "value": owner}],
        },
        store,
    )
    seen: list[str] = []
    after = 0
    while True:
        page, last = run_search(store, query, blueprint="bp", after=after, limit=limit)
        assert len(page) <= limit
        seen.extend(e.identifier for e in page)
        if last is None:
            return seen
        after = last


@settings(max_examples=200, deadline=None, database=None)
@given(ops=operations, limit=st.integers(1, 7), compact_at=st.sampled_from([0, 2, 1024]))
def test_datasource_walks_match_a_model(
    ops: list[tuple[str, int, str]], limit: int, compact_at: int
) -> None:
    port_store.COMPACT_MIN_DEAD = compact_at  # exercise lazy-deletion compaction too
    try:
        check_walks(ops, limit)
    finally:
        port_store.COMPACT_MIN_DEAD = 1024


def check_walks(ops: list[tuple[str, int, str]], limit: int) -> None:
    store = PortStore()
    store.create_blueprint({"identifier": "bp", "title": "BP", "schema": {"properties": {}}}, "t")
    model: dict[str, str] = {}
    for op, n, owner in ops:
        ident = f"e{n}"
        if op == "put":
            store.upsert("bp", {"identifier": ident}, UpsertOptions(datasource=owner))
            model[ident] = owner
        elif ident in model:
            store.delete("bp", ident, delete_dependents=False)
            del model[ident]
    for owner in OWNERS:
        seen = walk(store, owner, limit)
        assert len(seen) == len(set(seen))
        assert set(seen) == {i for i, o in model.items() if o == owner}
    assert store.count("bp") == len(model)
