"""Event Grid events the emulator delivers to a real (Azurite) Storage Queue: the CloudEvents
option, the delivery faults a real-time reader must survive (delay, duplicates, out-of-order,
an undecodable message) and `emulate azure --events-queue ...` on the command line.

Messages are read back with the pipeline's own reader (`decode` / `resource_event`), so what
is checked is what the real-time sync will see.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.queue import QueueClient

from azure_port_pipeline.azure.events import (
    CLOUD_EVENTS,
    DELETE_SUCCESS,
    EVENT_GRID,
    WRITE_SUCCESS,
    EventDecodeError,
    EventQueue,
    ResourceEvent,
    decode,
    resource_event,
)
from azure_port_pipeline.emulators.azure import AzureEmulator, EventPublishError
from azure_port_pipeline.emulators.azure.faults import AzureFaults
from azure_port_pipeline_tests.azure_fixtures import ARM_SCOPE, CLIENT_ID, CLIENT_SECRET, TENANT_ID
from azure_port_pipeline_tests.azurite import (
    AZURITE_KEY,
    connection_string,
    free_port,
    running_azurite_queue,
)
from azure_port_pipeline_tests.emulators.standalone import Child

WITHIN = 60.0  # seconds: a bound for a loaded machine, not an expected time
CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))
CREDENTIALS = {
    "AZURE_TENANT_ID": TENANT_ID,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_CLIENT_SECRET": CLIENT_SECRET,
}


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    """One Azurite queue service for the module (each test uses its own queue)."""
    with running_azurite_queue() as connection:
        yield connection


@pytest.fixture
def emu(azure_emulator_factory: Callable[..., AzureEmulator]) -> AzureEmulator:
    return azure_emulator_factory(resources=60, rg_quota=None)


@pytest.fixture
def queue(azurite: str, emu: AzureEmulator) -> Iterator[QueueClient]:
    """A fresh queue the emulator publishes to, and a client to read it."""
    name = f"events-{uuid.uuid4().hex[:12]}"
    emu.event_queue = (azurite, name)
    emu.prepare_event_queue()
    client = QueueClient.from_connection_string(azurite, name)
    try:
        yield client
    finally:
        emu.stop()  # flushes held events and closes its client while Azurite still runs
        client.close()


def _account(emu: AzureEmulator, name: str) -> dict[str, Any]:
    sub = emu.estate.subscription_ids[0]
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/My-RG/providers/"
        f"Microsoft.Storage/storageAccounts/{name}",
        "type": "Microsoft.Storage/storageAccounts",
        "location": "westeurope",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "properties": {"provisioningState": "Succeeded", "accessTier": "Hot"},
    }


def _received(queue: QueueClient) -> list[str]:
    """The content of every message visible now (hidden from later receives)."""
    return [m.content for m in queue.receive_messages(messages_per_page=32, visibility_timeout=600)]


def _events(contents: list[str]) -> list[ResourceEvent]:
    """The resource events in these messages, read as the pipeline reads them."""
    found = [resource_event(event) for content in contents for event in decode(content)]
    assert all(event is not None for event in found)
    return [event for event in found if event is not None]


def _summary(contents: list[str]) -> list[tuple[str, str]]:
    return [(e.event_type, e.resource_id) for e in _events(contents)]


def test_cloud_events_decode_to_the_written_resource(emu, queue):
    account = _account(emu, "stcloudevents01")
    emu.create_resource(account)
    emu.event_schema = "cloudevents"
    emu.update_resource(account["id"], {"tags.env": "prod"})
    emu.delete_resource(account["id"])

    contents = _received(queue)
    grid, *clouds = (decode(c)[0] for c in contents)
    assert len(clouds) == 2
    for cloud in clouds:
        assert cloud["specversion"] == "1.0" and cloud["datacontenttype"] == "application/json"
        assert cloud["source"] == f"/subscriptions/{emu.estate.subscription_ids[0]}"
        assert cloud["subject"] == account["id"] and cloud["id"] and cloud["time"].endswith("Z")
        assert cloud["data"].keys() == grid["data"].keys()  # the same data object
    assert clouds[0]["data"]["operationName"] == "Microsoft.Storage/storageAccounts/write"
    write, update, delete = _events(contents)
    assert (write.schema, update.schema, delete.schema) == (EVENT_GRID, CLOUD_EVENTS, CLOUD_EVENTS)
    assert (update.event_type, delete.event_type) == (WRITE_SUCCESS, DELETE_SUCCESS)
    assert update.resource_id == delete.resource_id == account["id"]
    assert update.resource_type == "microsoft.storage/storageaccounts"
    assert update.event_id == clouds[0]["id"] and update.changed_by


def test_event_schema_is_checked_when_set(emu):
    with pytest.raises(ValueError, match="eventgrid, cloudevents"):
        emu.event_schema = "CloudEvents"
    assert emu.event_schema == "eventgrid"


def test_delayed_events_become_visible_later(emu, queue):
    slow, fast = _account(emu, "stdelayed0001"), _account(emu, "stontime00001")
    emu.faults.delay_events(4, times=1)
    sent = time.monotonic()
    emu.create_resource(slow)
    emu.create_resource(fast)

    assert _summary(_received(queue)) == [(WRITE_SUCCESS, fast["id"])]
    deadline = time.monotonic() + WITHIN
    late: list[str] = []
    while not late:
        assert time.monotonic() < deadline, "the delayed event never became visible"
        time.sleep(0.2)
        late = _received(queue)
    assert time.monotonic() - sent >= 3.5, "visible before its visibility timeout"
    assert _summary(late) == [(WRITE_SUCCESS, slow["id"])]


def test_duplicated_events_repeat_the_same_event(emu, queue):
    account = _account(emu, "stduplicate01")
    emu.faults.duplicate_events(copies=2, times=1)
    emu.create_resource(account)
    emu.delete_resource(account["id"])

    events = _events(_received(queue))
    assert [e.event_type for e in events] == [WRITE_SUCCESS] * 3 + [DELETE_SUCCESS]
    assert len({e.event_id for e in events[:3]}) == 1 and events[3].event_id != events[0].event_id


def test_reordered_events_put_a_delete_before_its_write(emu, queue):
    account, held, last = (_account(emu, f"streorder000{n}") for n in (1, 2, 3))
    emu.faults.reorder_events(batch=2)
    emu.create_resource(account)
    assert _received(queue) == [], "the write is held until its group is complete"
    emu.delete_resource(account["id"])
    assert _summary(_received(queue)) == [
        (DELETE_SUCCESS, account["id"]),
        (WRITE_SUCCESS, account["id"]),
    ]

    emu.create_resource(held)
    assert _received(queue) == []
    assert emu.flush_events() == 1
    assert _summary(_received(queue)) == [(WRITE_SUCCESS, held["id"])]

    emu.create_resource(last)
    emu.stop()  # never loses a held event
    assert _summary(_received(queue)) == [(WRITE_SUCCESS, last["id"])]


def test_an_undecodable_message_precedes_the_next_event(emu, queue):
    account = _account(emu, "stundecodable")
    emu.faults.undecodable_event()
    emu.create_resource(account)
    emu.delete_resource(account["id"])

    bad, *good = _received(queue)
    with pytest.raises(EventDecodeError):
        decode(bad)
    assert _summary(good) == [(WRITE_SUCCESS, account["id"]), (DELETE_SUCCESS, account["id"])]


def test_the_pipeline_reader_poisons_the_undecodable_message_and_reads_the_rest(
    emu, queue, azurite
):
    account = _account(emu, "stpoisoned001")
    emu.faults.undecodable_event(times=2)
    emu.create_resource(account)
    emu.delete_resource(account["id"])

    with EventQueue(queue.queue_name, connection_string=azurite) as reader:
        batch = reader.receive()
    assert len(batch.poisoned) == 2
    assert [(e.event_type, e.resource_id) for _, e in batch.events] == [
        (WRITE_SUCCESS, account["id"]),
        (DELETE_SUCCESS, account["id"]),
    ]


def test_clear_resets_event_faults_but_keeps_held_events(emu, queue):
    first, second = _account(emu, "stcleared0001"), _account(emu, "stcleared0002")
    emu.faults.reorder_events(batch=3)
    emu.faults.delay_events(30)
    emu.faults.duplicate_events(copies=3)
    emu.faults.undecodable_event(times=5)
    emu.faults.clear()  # nothing held yet: nothing configured applies
    emu.faults.reorder_events(batch=3)
    emu.create_resource(first)  # held
    emu.faults.clear()
    emu.create_resource(second)

    assert _summary(_received(queue)) == [
        (WRITE_SUCCESS, first["id"]),
        (WRITE_SUCCESS, second["id"]),
    ]


def test_http_writes_are_delivered_through_the_faults(emu, queue):
    """ARM's own PUT / DELETE publish through the same path as the mutation API."""
    from azure_port_pipeline_tests.azure_fixtures import credential_for, sdk_kwargs

    sub = emu.estate.subscription_ids[0]
    client = ResourceManagementClient(credential_for(emu), sub, **sdk_kwargs(emu))
    emu.faults.reorder_events(batch=2)
    client.resource_groups.create_or_update("rg-reordered", {"location": "westeurope"})
    client.resource_groups.begin_delete("rg-reordered").result()

    events = _events(_received(queue))
    assert [e.event_type for e in events] == [DELETE_SUCCESS, WRITE_SUCCESS]
    assert {e.resource_id.lower() for e in events} == {
        f"/subscriptions/{sub}/resourcegroups/rg-reordered"
    }


def test_a_queue_gone_at_stop_is_logged_without_the_key(emu, caplog):
    emu.faults.reorder_events(batch=2)
    emu.event_queue = (connection_string(free_port()), "nobody-listens")  # nothing there
    emu.create_resource(_account(emu, "stunsent00001"))  # held: nothing sent yet
    with caplog.at_level(logging.WARNING):
        emu.stop()
    assert "held events lost on stop" in caplog.text
    assert AZURITE_KEY not in caplog.text


def test_a_failed_publish_names_the_cause_without_the_key(emu):
    emu.event_queue = (connection_string(free_port()), "nobody-listens")
    with pytest.raises(EventPublishError) as raised:
        emu.create_resource(_account(emu, "stunsent00002"))
    assert "could not queue" in str(raised.value) and AZURITE_KEY not in str(raised.value)
    emu.event_queue = None


@pytest.mark.parametrize(
    ("configure", "problem"),
    [
        (lambda f: f.delay_events(-1), "delay"),
        (lambda f: f.delay_events(8 * 24 * 3600), "delay"),
        (lambda f: f.duplicate_events(copies=0), "copies"),
        (lambda f: f.duplicate_events(times=0), "times"),
        (lambda f: f.reorder_events(batch=1), "batch"),
        (lambda f: f.undecodable_event(times=0), "times"),
    ],
)
def test_event_faults_reject_meaningless_settings(configure, problem):
    with pytest.raises(ValueError, match=problem):
        configure(AzureFaults())


# ---- the command line ------------------------------------------------------------------------


def _without_events_env() -> dict[str, str]:
    env = {**os.environ, **CREDENTIALS}
    env.pop("AZURE_EVENTS_QUEUE_CONNECTION_STRING", None)
    return env


def test_cli_publishes_each_arm_write_to_the_queue(azurite, tmp_path):
    name = "cli-events"
    ca = tmp_path / "ca.pem"
    command = [
        CLI,
        "emulate",
        "azure",
        "--port",
        "0",
        "--ca-file",
        str(ca),
        "--subscriptions",
        "1",
        "--resources",
        "20",
        "--events-queue-connection-string",
        azurite,
        "--events-queue",
        name,
        "--events-schema",
        "cloudevents",
    ]
    process = subprocess.Popen(
        command,
        env=_without_events_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    child = Child(process)
    reader = QueueClient.from_connection_string(azurite, name)
    try:
        line = child.wait_for_line("Azure emulator on ")
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        events_line = child.wait_for_line("Event Grid events")
        sub = child.wait_for_line("  Enabled").split()[0]
        credential = ClientSecretCredential(
            TENANT_ID,
            CLIENT_ID,
            CLIENT_SECRET,
            authority=base,
            disable_instance_discovery=True,
            connection_verify=str(ca),
        )
        client = ResourceManagementClient(
            credential,
            sub,
            base_url=base,
            connection_verify=str(ca),
            credential_scopes=[ARM_SCOPE],
        )
        client.resource_groups.create_or_update("rg-from-cli", {"location": "westeurope"})
        contents = _received(reader)  # the queue was created at startup; sent before 200
        assert child.stop_with(signal.SIGTERM) == 0, child.output
    finally:
        child.close()
        reader.close()
    host = azurite.split("QueueEndpoint=http://", 1)[1].split("/", 1)[0]
    assert events_line.strip() == (
        f"Event Grid events (CloudEvents 1.0 schema) go to Storage Queue {name!r} at {host}"
    )
    assert AZURITE_KEY not in child.output
    (event,) = _events(contents)
    assert event.schema == CLOUD_EVENTS and event.event_type == WRITE_SUCCESS
    assert event.resource_id.lower() == f"/subscriptions/{sub}/resourcegroups/rg-from-cli"


def test_cli_takes_the_connection_string_from_the_environment(monkeypatch, tmp_path):
    from azure_port_pipeline import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure_port_pipeline.emulators.azure.serve", lambda *a, **kw: calls.append(kw)
    )
    monkeypatch.setenv("AZURE_EVENTS_QUEUE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    ca = str(tmp_path / "ca.pem")
    assert cli.main(["emulate", "azure", "--ca-file", ca, "--events-queue", "q-env"]) == 0
    assert cli.main(["emulate", "azure", "--ca-file", ca]) == 0  # no queue: no events
    flag = ["--events-queue-connection-string", "flag-cs", "--events-queue", "q-flag"]
    assert cli.main(["emulate", "azure", "--ca-file", ca, *flag]) == 0
    assert [(c["events_queue"], c["events_schema"]) for c in calls] == [
        (("UseDevelopmentStorage=true", "q-env"), "eventgrid"),
        (None, "eventgrid"),
        (("flag-cs", "q-flag"), "eventgrid"),
    ]


def test_cli_events_queue_without_a_connection_string_exits_2(tmp_path):
    done = subprocess.run(
        [CLI, "emulate", "azure", "--ca-file", str(tmp_path / "ca.pem"), "--events-queue", "q"],
        env=_without_events_env(),
        capture_output=True,
        text=True,
        timeout=WITHIN,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--events-queue-connection-string" in done.stderr
    assert not (tmp_path / "ca.pem").exists(), "nothing started"


def test_cli_connection_string_without_a_queue_exits_2(tmp_path, capsys):
    from azure_port_pipeline import cli

    args = ["emulate", "azure", "--ca-file", str(tmp_path / "ca.pem")]
    assert cli.main([*args, "--events-queue-connection-string", "cs"]) == 2
    assert "--events-queue NAME" in capsys.readouterr().err
