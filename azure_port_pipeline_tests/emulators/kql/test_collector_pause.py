"""The garbage collector is paused only while queries run, and always put back."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from azure_port_pipeline.emulators.kql import KqlError, execute
from azure_port_pipeline.emulators.kql.engine import CollectorPause

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


class Watching(dict):
    """A table mapping that notes the collector's state when the query reads it, and can
    hold the query there until released."""

    def __init__(self, rows: list[dict], hold: threading.Event | None = None) -> None:
        super().__init__(resources=rows)
        self.hold = hold
        self.reading = threading.Event()
        self.enabled_while_reading: bool | None = None

    def __getitem__(self, name: str) -> list[dict]:
        self.enabled_while_reading = gc.isenabled()
        self.reading.set()
        if self.hold is not None:
            assert self.hold.wait(timeout=60)
        return super().__getitem__(name)


def test_a_query_runs_with_the_collector_paused_and_leaves_it_on() -> None:
    tables = Watching([{"id": "a"}])
    assert execute("resources | project id", tables, NOW) == [{"id": "a"}]
    assert tables.enabled_while_reading is False
    assert gc.isenabled()


def test_a_failing_query_leaves_the_collector_on() -> None:
    with pytest.raises(KqlError):
        execute("resources | where", Watching([]), NOW)
    with pytest.raises(KqlError):
        execute("resources | project nosuchcolumn", Watching([{"id": "a"}]), NOW)
    assert gc.isenabled()


def test_concurrent_queries_share_one_pause_and_the_last_one_out_ends_it() -> None:
    release = threading.Event()
    slow = Watching([{"id": "slow"}], hold=release)
    results: list[list[dict]] = []
    thread = threading.Thread(
        target=lambda: results.append(execute("resources | project id", slow, NOW))
    )
    thread.start()
    try:
        assert slow.reading.wait(timeout=60)
        quick = Watching([{"id": "quick"}])
        assert execute("resources | project id", quick, NOW) == [{"id": "quick"}]
        assert quick.enabled_while_reading is False
        assert not gc.isenabled()  # the slow query still runs: the quick one did not re-enable
    finally:
        release.set()
        thread.join(timeout=60)
    assert results == [[{"id": "slow"}]]
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    pause = CollectorPause()
    gc.disable()
    with pause, pause:
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()
    with pause:
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
