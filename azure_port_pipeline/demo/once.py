"""`demo --once`: discover, sync every subscription, verify Port equals the mapped Azure estate;
then change Azure and resync in full, then change it again and read one incremental window,
then change it again and sync from the Event Grid events the changes raised.

The verification recomputes the expected catalog on a separate path (reader + mapping, no
Dagster) and compares it entity by entity with what the Port emulator stores, so a bug in the
pipeline's planning or writing cannot hide behind its own metadata.
"""

from __future__ import annotations

import random
import tempfile
from typing import Any

from dagster import DagsterInstance, Definitions

from azure_port_pipeline.azure import AzureReader, AzureSettings
from azure_port_pipeline.defs.event_sensor import EVENTS_SENSOR
from azure_port_pipeline.defs.factory import build_definitions, configured_mapping
from azure_port_pipeline.defs.headless import (
    RunSummary,
    discover_and_sync,
    format_runs,
    incremental_window,
    runs_frame,
    sensor_tick,
    sync_partitions,
)
from azure_port_pipeline.defs.jobs import MODE_TAG
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.demo.environment import DemoEnvironment, EstateChanges, change_estate
from azure_port_pipeline.mapping import IdentifierPolicy, PortAppConfig, map_items

COLUMNS = ("fetched", "created", "updated", "unchanged", "deleted", "write_failures")
MAPPING_CHECK = "no_mapping_errors"


def run_once(env: DemoEnvironment) -> int:
    settings = PipelineSettings.from_env()
    resources = env.resources()
    defs = build_definitions(settings=settings, resources=resources)
    expected = ExpectedCatalog(
        configured_mapping(settings), resources["azure"].settings(), settings.identifier_policy
    )
    events_queue, env.azure.event_queue = env.azure.event_queue, None  # the event round's
    # One run at a time unless asked: the emulators serve from this very process, and --once
    # is a check of the catalog, not a benchmark (bench_sync_process.py measures concurrency).
    concurrency = settings.headless_concurrency or 1
    with (
        tempfile.TemporaryDirectory(prefix="azure-port-demo-home-") as home,
        DagsterInstance.local_temp(home) as instance,
    ):
        print("First sync (subscriptions found by the discovery sensor):")
        first = discover_and_sync(defs, instance, log_level="WARNING", concurrency=concurrency)
        print_table(first)
        problems = verify(env, expected, first)

        changes = change_estate(env.azure, random.Random(1), count=12)
        print(f"\nAzure changed: {changes.describe()}. Full resync:")
        second = sync_partitions(
            defs,
            instance,
            [s.subscription_id for s in first],
            log_level="WARNING",
            concurrency=concurrency,
        )
        print_table(second)
        problems += verify(env, expected, second)
        problems += _net_effect_problems(changes, second)

        changes = change_estate(env.azure, random.Random(2), count=12)
        print(f"\nAzure changed: {changes.describe()}. One incremental window:")
        window = incremental_window(_windowed(defs, settings), instance, log_level="WARNING")
        skipped = window.result.skip_reason
        print(skipped.skip_message if skipped else f"{len(window.summaries)} runs requested")
        print_table(window.summaries)
        problems += verify(env, expected, window.summaries, every=first)
        problems += _net_effect_problems(changes, window.summaries)
        problems += [
            f"{request.partition_key}: the window asked for a {request.tags.get(MODE_TAG)} sync"
            for request in window.result.run_requests or []
            if request.tags.get(MODE_TAG) != "incremental"
        ]
        if events_queue is None:
            print("\n(no event round: Azurite is not installed)")
        else:
            env.azure.event_queue = events_queue
            changes = change_estate(env.azure, random.Random(3), count=12)
            print(f"\nAzure changed: {changes.describe()}. Event Grid events, one sensor tick:")
            tick = sensor_tick(defs, instance, EVENTS_SENSOR, log_level="WARNING")
            print_table(tick.summaries)
            problems += verify(env, expected, tick.summaries, every=first)
            problems += _net_effect_problems(changes, tick.summaries)
            if not tick.summaries:
                problems.append("the events sensor requested no run for the changes")

    if problems:
        print("\nFAILED:")
        for problem in problems[:50]:
            print(f"  - {problem}")
        return 1
    print("\nOK: Port holds exactly the entities the mapping produces from Azure.")
    return 0


def _windowed(defs: Definitions, settings: PipelineSettings) -> Definitions:
    """The demo's emulator shows change rows at once: no ingestion lag to wait out."""
    if settings.change_lag_seconds is not None:
        return defs
    return build_definitions(
        settings=settings.model_copy(update={"change_lag_seconds": 0}),
        resources=dict(defs.resources or {}),
    )


def _net_effect_problems(changes: EstateChanges, summaries: list[RunSummary]) -> list[str]:
    """The resync's counts must be the net effect of the changes, nothing more or less."""
    totals = runs_frame(summaries)[["created", "updated", "deleted"]].sum()
    expected = {"created": changes.created, "updated": changes.updated, "deleted": changes.deleted}
    return [
        f"resync {name} {int(totals[name])} entities, the estate's net change was {count}"
        for name, count in expected.items()
        if int(totals[name]) != count
    ]


def print_table(summaries: list[RunSummary]) -> None:
    """One line per subscription and a total; unmapped items are noted."""
    print(format_runs(summaries, COLUMNS))
    unmapped = int(runs_frame(summaries)["mapping_errors"].sum())
    if unmapped:
        print(
            f"note: {unmapped} Azure object(s) have no entity: the mapping reported an error for "
            "each (e.g. an identifier with characters Port rejects); see the no_mapping_errors "
            "check in the UI."
        )


def verify(
    env: DemoEnvironment,
    expected_catalog: ExpectedCatalog,
    summaries: list[RunSummary],
    every: list[RunSummary] | None = None,
) -> list[str]:
    """`every`: the runs naming every subscription, when `summaries` may cover only some."""
    problems = [
        f"{s.subscription_id}: run failed ({s.error or 'see the run'})"
        for s in summaries
        if not s.success
    ]
    problems += [
        f"{s.subscription_id}: check {check} failed"
        for s in summaries
        for check in s.failed_checks
        if not check.endswith(MAPPING_CHECK)
    ]
    covered = every if every is not None else summaries
    if not covered:
        problems.append("discovery found no subscriptions")
    expected = expected_catalog.entities([s.subscription_id for s in covered])
    actual = {
        (body["blueprint"], body["identifier"]): _comparable(body) for body in env.port.entities()
    }
    for key in sorted(expected.keys() - actual.keys()):
        problems.append(f"missing in Port: {key[0]} {key[1]}")
    for key in sorted(actual.keys() - expected.keys()):
        problems.append(f"in Port but not in Azure: {key[0]} {key[1]}")
    for key in sorted(expected.keys() & actual.keys()):
        if expected[key] != actual[key]:
            problems.append(f"differs: {key[0]} {key[1]}: {expected[key]} != {actual[key]}")
    return problems


class ExpectedCatalog:
    """What Port should hold, computed apart from Dagster: a reader of its own + the mapping."""

    def __init__(
        self, mapping: PortAppConfig, settings: AzureSettings, policy: IdentifierPolicy
    ) -> None:
        self.mapping = mapping
        self.settings = settings
        self.policy = policy

    def entities(self, subscription_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
        expected: dict[tuple[str, str], dict[str, Any]] = {}
        with AzureReader(self.settings) as reader:
            for subscription_id in subscription_ids:
                for entry in self.mapping.entries:
                    listing = reader.list_kind(
                        subscription_id, entry.kind, entry.api_version, entry.resource_kinds or None
                    )
                    for entity in map_items(entry, listing.items, self.policy).entities:
                        expected[(entity.blueprint, entity.identifier)] = _comparable(
                            entity.to_port()
                        )
        return expected


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": body.get("title"),
        "properties": {k: v for k, v in (body.get("properties") or {}).items() if v is not None},
        "relations": {k: v for k, v in (body.get("relations") or {}).items() if v is not None},
    }
