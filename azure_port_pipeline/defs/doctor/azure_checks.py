"""Checks 3, 4 and 9: an Entra token, the subscriptions it sees, the events queue.

Through the pipeline's own credential factory and reader, with the timeouts and retries cut
to the doctor's deadline: a host that does not answer fails the check, not the command.
"""

from __future__ import annotations

import re
import time
from typing import Any

from azure.core.exceptions import AzureError as SdkError
from azure.core.exceptions import ClientAuthenticationError

from azure_port_pipeline.azure import AzureAuthError, AzureError, AzureReader, AzureSettings
from azure_port_pipeline.azure.credentials import auth_error, build_credential, scrub
from azure_port_pipeline.azure.events import EventQueue, EventQueueUnavailable
from azure_port_pipeline.azure.queue_settings import EventQueueSettings, QueueSettingsError
from azure_port_pipeline.defs.doctor.findings import Findings, Limits
from azure_port_pipeline.defs.doctor.results import Verdict, fail, not_configured, ok, skipped

_ENTRA_SENTENCE = re.compile(r"AADSTS\d+:[^.]*\.?")
_CODE_HINTS = {
    "AADSTS7000215": "check AZURE_CLIENT_SECRET (the secret's value, not its ID)",
    "AADSTS7000222": "the client secret has expired: create a new one, set AZURE_CLIENT_SECRET",
    "AADSTS700016": "check AZURE_CLIENT_ID: no such application in tenant AZURE_TENANT_ID",
    "AADSTS90002": "check AZURE_TENANT_ID: Entra knows no such tenant",
    "AADSTS900023": "check AZURE_TENANT_ID: not a tenant id or domain",
}
_NETWORK_HINT = "check AZURE_AUTHORITY_HOST / AZURE_CLOUD, the network and AZURE_CA_BUNDLE"
_READER_ROLE = (
    "give the service principal the Reader role on the subscriptions (az role assignment "
    "create --role Reader --assignee $AZURE_CLIENT_ID --scope /subscriptions/<id>)"
)


def bounded(settings: AzureSettings, limits: Limits) -> AzureSettings:
    """The same settings with timeouts, deadline and retries no longer than the check's."""
    return settings.model_copy(
        update={
            "timeout": min(settings.timeout, limits.request_timeout),
            "deadline_seconds": min(settings.deadline_seconds, limits.seconds),
            "retry_total": min(settings.retry_total, limits.retries),
            "retry_backoff_factor": min(settings.retry_backoff_factor, 0.5),
            "retry_backoff_max": min(settings.retry_backoff_max, 2),
        }
    )


def check_azure_credentials(found: Findings) -> Verdict:
    """A token for ARM's scope from the pipeline's own credential (build_credential)."""
    if found.azure is None:
        return skipped("valid AZURE_* settings")
    settings = bounded(found.azure, found.limits)
    credential = build_credential(settings)
    closer = getattr(credential, "close", None)
    if callable(closer):
        found.cleanup.callback(closer)
    try:
        token = credential.get_token(settings.credential_scope)
    except ClientAuthenticationError as err:
        error = auth_error(err, settings)
        return fail(_entra_detail(err, error, settings), _credential_hint(error, settings))
    except SdkError as err:
        return fail(scrub(f"no token: {_text(err)}", settings), _NETWORK_HINT)
    found.azure_credential = credential
    who = (
        "DefaultAzureCredential"
        if settings.uses_default_credential
        else f"service principal {settings.client_id}"
    )
    minutes = max(0, int((token.expires_on - time.time()) // 60))
    return ok(
        f"token for tenant {settings.tenant_id or '(default)'} from "
        f"{settings.resolved_authority_host} ({who}; valid {minutes} min)"
    )


def check_subscriptions(found: Findings) -> Verdict:
    """The pipeline's own listing: what discovery would find, include/exclude applied."""
    if found.azure is None or found.azure_credential is None:
        return skipped("azure credentials")
    settings = bounded(found.azure, found.limits)
    try:
        with AzureReader(settings, credential=found.azure_credential) as reader:
            listing = reader.list_subscriptions()
    except AzureAuthError as error:
        return fail(str(error), _READER_ROLE)
    except (AzureError, SdkError) as error:
        return fail(
            scrub(f"listing subscriptions failed: {_text(error)}", settings),
            "check AZURE_ARM_ENDPOINT / AZURE_CLOUD and the network",
        )
    if not listing.complete:
        return fail(
            listing.error or "the listing stopped early",
            "run doctor again; if it persists, check AZURE_ARM_ENDPOINT and the network",
        )
    visible = len(listing.items) + len(listing.excluded)
    detail = f"{visible} visible, {len(listing.enabled)} enabled"
    if listing.excluded:
        detail += f" of the {len(listing.items)} AZURE_SUBSCRIPTIONS_INCLUDE / _EXCLUDE keep"
    if listing.missing_included:
        missing = ", ".join(listing.missing_included)
        return fail(
            f"{detail}; not visible though AZURE_SUBSCRIPTIONS_INCLUDE lists them: {missing}",
            f"fix AZURE_SUBSCRIPTIONS_INCLUDE, or {_READER_ROLE}",
        )
    if not listing.enabled:
        return fail(f"{detail}: nothing to sync", _READER_ROLE)
    return ok(detail)


def check_events_queue(found: Findings) -> Verdict:
    """Real-time sync's Storage Queue, when configured: a read of its properties (no message
    is received, so none is hidden from the sensor)."""
    try:
        settings = EventQueueSettings.from_env(found.environ)
    except QueueSettingsError as error:
        return fail(
            str(error), "fix the variable named, or unset every AZURE_EVENTS_QUEUE_* variable"
        )
    if not settings.configured:
        return not_configured(
            "not configured: real-time sync is off (set AZURE_EVENTS_QUEUE_NAME and "
            "AZURE_EVENTS_QUEUE_CONNECTION_STRING or AZURE_EVENTS_QUEUE_ACCOUNT_URL)"
        )
    assert settings.name is not None
    try:
        queue = _queue(settings, found)
    except ValueError as error:
        return fail(str(error), "check AZURE_EVENTS_QUEUE_CONNECTION_STRING")
    with queue:
        try:
            waiting = queue.message_count()
        except EventQueueUnavailable as error:
            return fail(str(error), _queue_hint(error, settings.name))
    return ok(f"queue {settings.name} at {queue.endpoint}: {waiting} messages waiting")


def _queue(settings: EventQueueSettings, found: Findings) -> EventQueue:
    """As `EventQueueResource.queue()` builds it, with the doctor's timeout and retries; a
    credential it makes is closed with the doctor's other clients."""
    assert settings.name is not None
    limits = found.limits
    secret = settings.connection_string
    credential: Any = None
    if secret is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        found.cleanup.callback(credential.close)
    return EventQueue(
        queue_name=settings.name,
        connection_string=secret.get_secret_value() if secret else None,
        account_url=settings.account_url,
        credential=credential,
        timeout=limits.request_timeout,
        retry_total=1,
        retry_backoff=0.5,
    )


def _queue_hint(error: EventQueueUnavailable, name: str) -> str:
    if error.status == 404:
        return (
            f"create the queue {name!r} (deploy/ has the Event Grid templates), or fix "
            "AZURE_EVENTS_QUEUE_NAME"
        )
    if error.status in (401, 403):
        return (
            "check the key in AZURE_EVENTS_QUEUE_CONNECTION_STRING, or grant the identity "
            "Storage Queue Data Message Processor on the queue"
        )
    return (
        "check AZURE_EVENTS_QUEUE_CONNECTION_STRING / AZURE_EVENTS_QUEUE_ACCOUNT_URL and "
        "the network"
    )


def _entra_detail(err: Exception, error: AzureAuthError, settings: AzureSettings) -> str:
    """Entra's code and first sentence (its full text goes on with trace ids)."""
    reason = _text(err)
    sentence = _ENTRA_SENTENCE.search(reason)
    if sentence is not None:
        return scrub(f"{sentence.group(0)} (client {settings.client_id})", settings)
    code = f"{error.code}: " if error.code else ""
    return scrub(f"{code}{reason}", settings)


def _credential_hint(error: AzureAuthError, settings: AzureSettings) -> str:
    if error.code in _CODE_HINTS:
        return _CODE_HINTS[error.code]
    if "AZURE_AUTHORITY_HOST" in str(error):  # auth_error's word for "Entra unreachable"
        return _NETWORK_HINT
    if settings.uses_default_credential:
        return (
            "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or give this host a "
            "managed identity (DefaultAzureCredential found none that works)"
        )
    return "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"


def _text(err: Exception) -> str:
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return " ".join(str(message).split())
