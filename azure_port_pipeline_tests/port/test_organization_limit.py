"""Three writer processes at once stay within the organization's limit with the default budget.

Each writer is what a Dagster run is: its own OS process, whose steps each build a PortClient
(two here, writing at the same time) with the default budget, the organization's rate split
across `PORT_CONCURRENT_WRITERS`. The Port emulator enforces the organization's limit the way
Port does (a fixed window) and measures the most requests it served in any sliding window.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

import requests

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.port import PortClient, PortSettings
from azure_port_pipeline_tests.port.conftest import CLIENT_ID, SECRET, resource_groups

ORGANIZATION_RATE = 60.0
"""Requests/s the writers are told the organization allows (scaled down from Port's 115)."""
WRITERS = 3
STEPS = 2
"""Clients per writer process, writing at once: they must share the process's one budget."""
REQUESTS_PER_STEP = 50
"""Bulk requests of 20 entities each; a writer needs about 5 s at its share of 20/s."""
WINDOW = 2.0
LIMIT = int(ORGANIZATION_RATE * WINDOW + ORGANIZATION_RATE)
"""What the emulator lets through per window: the organization's rate over the window, plus
one second of it for the writers' buckets (full when a writer has been idle a second)."""
ONE_WRITER_MAX = LIMIT / WRITERS
"""The most one writer can send in a window: seen above it, writers overlapped."""
READY_SECONDS = 120.0
"""Bounds on waiting for a child (spawn imports the package: slow on a busy machine)."""
DONE_SECONDS = 180.0


def write(writer: int, base_url: str, ready: Any, go: Event, results: Any) -> None:
    """One writer process: STEPS clients with the default budget upsert their own entities
    concurrently; puts (writer, entities written ok, clients' rate, shared limiter) or an error."""
    try:
        settings = PortSettings.from_env(
            {
                "PORT_BASE_URL": base_url,
                "PORT_CLIENT_ID": CLIENT_ID,
                "PORT_CLIENT_SECRET": SECRET,
                "PORT_INSTALLATION_ID": f"writer-{writer}",
                "PORT_ORGANIZATION_REQUESTS_PER_SECOND": str(ORGANIZATION_RATE),
                "PORT_CONCURRENT_WRITERS": str(WRITERS),
            }
        )
        clients = [PortClient(settings) for _ in range(STEPS)]
        ready.put(writer)
        if not go.wait(READY_SECONDS):
            raise TimeoutError("never told to start")
        with ThreadPoolExecutor(STEPS) as steps:
            runs = [
                steps.submit(step, client, f"w{writer}s{n}") for n, client in enumerate(clients)
            ]
            written = sum(run.result() for run in runs)
        limiters = {id(client._transport.limiter) for client in clients}
        rate = clients[0]._transport.limiter.rate
        for client in clients:
            client.close()
        results.put((writer, written, rate, len(limiters) == 1))
    except BaseException as failure:  # reported to the test, which would otherwise time out
        results.put((writer, f"{type(failure).__name__}: {failure}", 0.0, False))


def step(client: PortClient, subscription: str) -> int:
    """One step's writes: entities of one subscription; how many Port accepted."""
    entities = resource_groups(20 * REQUESTS_PER_STEP, subscription=subscription)
    outcomes = client.bulk_upsert(entities, scope=f"{subscription}:resourceGroups")
    return sum(outcome.ok for outcome in outcomes)


@contextmanager
def writers(base_url: str) -> Iterator[tuple[list[SpawnProcess], Any, Event, Any]]:
    """Started writer processes (waiting for `go`), stopped on the way out whatever happened."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(
            target=write, args=(n, base_url, ready, go, results), name=f"port-writer-{n}"
        )
        for n in range(WRITERS)
    ]
    try:
        for process in processes:
            process.start()
        yield processes, ready, go, results
    finally:
        stop(processes)


def stop(processes: list[SpawnProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=10)


def collect(source: Any, count: int, seconds: float, what: str) -> list[Any]:
    items = []
    for _ in range(count):
        try:
            items.append(source.get(timeout=seconds))
        except queue.Empty:
            raise AssertionError(f"{what}: got {len(items)} of {count} in time") from None
    return items


def test_three_writers_with_the_default_budget_never_exceed_the_organization_limit(
    emulator: PortEmulator,
) -> None:
    emulator.faults.configure(rate_limit=LIMIT, rate_window=WINDOW)
    with writers(emulator.base_url) as (processes, ready, go, results):
        collect(ready, WRITERS, READY_SECONDS, "writers ready")
        emulator.reset_counters()
        go.set()
        outcomes = collect(results, WRITERS, DONE_SECONDS, "writers done")
        for process in processes:
            process.join(timeout=30)
        assert [process.exitcode for process in processes] == [0] * WRITERS
    counters = requests.get(f"{emulator.base_url}/_emulator/counters", timeout=10).json()

    expected = 20 * REQUESTS_PER_STEP * STEPS
    for writer, written, rate, shared in sorted(outcomes):
        assert written == expected, f"writer {writer}: {written}"
        assert rate == ORGANIZATION_RATE / WRITERS and shared, f"writer {writer}"
    assert emulator.entity_count("azureResourceGroup") == WRITERS * expected
    assert counters["rate_limited"] == 0  # no 429: the organization limit was never reached
    assert counters["peak_requests_per_window"] <= LIMIT  # not even in a sliding window
    assert counters["peak_requests_per_window"] > ONE_WRITER_MAX  # the writers overlapped
