"""Event Grid resource events read from a real Storage Queue (Azurite), defensively.

Messages are produced exactly as the emulator publishes them (`event_grid_event`,
`encode_message`, `QueuePublisher`), so the reader is tested against the same bytes the
end-to-end demo sends; the parsing and type derivation tests need no queue at all.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.storage.queue import QueueClient
from hypothesis import given, settings
from hypothesis import strategies as st

from azure_port_pipeline.azure.events import (
    RESOURCE_EVENT_TYPES,
    EventDecodeError,
    EventQueue,
    EventQueueUnavailable,
    Receipt,
    ReceivedBatch,
    ResourceEvent,
    decode,
    resource_event,
    resource_type_of,
)
from azure_port_pipeline.emulators.azure.events import (
    Change,
    QueuePublisher,
    encode_message,
    event_grid_event,
)
from azure_port_pipeline_tests.azurite import (
    AZURITE_KEY,
    connection_string,
    free_port,
    running_azurite_queue,
)

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "5b1e3c4a-8d2f-4e6a-9c7b-1a2b3c4d5e6f"
ACCOUNT_ID = (
    f"/subscriptions/{SUB}/resourceGroups/My-RG/providers/Microsoft.Storage/storageAccounts/stx01"
)
AT = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
FAKE_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlc2lnbmF0dXJlCg"


# --- producing events as the emulator does ------------------------------------------------


def _change(change_type: str = "Update", target: str = ACCOUNT_ID, **extra: Any) -> Change:
    return Change(
        change_type=change_type,
        target_id=target,
        target_type="Microsoft.Storage/storageAccounts",
        at=AT,
        tenant_id=TENANT,
        correlation_id=str(uuid.uuid4()),
        changed_by=APP_ID,
        **extra,
    )


def _event(change_type: str = "Update", target: str = ACCOUNT_ID, **extra: Any) -> dict:
    return event_grid_event(
        _change(change_type, target, **extra), event_id=str(uuid.uuid4()), api_version="2023-05-01"
    )


def _cloud_event(event: dict) -> dict:
    """The same event in the CloudEvents 1.0 schema (Event Grid's optional delivery schema)."""
    return {
        "specversion": "1.0",
        "type": event["eventType"],
        "source": event["topic"],
        "subject": event["subject"],
        "id": event["id"],
        "time": event["eventTime"],
        "datacontenttype": "application/json",
        "data": event["data"],
    }


VALIDATION_EVENT = {
    "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
    "topic": f"/subscriptions/{SUB}",
    "subject": "",
    "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
    "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
    "eventTime": "2030-01-02T03:04:05.6780000Z",
    "metadataVersion": "1",
    "dataVersion": "1",
}


# --- resource type derivation (pure) ------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (ACCOUNT_ID, "microsoft.storage/storageaccounts"),
        (
            f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Network/"
            "virtualNetworks/v/subnets/x",
            "microsoft.network/virtualnetworks/subnets",
        ),
        (f"/subscriptions/{SUB}/resourceGroups/g", "microsoft.resources/resourcegroups"),
        (f"/subscriptions/{SUB}/resourcegroups/g/", "microsoft.resources/resourcegroups"),
        (f"/subscriptions/{SUB}", "microsoft.resources/subscriptions"),
        (f"/SUBSCRIPTIONS/{SUB}", "microsoft.resources/subscriptions"),
        (
            f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/"
            "vm/providers/Microsoft.Insights/diagnosticSettings/d",
            "microsoft.insights/diagnosticsettings",
        ),
        (
            f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings/VirtualMachines",
            "microsoft.security/pricings",
        ),
        (  # a resource *named* "providers" is a name, not a namespace marker
            f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Web/sites/providers"
            "/config/web",
            "microsoft.web/sites/config",
        ),
        (
            "/providers/Microsoft.Management/managementGroups/mg",
            "microsoft.management/managementgroups",
        ),
        (f"/subscriptions/{SUB}/providers/Microsoft.Compute", None),  # a provider, no resource
        (f"/subscriptions/{SUB}/resourceGroups", None),  # a collection
        (
            f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Storage/storageAccounts",
            None,
        ),
        ("/subscriptions//resourceGroups/g", None),
        ("subscriptions/x", None),
        ("", None),
        ("/tenants/t", None),
    ],
)
def test_resource_type_of(resource_id: str, expected: str | None) -> None:
    assert resource_type_of(resource_id) == expected


# --- decoding messages (pure) -------------------------------------------------------------


def test_decode_accepts_base64_plain_json_and_arrays() -> None:
    event = _event()
    assert decode(encode_message(event)) == [event]
    assert decode(json.dumps(event)) == [event]
    assert decode("  \n" + json.dumps([event, event])) == [event, event]
    wrapped = base64.b64encode(json.dumps([event]).encode()).decode()
    assert decode(wrapped[:20] + "\n" + wrapped[20:]) == [event]  # line-wrapped base64
    assert decode(base64.b64encode(b"[]").decode()) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "empty"),
        ("not base64, not JSON!", "neither base64 nor JSON"),
        (base64.b64encode(b"hello there").decode(), "not JSON"),
        (base64.b64encode(b"\xff\xfe\xfa").decode(), "not UTF-8"),
        ("{not json", "not JSON"),
        ("42", "not an event object"),
        (base64.b64encode(b'"text"').decode(), "not an event object"),
        ('[{"eventType": "x"}, 3]', "not an event object"),
    ],
)
def test_decode_rejects_what_is_not_events(content: str, reason: str) -> None:
    with pytest.raises(EventDecodeError, match=reason):
        decode(content)


def test_event_grid_write_and_delete_events() -> None:
    write = resource_event(_event("Update"))
    assert write == ResourceEvent(
        resource_id=ACCOUNT_ID,
        resource_type="microsoft.storage/storageaccounts",
        subscription_id=SUB,
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        is_delete=False,
        event_time=AT,
        changed_by=APP_ID,
        operation="Microsoft.Storage/storageAccounts/write",
        event_id=write.event_id,
        schema="EventGrid",
    )
    deleted = resource_event(_event("Delete"))
    assert deleted is not None and deleted.is_delete
    assert deleted.event_type == "Microsoft.Resources.ResourceDeleteSuccess"
    assert deleted.operation == "Microsoft.Storage/storageAccounts/delete"
    action = resource_event(_event("Update", http_method="POST", operation_name="x/start/action"))
    assert action is not None and not action.is_delete and action.operation == "x/start/action"
    assert action.event_type == "Microsoft.Resources.ResourceActionSuccess"


def test_cloud_events_schema_is_read_too() -> None:
    event = _cloud_event(_event("Delete"))
    got = resource_event(event)
    assert got is not None and got.schema == "CloudEvents" and got.is_delete
    assert (got.resource_id, got.subscription_id, got.event_time) == (ACCOUNT_ID, SUB, AT)
    assert got.event_id == event["id"] and got.changed_by == APP_ID
    del event["data"]["resourceUri"]  # the subject names the resource as well
    assert resource_event(event).resource_id == ACCOUNT_ID


def test_user_claims_name_the_user_and_times_are_tz_aware() -> None:
    event = _event()
    event["data"]["claims"] = {
        "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",  # the portal, not the person
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ada@contoso.com",
        "name": "Ada Lovelace",
    }
    event["eventTime"] = "2030-01-02T03:04:05.6780123Z"  # Azure's 7 fractional digits
    del event["data"]["operationName"]
    got = resource_event(event)
    assert got.changed_by == "ada@contoso.com"
    assert got.operation == "Microsoft.Storage/storageAccounts/write"  # authorization.action
    assert got.event_time == datetime(2030, 1, 2, 3, 4, 5, 678012, tzinfo=UTC)
    event["eventTime"] = "2030-01-02T03:04:05"  # no zone: UTC, never a naive datetime
    assert resource_event(event).event_time.tzinfo is not None


def test_other_events_are_not_resource_events() -> None:
    failure = _event()
    failure["eventType"] = "Microsoft.Resources.ResourceWriteFailure"
    tenant_level = _event(target="/providers/Microsoft.Management/managementGroups/mg")
    not_arm = _event()
    not_arm["data"]["resourceUri"] = "https://example.com/thing"
    for event in (VALIDATION_EVENT, failure, tenant_level, not_arm):
        assert resource_event(event) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.pop("id"), "has no id"),
        (lambda e: e.pop("eventTime"), "no valid eventTime"),
        (lambda e: e.update(eventTime="yesterday"), "no valid eventTime"),
        (lambda e: (e["data"].pop("resourceUri"), e.pop("subject")), "names no resource"),
        (lambda e: e.pop("eventType"), "neither an Event Grid event nor a CloudEvent"),
    ],
)
def test_malformed_resource_events_raise(change: Callable[[dict], Any], reason: str) -> None:
    event = _event()
    change(event)
    with pytest.raises(EventDecodeError, match=reason):
        resource_event(event)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["specversion", "eventType", "type", "id", "eventTime", "time", "subject", "data"]
)


@settings(max_examples=100, deadline=None, database=None)
@given(
    event=st.dictionaries(_KEYS, _JSON | st.sampled_from([ACCOUNT_ID, "2030-01-01T00:00:00Z"])),
    event_type=st.sampled_from([*RESOURCE_EVENT_TYPES, "Other"]),
    data=st.dictionaries(st.sampled_from(["resourceUri", "claims", "authorization"]), _JSON),
)
def test_any_json_object_is_an_event_none_or_a_decode_error(
    event: dict, event_type: str, data: dict
) -> None:
    """Whatever JSON arrives, the reader answers with an event, None or EventDecodeError:
    never another exception, which would fail every receive until the message expires."""
    for candidate in (event, {**event, "eventType": event_type, "data": data}):
        try:
            got = resource_event(candidate)
        except EventDecodeError:
            continue
        assert got is None or (got.event_time.tzinfo and got.resource_id.startswith("/"))
        try:
            decode(json.dumps(candidate))
            decode(encode_message(candidate))
        except EventDecodeError:
            pytest.fail("a JSON object must decode")


def test_bad_settings_are_refused_before_any_request() -> None:
    conn = _connection_string(1)
    with pytest.raises(ValueError, match="not a valid Storage Queue name"):
        EventQueue("Bad_Name", connection_string=conn)
    with pytest.raises(ValueError, match="pass poison_queue_name"):
        EventQueue("q" * 60, connection_string=conn)
    with pytest.raises(ValueError, match="visibility_timeout"):
        EventQueue("events", connection_string=conn, visibility_timeout=0)
    with pytest.raises(ValueError, match="either connection_string or account_url"):
        EventQueue("events")
    with pytest.raises(ValueError, match="only supported with HTTPS") as err:
        EventQueue("events", account_url="http://127.0.0.1:1/acct", credential=_FakeCredential())
    assert FAKE_TOKEN not in str(err.value)
    with pytest.raises(ValueError, match="connection string is not usable") as err:
        EventQueue("events", connection_string=f"AccountKey={AZURITE_KEY};nonsense")
    assert AZURITE_KEY not in str(err.value)


# --- a real queue (Azurite) ---------------------------------------------------------------


def _connection_string(port: int, key: str = AZURITE_KEY) -> str:
    return connection_string(port).replace(AZURITE_KEY, key)


@pytest.fixture(scope="module")
def azurite_queue() -> Iterator[str]:
    """One Azurite queue service for the module (each test uses its own queue names)."""
    with running_azurite_queue() as connection_string:
        yield connection_string


@pytest.fixture
def queue_name(azurite_queue: str) -> Iterator[str]:
    """A fresh queue for one test (its poison queue is left to the code under test)."""
    name = f"events-{uuid.uuid4().hex[:12]}"
    client = QueueClient.from_connection_string(azurite_queue, name)
    client.create_queue()
    yield name
    client.close()


@pytest.fixture
def make_queue(azurite_queue: str, queue_name: str) -> Iterator[Callable[..., EventQueue]]:
    queues: list[EventQueue] = []

    def make(**options: Any) -> EventQueue:
        options.setdefault("timeout", 5.0)
        options.setdefault("retry_backoff", 0.1)
        queue = EventQueue(queue_name, connection_string=azurite_queue, **options)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.close()


def _send(conn: str, queue: str, *contents: str) -> None:
    client = QueueClient.from_connection_string(conn, queue)
    for content in contents:
        client.send_message(content)
    client.close()


def _stored(conn: str, queue: str) -> tuple[int, list[str]]:
    """(messages in the queue, visible or not; the visible ones' content)."""
    client = QueueClient.from_connection_string(conn, queue)
    try:
        count = client.get_queue_properties().approximate_message_count
        return count, [m.content for m in client.peek_messages(max_messages=32)]
    finally:
        client.close()


def _until(condition: Callable[[], Any], what: str, bound: float = 30.0) -> Any:
    """Poll until `condition()` is truthy; the bound is for a loaded machine, not expected."""
    deadline = time.monotonic() + bound
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_write_and_delete_events_from_the_emulators_publisher(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    write, delete = _event("Update"), _event("Delete")
    publisher = QueuePublisher(azurite_queue, queue_name)
    publisher.send([write, delete])
    publisher.close()
    batch = make_queue().receive()
    assert batch.poisoned == [] and batch.ignored == []
    assert [(e.event_id, e.is_delete) for _, e in batch.events] == [
        (write["id"], False),
        (delete["id"], True),
    ]
    for _, event in batch.events:
        assert event.resource_id == ACCOUNT_ID and event.subscription_id == SUB
        assert event.resource_type == "microsoft.storage/storageaccounts"
        assert event.event_time == AT and event.changed_by == APP_ID
        assert event.schema == "EventGrid"
    receipts = [r for r, _ in batch.events]
    assert len({r.message_id for r in receipts}) == 2 and all(r.pop_receipt for r in receipts)
    assert batch.receipts == receipts


def test_cloud_events_and_ignored_events_through_the_queue(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    cloud = _cloud_event(_event("Update"))
    failure = _event()
    failure["eventType"] = "Microsoft.Resources.ResourceWriteFailure"
    _send(
        azurite_queue,
        queue_name,
        encode_message(cloud),
        encode_message(VALIDATION_EVENT),
        json.dumps(failure),  # a queue fed without base64
    )
    queue = make_queue()
    batch = queue.receive()
    assert batch.poisoned == []
    assert [(e.schema, e.event_id) for _, e in batch.events] == [("CloudEvents", cloud["id"])]
    assert len(batch.ignored) == 2
    outcome = queue.delete(batch.receipts)
    assert (outcome.deleted, outcome.expired) == (3, 0)
    assert _stored(azurite_queue, queue_name) == (0, [])


def test_undecodable_messages_move_to_the_poison_queue(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    good = encode_message(_event())
    bad = [
        "this is not an event",
        base64.b64encode(b"<xml>no</xml>").decode(),
        encode_message({"hello": "world"}),  # JSON, but neither schema
        encode_message({**_event(), "eventTime": None}),  # a resource event without a time
    ]
    _send(azurite_queue, queue_name, bad[0], good, *bad[1:])
    batch = make_queue().receive()
    assert [e.event_id for _, e in batch.events] == [json.loads(base64.b64decode(good))["id"]]
    reasons = [reason for _, reason in batch.poisoned]
    assert len(reasons) == 4
    assert "neither base64 nor JSON" in reasons[0] and "not JSON" in reasons[1]
    assert "neither an Event Grid event" in reasons[2] and "eventTime" in reasons[3]
    count, poison = _stored(azurite_queue, f"{queue_name}-poison")
    assert count == 4 and sorted(poison) == sorted(bad)  # the original content, as sent
    assert _stored(azurite_queue, queue_name)[0] == 1  # only the good one (still invisible)


def test_a_message_received_too_often_is_poisoned(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    content = encode_message(_event())
    _send(azurite_queue, queue_name, content)
    queue = make_queue(visibility_timeout=1, max_dequeue=2)  # the caller "crashes" every time
    seen: list[ReceivedBatch] = []

    def poisoned() -> bool:
        seen.append(queue.receive())
        return bool(seen[-1].poisoned)

    _until(poisoned, "the message to be poisoned after 2 receives")
    received = [b for b in seen if b.events]
    assert len(received) == 2  # handed out max_dequeue times, then poisoned on the third
    message_id = received[0].events[0][0].message_id
    assert seen[-1].poisoned == [(message_id, "received 3 times (max_dequeue=2)")]
    assert _stored(azurite_queue, f"{queue_name}-poison") == (1, [content])
    assert _stored(azurite_queue, queue_name) == (0, [])


def test_delete_removes_messages_and_undeleted_ones_come_back(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    events = [_event() for _ in range(3)]
    _send(azurite_queue, queue_name, *map(encode_message, events))
    queue = make_queue(visibility_timeout=300)
    batch = queue.receive()
    assert len(batch.events) == 3
    assert queue.receive().events == []  # received messages stay hidden meanwhile
    done = [receipt for receipt, _ in batch.events[:2]]
    assert queue.delete(done).deleted == 2
    again = queue.delete(done)  # deleted already: stale, not an error
    assert (again.deleted, again.expired) == (0, 2)
    assert set(again.expired_ids) == {r.message_id for r in done}
    assert _stored(azurite_queue, queue_name)[0] == 1

    # the sensor crashed before deleting: with a short visibility the message comes back
    short = make_queue(visibility_timeout=1)
    _send(azurite_queue, queue_name, encode_message(_event("Delete")))
    first = short.receive()
    assert [e.is_delete for _, e in first.events] == [True]
    back = _until(lambda: short.receive().events, "the undeleted message to come back")
    old, new = first.events[0][0], back[0][0]
    assert old.message_id == new.message_id and old.pop_receipt != new.pop_receipt
    assert back[0][1] == first.events[0][1]
    outcome = short.delete([old, new])  # the old receipt is stale once re-received
    assert (outcome.deleted, outcome.expired) == (1, 1)
    assert outcome.expired_ids == (old.message_id,)


def test_receive_stops_after_batches_and_reads_every_page(
    azurite_queue: str, queue_name: str, make_queue: Callable[..., EventQueue]
) -> None:
    _send(azurite_queue, queue_name, *(encode_message(_event()) for _ in range(7)))
    queue = make_queue()
    assert len(queue.receive(max_messages=2, batches=2).events) == 4
    assert len(queue.receive(max_messages=2, batches=10).events) == 3
    with pytest.raises(ValueError, match="max_messages"):
        queue.receive(max_messages=33)


def test_a_missing_queue_or_a_wrong_key_is_unavailable(azurite_queue: str) -> None:
    with (
        EventQueue("no-such-queue", connection_string=azurite_queue, timeout=5) as queue,
        pytest.raises(EventQueueUnavailable, match="QueueNotFound") as missing,
    ):
        queue.receive()
    assert "'no-such-queue'" in str(missing.value) and missing.value.status == 404
    wrong_key = base64.b64encode(b"x" * 64).decode()
    wrong = azurite_queue.replace(AZURITE_KEY, wrong_key)
    with (
        EventQueue("no-such-queue", connection_string=wrong, timeout=5) as queue,
        pytest.raises(EventQueueUnavailable, match="403") as refused,
    ):
        queue.receive()
    assert wrong_key not in str(refused.value) and AZURITE_KEY not in str(refused.value)
    assert refused.value.code == "AuthenticationFailed"


def test_an_unreachable_queue_fails_fast_and_names_the_queue() -> None:
    port = free_port()  # nothing listens there
    queue = EventQueue("azure-events", connection_string=_connection_string(port))  # defaults
    started = time.monotonic()
    for call in (queue.receive, lambda: queue.delete([Receipt("m", "p")])):
        with pytest.raises(EventQueueUnavailable) as err:
            call()
        text = str(err.value)
        assert "'azure-events'" in text and "refused" in text.lower()
        assert AZURITE_KEY not in text and "AccountKey" not in text
        assert err.value.queue_name == "azure-events"
    assert time.monotonic() - started < 30  # 3 retries, ~1 s apart: seconds, not minutes
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.receive()


class _FakeCredential:
    """A TokenCredential that hands out a JWT-shaped token (which must never be echoed)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(FAKE_TOKEN, int(time.time()) + 3600)


def test_a_token_credential_queue_that_cannot_be_reached_is_unavailable() -> None:
    url = f"https://127.0.0.1:{free_port()}/devstoreaccount1"
    with (
        EventQueue(
            "azure-events", account_url=url, credential=_FakeCredential(), retry_backoff=0.1
        ) as queue,
        pytest.raises(EventQueueUnavailable) as err,
    ):
        queue.receive()
    assert "'azure-events'" in str(err.value) and FAKE_TOKEN not in str(err.value)
