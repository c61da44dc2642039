"""Real-time sync end to end: the Azure emulator publishes Event Grid events to a real Azurite
queue, the real `azure_events` sensor receives them, and real Dagster runs read each resource's
current state from ARM."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.queue import QueueClient
from dagster import DagsterRun, DagsterRunStatus, SensorResult, build_sensor_context
from dagster._core.utils import make_new_run_id

from azure_port_pipeline.defs.change_windows import PARTITION_TAG
from azure_port_pipeline.defs.event_sensor import EVENT_MODE, EVENTS_SENSOR
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import WindowOutcome, discover_and_sync, sensor_tick
from azure_port_pipeline.defs.jobs import MODE_TAG, SYNC_JOB
from azure_port_pipeline.defs.resources import EventQueueResource
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.mapping import unescape_identifier
from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs
from azure_port_pipeline_tests.azurite import free_port, running_azurite_queue
from azure_port_pipeline_tests.defs.conftest import Pipeline
from azure_port_pipeline_tests.defs.test_incremental_sync import WINDOW_SETTINGS, Estate

pytestmark = pytest.mark.e2e

QUEUE = "azure-events"
STORAGE = "Microsoft.Storage/storageAccounts"
STORAGE_VERSION = "2023-01-01"
REAPPEAR_BOUND_SECONDS = 60  # a hidden message is visible again, on a loaded machine


class Events:
    """The pipeline wired to an events queue, the sensor's cursor, and the SDK to change Azure."""

    def __init__(self, pipeline: Pipeline, connection_string: str, **queue: Any) -> None:
        self.pipeline = pipeline
        self.connection_string = connection_string
        self.queue = QueueClient.from_connection_string(connection_string, QUEUE)
        self.queue.create_queue()
        self.resource = EventQueueResource(name=QUEUE, connection_string=connection_string, **queue)
        self.defs = build_definitions(
            settings=PipelineSettings.from_env(WINDOW_SETTINGS),
            resources={**pipeline.resources(), "events_queue": self.resource},
        )
        self.cursor: str | None = None

    def tick(self) -> WindowOutcome:
        outcome = sensor_tick(self.defs, self.pipeline.instance, EVENTS_SENSOR, self.cursor)
        self.cursor = outcome.cursor
        return outcome

    def client(self, subscription_id: str) -> ResourceManagementClient:
        azure = self.pipeline.azure
        return ResourceManagementClient(credential_for(azure), subscription_id, **sdk_kwargs(azure))

    def account_id(self, subscription_id: str, name: str) -> str:
        group = self.pipeline.azure.estate.resource_groups(subscription_id)[0]["name"]
        return f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/{STORAGE}/{name}"

    def create(self, resource_id: str, **tags: str) -> None:
        subscription_id = resource_id.split("/")[2]
        self.client(subscription_id).resources.begin_create_or_update_by_id(
            resource_id,
            api_version=STORAGE_VERSION,
            parameters={
                "location": "westeurope",
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "tags": tags,
            },
        ).result()

    def delete(self, resource_id: str) -> None:
        subscription_id = resource_id.split("/")[2]
        self.client(subscription_id).resources.begin_delete_by_id(
            resource_id, api_version=STORAGE_VERSION
        ).result()

    def in_port(self, resource_id: str) -> dict[str, Any] | None:
        found = [
            body
            for body in self.pipeline.port.entities("azureCloudResource")
            if unescape_identifier(body["identifier"]).lower() == resource_id.lower()
        ]
        return found[0] if found else None

    def messages_left(self) -> int:
        return self.queue.get_queue_properties().approximate_message_count


@pytest.fixture
def azurite() -> Iterator[str]:
    with running_azurite_queue() as connection_string:
        yield connection_string


@pytest.fixture
def events(pipeline: Pipeline, azurite: str) -> Iterator[Events]:
    wired = Events(pipeline, azurite)
    summaries = discover_and_sync(wired.defs, pipeline.instance, log_level="WARNING")
    assert summaries and all(s.success for s in summaries)
    pipeline.azure.event_queue = (azurite, QUEUE)  # from now on every ARM write is published
    try:
        yield wired
    finally:
        pipeline.azure.stop()  # closes the emulator's queue client before Azurite goes away
        wired.queue.close()


def test_a_write_reaches_port_through_one_event_run_and_a_delete_removes_it(
    events: Events,
) -> None:
    first = events.pipeline.enabled_subscriptions[0]
    account = events.account_id(first, "stevent0001")
    events.create(account, team="realtime")

    written = events.tick()

    (request,) = written.result.run_requests
    assert (request.partition_key, request.tags[MODE_TAG]) == (first, EVENT_MODE)
    assert all(summary.success for summary in written.summaries)
    assert events.in_port(account)["properties"]["tags"] == {"team": "realtime"}

    events.delete(account)
    deleted = events.tick()

    assert all(summary.success for summary in deleted.summaries)
    assert events.in_port(account) is None
    events.tick()  # the runs exist: their messages are deleted
    assert events.messages_left() == 0


def test_duplicates_cost_one_write_and_a_delete_delivered_first_still_ends_right(
    events: Events,
) -> None:
    first = events.pipeline.enabled_subscriptions[0]
    kept, gone = events.account_id(first, "steventkeep1"), events.account_id(first, "steventgone1")
    events.pipeline.azure.event_queue = None  # the test delivers the events itself
    staged = QueueClient.from_connection_string(events.connection_string, "staged")
    staged.create_queue()
    events.pipeline.azure.event_queue = (events.connection_string, "staged")
    events.create(kept, copy="one")
    events.create(gone)
    events.delete(gone)
    events.pipeline.azure.event_queue = None
    raw = [message.content for message in staged.receive_messages(messages_per_page=32)]
    assert len(raw) == 3
    write_kept, write_gone, delete_gone = raw
    for content in (delete_gone, write_gone, write_kept, write_kept, write_kept):
        events.queue.send_message(content)  # out of order, and one event three times
    events.pipeline.port.reset_counters()

    outcome = events.tick()

    (request,) = outcome.result.run_requests
    assert len(request.run_config["resources"]["sync_options"]["config"]["changes"]) == 2
    assert all(summary.success for summary in outcome.summaries)
    assert events.in_port(kept)["properties"]["tags"] == {"copy": "one"}
    assert events.in_port(gone) is None
    upserts = sum(
        count
        for route, count in events.pipeline.port.counters.items()
        if route.endswith("/entities/bulk")
    )
    assert upserts == 1
    staged.close()


def test_an_undecodable_message_goes_to_the_poison_queue_and_the_rest_is_processed(
    events: Events,
) -> None:
    first = events.pipeline.enabled_subscriptions[0]
    account = events.account_id(first, "steventpois1")
    events.queue.send_message("this is not an event")
    events.create(account)

    outcome = events.tick()

    assert all(summary.success for summary in outcome.summaries)
    assert events.in_port(account) is not None
    poison = QueueClient.from_connection_string(events.connection_string, f"{QUEUE}-poison")
    (message,) = list(poison.receive_messages())
    assert message.content == "this is not an event"
    poison.close()


def test_an_unreachable_queue_makes_the_sensor_skip_with_the_reason(pipeline: Pipeline) -> None:
    closed = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    resource = EventQueueResource(
        name=QUEUE,
        connection_string=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey=c2VjcmV0;QueueEndpoint={closed};"
        ),
    )
    defs = build_definitions(
        settings=PipelineSettings.from_env(WINDOW_SETTINGS),
        resources={**pipeline.resources(), "events_queue": resource},
    )

    outcome = sensor_tick(defs, pipeline.instance, EVENTS_SENSOR)

    assert outcome.result.run_requests in (None, [])
    skipped = outcome.result.skip_reason
    assert skipped is not None and QUEUE in (skipped.skip_message or "")
    assert "c2VjcmV0" not in (skipped.skip_message or "")


def test_a_sensor_that_dies_before_requesting_its_runs_gets_the_messages_again(
    pipeline: Pipeline, azurite: str
) -> None:
    events = Events(pipeline, azurite, visibility_timeout=2)
    assert all(s.success for s in discover_and_sync(events.defs, pipeline.instance, "WARNING"))
    pipeline.azure.event_queue = (azurite, QUEUE)
    first = pipeline.enabled_subscriptions[0]
    account = events.account_id(first, "steventcrash")
    events.create(account)

    # The sensor receives, then dies: neither its run requests nor its cursor are kept.
    with build_sensor_context(
        instance=pipeline.instance,
        resources=dict(events.defs.resources or {}),
        definitions=events.defs,
    ) as context:
        died = events.defs.resolve_sensor_def(EVENTS_SENSOR)(context)
    assert isinstance(died, SensorResult) and died.run_requests
    assert not _visible(events)  # received: hidden, not deleted
    deadline = time.monotonic() + REAPPEAR_BOUND_SECONDS
    while events.messages_left() == 0 or not _visible(events):
        assert time.monotonic() < deadline, "the received messages never came back"
        time.sleep(0.5)

    outcome = events.tick()

    assert [r.partition_key for r in outcome.result.run_requests] == [first]
    assert all(summary.success for summary in outcome.summaries)
    assert events.in_port(account) is not None
    pipeline.azure.stop()
    events.queue.close()


def _visible(events: Events) -> bool:
    return bool(list(events.queue.peek_messages(max_messages=1)))


def test_an_event_run_that_fails_is_repaired_by_the_next_change_window(events: Events) -> None:
    first = events.pipeline.enabled_subscriptions[0]
    account = events.account_id(first, "steventfail1")
    events.create(account, attempt="first")
    events.pipeline.azure.faults.server_error(times=None, status=503, route="GET /{resourceId}")

    failed = events.tick()

    assert failed.summaries and not failed.summaries[0].success
    events.tick()  # the failed run exists: its messages are deleted all the same
    assert events.messages_left() == 0
    events.pipeline.azure.faults.clear()
    window = Estate(events.pipeline, {**events.pipeline.resources()})
    repaired = window.window()

    assert [r.partition_key for r in repaired.result.run_requests] == [first]
    assert all(summary.success for summary in repaired.summaries)
    assert events.in_port(account)["properties"]["tags"] == {"attempt": "first"}


def test_events_wait_behind_a_queued_run_and_then_go_in_one_run(events: Events) -> None:
    """A subscription with a sync run still queued gets no second one: its events are held in
    the cursor (messages kept) and all go into the run requested once the queued one leaves."""
    first = events.pipeline.enabled_subscriptions[0]
    instance = events.pipeline.instance
    queued = DagsterRun(
        job_name=SYNC_JOB,
        run_id=make_new_run_id(),
        status=DagsterRunStatus.NOT_STARTED,  # launched, not yet started: waiting
        tags={PARTITION_TAG: first},
    )
    instance.add_run(queued)
    accounts = [events.account_id(first, f"steventheld{n}") for n in range(2)]

    held = []
    for account in accounts:
        events.create(account, held="yes")
        held.append(events.tick())

    assert all(not outcome.result.run_requests for outcome in held)
    assert "held behind a queued run" in (held[-1].result.skip_reason.skip_message or "")
    assert all(events.in_port(account) is None for account in accounts)
    assert events.messages_left() == 2  # received, hidden, not deleted

    instance.report_run_canceled(queued)
    released = events.tick()

    (request,) = released.result.run_requests
    changes = request.run_config["resources"]["sync_options"]["config"]["changes"]
    assert sorted(change["resourceId"].lower() for change in changes) == sorted(
        account.lower() for account in accounts
    )
    assert all(summary.success for summary in released.summaries)
    assert all(events.in_port(account) is not None for account in accounts)
    events.tick()
    assert events.messages_left() == 0
