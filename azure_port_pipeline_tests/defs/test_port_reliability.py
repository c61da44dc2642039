"""A Port storm on one scope, end to end: real Dagster runs, both emulators over HTTP(S).

The scope Port keeps failing ends within its deadline with a named error and fails its own
step; every other scope of the subscription still syncs; the next run converges.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from dagster import DagsterEventType

from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import discover, sync_partition
from azure_port_pipeline.demo.environment import EmulatorEndpoints, emulator_resources
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, FAST_AZURE, SETTINGS, Pipeline
from azure_port_pipeline_tests.defs.test_full_sync import expected_from_estate, port_state

pytestmark = pytest.mark.e2e

STORAGE = "Microsoft.Storage/storageAccounts"
DEADLINE = 2.0
STORMY_PORT = {
    "deadline_seconds": DEADLINE,
    "max_retries": 10_000,  # only the deadline stops the storm
    "backoff_base": 0.005,
    "backoff_max": 0.05,
}


def test_a_port_storm_fails_its_scope_within_the_deadline_and_the_others_sync(
    pipeline: Pipeline,
) -> None:
    resources = emulator_resources(
        EmulatorEndpoints.of(pipeline.azure, pipeline.port),
        CREDENTIALS,
        installation_id="e2e",
        azure_options=FAST_AZURE,
        port_options=STORMY_PORT,
    )
    defs = build_definitions(settings=SETTINGS, resources=resources)
    discover(defs, pipeline.instance)
    subscription_id = pipeline.enabled_subscriptions[0]
    storage_scope = f"scope={subscription_id}:{STORAGE})"
    pipeline.port.faults.fail_next(5_000, status=500, route="entities/bulk", agent=storage_scope)

    started = time.monotonic()
    summary = sync_partition(defs, pipeline.instance, subscription_id)
    seconds = time.monotonic() - started

    assert not summary.success
    (run,) = pipeline.instance.get_runs(limit=1)
    (failure,) = _failures(pipeline, run.run_id)
    assert failure.step_key == "port_write"  # every kind's writes, in one step
    error = failure.dagster_event.step_failure_data.error
    assert "storage_accounts" in error.message  # the kind that was not written is named
    cause = error.cause or error
    assert cause.cls_name == "PortDeadlineError"
    assert "PORT_DEADLINE_SECONDS" in cause.message and "500 internal_error" in cause.message
    assert seconds < 60  # the storm cost its deadline per request, not minutes of backoff
    expected = expected_from_estate(pipeline, subscription_id)
    subscription_entity = ("azureSubscription", f"/subscriptions/{subscription_id}")
    landed = port_state(pipeline, subscription_id)
    assert landed.pop(subscription_entity)  # the subscription's own scope synced
    storage = {key for key in expected if "/microsoft.storage/storageaccounts/" in key[1].lower()}
    assert storage and not storage & set(landed)
    assert {key: expected[key] for key in set(expected) - storage} == {
        key: value for key, value in landed.items() if key not in storage
    }
    assert summary.checks["port_sync/virtual_machines:no_port_write_failures"] is True

    pipeline.port.faults.clear()  # the storm passes: the next run converges
    again = sync_partition(defs, pipeline.instance, subscription_id)
    assert again.success
    converged = port_state(pipeline, subscription_id)
    del converged[subscription_entity]
    assert converged == expected


def _failures(pipeline: Pipeline, run_id: str) -> list[Any]:
    return [
        entry
        for entry in pipeline.instance.all_logs(run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type == DagsterEventType.STEP_FAILURE
    ]
