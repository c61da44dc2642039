"""Counters are thread-safe, mergeable, and attributed to the call that caused them."""

from __future__ import annotations

import threading

from azure_port_pipeline.azure import AzureCounters
from azure_port_pipeline.azure.counters import CounterSink


def test_concurrent_adds_are_not_lost():
    counters = AzureCounters()

    def work():
        for _ in range(2000):
            counters.add(requests=1, throttle_seconds=0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.requests == 8000
    assert counters.throttle_seconds == 4000.0


def test_merge_and_as_dict():
    total = AzureCounters(requests=2, pages=1)
    total.merge(AzureCounters(requests=3, retries=1, throttle_waits=1, throttle_seconds=1.25))
    assert total.as_dict() == {
        "requests": 5,
        "pages": 1,
        "retries": 1,
        "throttle_waits": 1,
        "throttle_seconds": 1.25,
        "seconds": 0.0,
    }


def test_calls_get_their_own_counters_and_the_total_gets_everything():
    sink = CounterSink()
    with sink.call() as outer:
        sink.add(requests=1)
        with sink.call() as inner:
            sink.add(requests=2, pages=1)
    sink.add(requests=10)  # outside any call
    assert inner.requests == 2 and inner.pages == 1
    assert outer.requests == 3 and outer.pages == 1
    assert sink.total.requests == 13
    assert outer.seconds >= inner.seconds >= 0.0


def test_calls_in_other_threads_do_not_leak_into_each_other():
    sink = CounterSink()
    seen: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def run(name: str, n: int):
        with sink.call() as mine:
            barrier.wait()
            for _ in range(n):
                sink.add(requests=1)
            barrier.wait()
        seen[name] = mine.requests

    threads = [
        threading.Thread(target=run, args=("a", 5)),
        threading.Thread(target=run, args=("b", 7)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": 5, "b": 7}
    assert sink.total.requests == 12
