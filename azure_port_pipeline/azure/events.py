"""Event Grid resource events read from an Azure Storage Queue, defensively.

Azure raises `Microsoft.Resources.Resource{Write,Delete,Action}Success` on each subscription's
system topic (`Microsoft.Resources.Subscriptions`); an Event Grid subscription delivers them to
a Storage Queue, one event per message, as base64 of the JSON (Event Grid schema, or CloudEvents
1.0 when configured). This module is the Azure side only: it turns queue messages into
`ResourceEvent`s and deletes messages when told to. Deciding what to sync, and when it is safe
to delete (only after the run is requested), belongs to the caller.

Why so defensive: a queue is a shared, long-lived inbox. One message that can never be read
must not block every later one, and a message the caller keeps failing on must not be retried
forever, so both go to `<queue>-poison` (the convention Azure Functions uses) with their
original content for an operator to inspect. Every request is bounded (client timeouts, a short
retry policy) so a dead queue fails in seconds, and every failure to reach the queue is one
exception type, `EventQueueUnavailable`, whose message names the queue and never carries the
account key, a SAS signature or a token.

Never imports Dagster, the Port client or the emulators.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

from azure_port_pipeline.redaction import MASK, redact

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage

EVENT_GRID = "EventGrid"
CLOUD_EVENTS = "CloudEvents"
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION_SUCCESS = "Microsoft.Resources.ResourceActionSuccess"
RESOURCE_EVENT_TYPES = (WRITE_SUCCESS, DELETE_SUCCESS, ACTION_SUCCESS)
_RESOURCE_EVENT_TYPES = {t.lower(): t for t in RESOURCE_EVENT_TYPES}
#: the service's ceiling for one Get Messages call
MAX_MESSAGES_PER_CALL = 32
#: Azure Storage's bounds for a received message's visibility timeout (1 s to 7 days)
_MAX_VISIBILITY = 7 * 24 * 3600
POISON_SUFFIX = "-poison"
#: 3-63 chars of lower-case letters, digits and single hyphens, starting and ending alnum
_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
#: error codes that mean "this receipt is stale", not "the queue is down"
_STALE_RECEIPT = {"MessageNotFound", "PopReceiptMismatch"}
#: claims that name a user (the UPN first, as the activity log's `caller` does); else appid
_USER_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "unique_name",
    "name",
)
_SECRET_FIELDS = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|SharedAccessKey|sig)(\s*=\s*)([^;&\s'\"]+)"
)
_FRACTION = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$")
_REASON_LIMIT = 300
_NOT_PARSED = object()  # json.loads can return None, so a sentinel


class EventDecodeError(ValueError):
    """A queue message or event that cannot be read as an Event Grid / CloudEvents event.

    The message is malformed for good: retrying cannot fix it, so the queue reader moves it to
    the poison queue instead of leaving it to block or loop.
    """


class EventQueueUnavailable(Exception):
    """The queue (or its poison queue) could not be reached or refused the request.

    Covers connection failures, timeouts, authentication failures, 5xx after retries and a
    missing queue: none of these is about one message, so the caller should stop this tick
    and try again later. The message names the queue and the reason, with secrets redacted.
    """

    def __init__(
        self, message: str, *, queue_name: str, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.queue_name = queue_name
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ResourceEvent:
    """One successful write, delete or action on an ARM resource, as Event Grid reported it."""

    resource_id: str
    resource_type: str  # lower-case ARM type; groups as "microsoft.resources/resourcegroups"
    subscription_id: str  # lower-case
    event_type: str
    is_delete: bool
    event_time: datetime  # timezone-aware
    changed_by: str | None  # the user's UPN/name claim when present, else the appid claim
    operation: str | None  # data.operationName, else data.authorization.action
    event_id: str
    schema: str  # "EventGrid" | "CloudEvents"


@dataclass(frozen=True)
class Receipt:
    """What deleting one received message takes: its id and the pop receipt of this receipt."""

    message_id: str
    pop_receipt: str


@dataclass
class ReceivedBatch:
    """What one `EventQueue.receive` got.

    `events` pairs each resource event with its message's receipt (a message holding several
    events repeats its receipt); `ignored` are readable messages with no resource event in them
    (other event types, subscription validation), which the caller should delete too;
    `poisoned` are (message id, reason) of messages already moved to the poison queue.
    """

    events: list[tuple[Receipt, ResourceEvent]] = field(default_factory=list)
    ignored: list[Receipt] = field(default_factory=list)
    poisoned: list[tuple[str, str]] = field(default_factory=list)

    @property
    def receipts(self) -> list[Receipt]:
        """Every receipt to delete once handled: those of `events` (once each), then `ignored`."""
        unique = dict.fromkeys(receipt for receipt, _ in self.events)
        unique.update(dict.fromkeys(self.ignored))
        return list(unique)


@dataclass(frozen=True)
class DeleteOutcome:
    """Messages deleted, and receipts that were stale (message gone or received again since)."""

    deleted: int = 0
    expired: int = 0
    expired_ids: tuple[str, ...] = ()


def decode(content: str) -> list[dict[str, Any]]:
    """The events in one queue message: base64 of JSON as Event Grid writes it, or plain JSON
    (a queue can be fed without base64); one event object or an array of them."""
    if content is None:
        raise EventDecodeError("the message is empty")
    if isinstance(content, bytes | bytearray):
        try:
            content = bytes(content).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise EventDecodeError("the message is not UTF-8 text") from None
    text = str(content).strip().lstrip("\ufeff")
    if not text:
        raise EventDecodeError("the message is empty")
    parsed: Any = _NOT_PARSED
    reason = "the message is neither base64 nor JSON"
    if text[0] not in "{[":  # JSON objects and arrays cannot be base64 (no braces in it)
        parsed, reason = _from_base64(text)
    if parsed is _NOT_PARSED:  # plain JSON (also a scalar, to say what is wrong with it)
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            if text[0] in "{[":
                reason = f"the message is not JSON ({getattr(err, 'msg', 'too deeply nested')})"
            raise EventDecodeError(reason) from None
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed):
        return parsed
    raise EventDecodeError(
        f"the message is JSON but not an event object or an array of them "
        f"(got {type(parsed).__name__})"
    )


def _from_base64(text: str) -> tuple[Any, str]:
    """(the JSON value base64 `text` encodes, or _NOT_PARSED; why not)."""
    try:  # line-wrapped (MIME) base64 is still base64; spaces are not
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return _NOT_PARSED, "the message is neither base64 nor JSON"
    try:
        decoded = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        return _NOT_PARSED, "the message is base64 but not UTF-8 text"
    if not decoded:
        return _NOT_PARSED, "the message is base64 of nothing"
    try:
        return json.loads(decoded), ""
    except (json.JSONDecodeError, RecursionError) as err:
        why = getattr(err, "msg", "too deeply nested")
        return _NOT_PARSED, f"the message is base64 but not JSON ({why})"


def resource_event(event: dict[str, Any]) -> ResourceEvent | None:
    """The resource event in one decoded event, or None when it is not one we sync.

    None: event types other than Resource{Write,Delete,Action}Success (failures, cancels,
    Event Grid's subscription validation) and ids that are not ARM ids under /subscriptions/
    (tenant-level or management-group scopes). EventDecodeError: an object in neither schema,
    or a resource event without its event id, time or resource id.
    """
    if not isinstance(event, dict):
        raise EventDecodeError(f"an event must be a JSON object, not {type(event).__name__}")
    if "specversion" in event:
        schema, event_type, time_key = CLOUD_EVENTS, event.get("type"), "time"
    elif "eventType" in event:
        schema, event_type, time_key = EVENT_GRID, event.get("eventType"), "eventTime"
    else:
        raise EventDecodeError("the object is neither an Event Grid event nor a CloudEvent")
    canonical = _RESOURCE_EVENT_TYPES.get(str(event_type or "").lower())
    if canonical is None:
        return None
    data = _object(event.get("data"))
    event_id = str(event.get("id") or "").strip()
    if not event_id:
        raise EventDecodeError(f"a {canonical} event has no id")
    event_time = _parse_time(event.get(time_key))
    if event_time is None:
        raise EventDecodeError(f"{canonical} event {event_id} has no valid {time_key}")
    raw_id = _text(data.get("resourceUri")) or _text(event.get("subject"))
    if raw_id is None:
        raise EventDecodeError(f"{canonical} event {event_id} names no resource")
    resource_id = raw_id.rstrip("/")
    subscription = _subscription(resource_id)
    rtype = resource_type_of(resource_id)
    if subscription is None or rtype is None:
        return None
    authorization = _object(data.get("authorization"))
    return ResourceEvent(
        resource_id=resource_id,
        resource_type=rtype,
        subscription_id=subscription,
        event_type=canonical,
        is_delete=canonical == DELETE_SUCCESS,
        event_time=event_time,
        changed_by=_changed_by(_object(data.get("claims"))),
        operation=_text(data.get("operationName")) or _text(authorization.get("action")),
        event_id=event_id,
        schema=schema,
    )


def resource_type_of(resource_id: str) -> str | None:
    """The lower-case ARM type of an id; None when the id is not shaped like one.

    `.../providers/Microsoft.Network/virtualNetworks/v/subnets/x` is
    `microsoft.network/virtualnetworks/subnets`; an extension resource takes the type after
    its last `providers` (a diagnostic setting on a VM is `microsoft.insights/...`). Without a
    provider, a subscription is `microsoft.resources/subscriptions` and a group
    `microsoft.resources/resourcegroups` (as the change reader names them).
    """
    if not isinstance(resource_id, str) or not resource_id.startswith("/"):
        return None
    segments = resource_id.strip().strip("/").split("/")
    if not segments or any(not s.strip() for s in segments):
        return None
    namespace: str | None = None
    types: list[str] = []
    index = 0
    while index < len(segments):  # (type, name) pairs; "providers" restarts at a namespace
        key = segments[index]
        if index + 1 >= len(segments):
            return None  # a type with no name: a collection, not a resource
        if key.lower() == "providers":
            namespace, types = segments[index + 1], []
        else:
            types.append(key)
        index += 2
    if namespace is not None:
        return "/".join([namespace, *types]).lower() if types else None
    lowered = [t.lower() for t in types]
    if not lowered or lowered[0] != "subscriptions":
        return None
    if lowered[1:2] == ["resourcegroups"]:
        lowered = lowered[1:]  # groups go by "resourcegroups", not "subscriptions/..."
    return "/".join(["microsoft.resources", *lowered])


class EventQueue:
    """Receives resource events from one Storage Queue and deletes them when told to.

    Built from a connection string (Azurite, shared key or SAS) or an account URL with a
    `TokenCredential` (the identity must receive, delete and send messages, e.g. Storage Queue
    Data Contributor; the poison queue is created on first need, so create it beforehand if
    the identity may not create queues). Each request is bounded by `timeout`
    seconds (connect and read, and sent as the server-side timeout) and retried at most
    `retry_total` times `retry_backoff` seconds apart, so a dead queue fails within roughly
    (retry_total + 1) x timeout, not minutes (the SDK's default backs off 15 s and more).
    """

    def __init__(
        self,
        queue_name: str,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: TokenCredential | None = None,
        visibility_timeout: int = 300,
        max_dequeue: int = 5,
        timeout: float = 10.0,
        retry_total: int = 3,
        retry_backoff: float = 1.0,
        poison_queue_name: str | None = None,
    ) -> None:
        poison = poison_queue_name or f"{queue_name}{POISON_SUFFIX}"
        for name, what in ((queue_name, "queue_name"), (poison, "poison queue name")):
            if not isinstance(name, str) or not _QUEUE_NAME.match(name):
                hint = " (pass poison_queue_name)" if what != "queue_name" else ""
                raise ValueError(
                    f"{what} {name!r} is not a valid Storage Queue name: 3-63 lower-case "
                    f"letters, digits and single hyphens, starting and ending alphanumeric{hint}"
                )
        if poison == queue_name:
            raise ValueError("the poison queue must differ from the queue")
        if (connection_string is None) == (account_url is None):
            raise ValueError("give either connection_string or account_url (with a credential)")
        if account_url is not None and credential is None:
            raise ValueError("account_url needs a credential (a TokenCredential)")
        if not 1 <= visibility_timeout <= _MAX_VISIBILITY:
            raise ValueError(f"visibility_timeout must be 1..{_MAX_VISIBILITY} seconds")
        if max_dequeue < 1:
            raise ValueError("max_dequeue must be at least 1")
        if not timeout > 0 or retry_total < 0 or retry_backoff < 0:
            raise ValueError("timeout must be positive; retry_total and retry_backoff >= 0")
        self.queue_name = queue_name
        self.poison_queue_name = poison
        self.visibility_timeout = int(visibility_timeout)
        self.max_dequeue = int(max_dequeue)
        self._server_timeout = max(1, math.ceil(timeout))
        self._secrets = _connection_secrets(connection_string)
        self._closed = False
        # the queue SDK only where events are read (0.3 s of imports for every other process)
        from azure.storage.queue import LinearRetry, QueueClient

        options: dict[str, Any] = {
            "connection_timeout": timeout,
            "read_timeout": timeout,
            "retry_policy": LinearRetry(
                backoff=retry_backoff,
                retry_total=retry_total,
                random_jitter_range=retry_backoff / 2,
            ),
        }
        try:
            if connection_string is not None:
                self._client = QueueClient.from_connection_string(
                    connection_string, queue_name, **options
                )
                self._poison = QueueClient.from_connection_string(
                    connection_string, poison, **options
                )
            else:
                self._client = QueueClient(account_url, queue_name, credential, **options)
                self._poison = QueueClient(account_url, poison, credential, **options)
        except (ValueError, TypeError) as err:
            source = "connection string" if connection_string is not None else "account URL"
            raise ValueError(
                f"event queue {queue_name!r}: the {source} is not usable: {self._scrub(str(err))}"
            ) from None
        self.endpoint = _without_query(self._client.url)

    def receive(self, max_messages: int = 32, batches: int = 10) -> ReceivedBatch:
        """Up to `batches` Get Messages calls of `max_messages` (1-32) each.

        Stops early when a call returns fewer than asked (the queue is drained for now) or
        hands back a message already seen in this call (its visibility timeout ran out while
        we were still receiving; the newest pop receipt replaces the old one). Unreadable
        messages and those received more than `max_dequeue` times are moved to the poison
        queue before this returns. If the queue fails midway, EventQueueUnavailable is raised
        and what was received is not lost: undeleted, it comes back after visibility_timeout.
        """
        if not 1 <= max_messages <= MAX_MESSAGES_PER_CALL:
            raise ValueError(f"max_messages must be 1..{MAX_MESSAGES_PER_CALL}")
        if batches < 1:
            raise ValueError("batches must be at least 1")
        self._check_open()
        taken: dict[str, tuple[Receipt, list[ResourceEvent]]] = {}
        poisoned: list[tuple[str, str]] = []
        for _ in range(batches):
            page = self._receive_page(max_messages)
            repeated = False
            for message in page:
                repeated = repeated or message.id in taken
                taken.pop(message.id, None)  # a redelivery's pop receipt supersedes
                reason, events = self._read(message)
                if reason is not None:
                    self._move_to_poison(message)
                    poisoned.append((message.id, reason))
                else:
                    taken[message.id] = (Receipt(message.id, message.pop_receipt or ""), events)
            if len(page) < max_messages or repeated:
                break
        batch = ReceivedBatch(poisoned=poisoned)
        for receipt, events in taken.values():
            if events:
                batch.events.extend((receipt, event) for event in events)
            else:
                batch.ignored.append(receipt)
        return batch

    def message_count(self) -> int:
        """The queue's approximate message count (Get Queue Properties): proves the queue
        exists and answers without receiving, so hiding, any message."""
        self._check_open()
        try:
            properties = self._client.get_queue_properties(timeout=self._server_timeout)
        except AzureError as err:
            raise self._unavailable(self.queue_name, "reading its properties", err) from None
        return int(properties.approximate_message_count or 0)

    def delete(self, receipts: Iterable[Receipt]) -> DeleteOutcome:
        """Delete received messages; a stale receipt is counted as expired, not raised.

        Stale means the message is gone (deleted already, or expired) or was received again
        after its visibility timeout (a new pop receipt): either way it is not ours to delete
        any more, and the redelivery will be handled on its own.
        """
        self._check_open()
        deleted, expired = 0, []
        for receipt in dict.fromkeys(receipts):
            try:
                self._client.delete_message(
                    receipt.message_id, receipt.pop_receipt, timeout=self._server_timeout
                )
            except AzureError as err:
                if _code(err) in _STALE_RECEIPT:
                    expired.append(receipt.message_id)
                    continue
                raise self._unavailable(
                    self.queue_name, f"deleting message {receipt.message_id}", err
                ) from None
            deleted += 1
        return DeleteOutcome(deleted=deleted, expired=len(expired), expired_ids=tuple(expired))

    def close(self) -> None:
        """Close both SDK clients (their HTTP connection pools); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for client in (self._client, self._poison):
            # closing a pool must not mask the error the caller may be raising
            with contextlib.suppress(Exception):
                client.close()

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventQueue({self.queue_name!r} at {self.endpoint!r})"

    # --- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"event queue {self.queue_name!r} is closed")

    def _receive_page(self, count: int) -> list[QueueMessage]:
        """One Get Messages call (the SDK pager would call again for the remainder)."""
        pager = self._client.receive_messages(
            messages_per_page=count,
            max_messages=count,
            visibility_timeout=self.visibility_timeout,
            timeout=self._server_timeout,
        )
        try:
            return list(next(pager.by_page()))
        except StopIteration:
            return []
        except AzureError as err:
            raise self._unavailable(self.queue_name, "receiving messages", err) from None

    def _read(self, message: QueueMessage) -> tuple[str | None, list[ResourceEvent]]:
        """(why the message is poison, or None; its resource events)."""
        count = message.dequeue_count or 0
        if count > self.max_dequeue:
            return f"received {count} times (max_dequeue={self.max_dequeue})", []
        try:
            found = [resource_event(event) for event in decode(message.content)]
        except EventDecodeError as err:
            return str(err), []
        return None, [event for event in found if event is not None]

    def _move_to_poison(self, message: QueueMessage) -> None:
        """Copy the original content to the poison queue, then delete the original.

        In that order so a failure in between duplicates a message instead of losing it.
        The poison queue is created on first need (sending first spares a create call, and a
        permission to create queues, when it exists).
        """
        content = message.content if isinstance(message.content, str) else ""
        try:
            try:
                self._poison.send_message(content, timeout=self._server_timeout)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):  # another reader made it
                    self._poison.create_queue(timeout=self._server_timeout)
                self._poison.send_message(content, timeout=self._server_timeout)
        except AzureError as err:
            raise self._unavailable(
                self.poison_queue_name, f"moving message {message.id} to the poison queue", err
            ) from None
        try:
            self._client.delete_message(
                message.id, message.pop_receipt, timeout=self._server_timeout
            )
        except AzureError as err:
            if _code(err) not in _STALE_RECEIPT:  # stale: someone else has it; copy is kept
                raise self._unavailable(
                    self.queue_name, f"deleting poisoned message {message.id}", err
                ) from None

    def _unavailable(self, queue: str, doing: str, err: AzureError) -> EventQueueUnavailable:
        status = getattr(err, "status_code", None)
        code = _code(err)
        reason = _reason(err)
        if status is not None:
            reason = f"HTTP {status}{f' {code}' if code else ''}: {reason}"
        text = f"event queue {queue!r} at {self.endpoint}: {doing} failed: {reason}"
        return EventQueueUnavailable(self._scrub(text), queue_name=queue, status=status, code=code)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`redact` plus what storage errors can echo: account keys, SAS signatures."""
    text = redact(text, secrets)
    return _SECRET_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def _connection_secrets(connection_string: str | None) -> list[str]:
    """The secret values of a connection string (key, SAS), to scrub them exactly."""
    if not connection_string:
        return []
    secrets = [connection_string]
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in {"accountkey", "sharedaccesssignature"} and value.strip():
            secrets.append(value.strip())
    return secrets


def _without_query(url: str) -> str:
    """The URL without its query (a SAS connection string puts the signature there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _code(err: Exception) -> str | None:
    code = getattr(err, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))


def _reason(err: Exception) -> str:
    """The first line of the SDK's message (the rest is request ids and the XML body)."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    first = " ".join(str(message).strip().splitlines()[0].split()) if message else ""
    first = first or type(err).__name__
    return first if len(first) <= _REASON_LIMIT else first[: _REASON_LIMIT - 3] + "..."


def _subscription(resource_id: str) -> str | None:
    parts = resource_id.split("/")
    if len(parts) >= 3 and parts[0] == "" and parts[1].lower() == "subscriptions" and parts[2]:
        return parts[2].lower()
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object given as an object or as JSON text (the activity log's claims are)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _changed_by(claims: dict[str, Any]) -> str | None:
    lowered = {str(k).lower(): v for k, v in claims.items()}
    for key in _USER_CLAIMS:
        value = _text(lowered.get(key))
        if value:
            return value
    return _text(lowered.get("appid")) or _text(lowered.get("azp"))


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as a timezone-aware datetime (Azure sends 7 fractional digits)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    match = _FRACTION.match(text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
