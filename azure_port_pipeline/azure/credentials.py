"""Azure credentials from settings, and turning authentication failures into clear errors.

A service principal (tenant, client id, secret) gets a `ClientSecretCredential`; anything
else (managed identity, workload identity, developer logins) goes through
`DefaultAzureCredential`. Both trust `ca_bundle` and, for a non-Microsoft authority (the
emulator), skip MSAL's instance discovery, which would otherwise call
login.microsoftonline.com.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from azure_port_pipeline.redaction import redact

from .errors import AzureAuthError
from .policies import DEADLINE_SETTING, DeadlinePolicy, DeadlineRetryPolicy
from .settings import AzureSettings

_AADSTS = re.compile(r"\b(AADSTS\d+)\b")
_UNREACHABLE = re.compile(
    r"failed to establish|connection refused|name or service not known|certificate verify failed"
    r"|timed out|max retries exceeded",
    re.IGNORECASE,
)


def build_credential(settings: AzureSettings) -> TokenCredential:
    """The credential the reader's SDK clients authenticate with."""
    settings.check_credentials_configured()
    kwargs: dict[str, Any] = {"authority": settings.resolved_authority_host}
    if settings.ca_bundle:
        kwargs["connection_verify"] = settings.ca_bundle
    if not settings.is_microsoft_authority:
        kwargs["disable_instance_discovery"] = True
    if settings.uses_default_credential:
        if settings.client_id:
            kwargs["managed_identity_client_id"] = settings.client_id
        if settings.tenant_id:
            kwargs["additionally_allowed_tenants"] = [settings.tenant_id]
        return DefaultAzureCredential(**kwargs)
    assert settings.client_secret is not None  # checked by uses_default_credential
    # Entra calls under the same deadline as ARM's: a token requested during an ARM request
    # gets what is left of that request's deadline (see policies.py)
    connect = min(settings.timeout, 30.0)
    kwargs["retry_policy_class"] = functools.partial(
        DeadlineRetryPolicy, deadline_seconds=settings.deadline_seconds
    )
    kwargs["_per_retry_policies"] = [
        DeadlinePolicy(read_timeout=settings.timeout, connection_timeout=connect)
    ]
    kwargs["read_timeout"] = settings.timeout
    kwargs["connection_timeout"] = connect
    return ClientSecretCredential(
        tenant_id=settings.tenant_id or "",
        client_id=settings.client_id or "",
        client_secret=settings.client_secret.get_secret_value(),
        **kwargs,
    )


def auth_error(err: Exception, settings: AzureSettings) -> AzureAuthError:
    """An `AzureAuthError` naming who failed to sign in where, and Entra's reason.

    The secret is scrubbed from the text in case a service ever echoes it back.
    """
    reason = _reason(err)
    code_match = _AADSTS.search(reason)
    code = code_match.group(1) if code_match else _error_code(err)
    who = (
        "DefaultAzureCredential"
        if settings.uses_default_credential
        else f"service principal {settings.client_id!r} in tenant {settings.tenant_id!r}"
    )
    message = (
        f"Azure authentication failed for {who} at {settings.resolved_authority_host} "
        f"(scope {settings.credential_scope}): {reason}"
    )
    if DEADLINE_SETTING in reason:
        message += (
            f" Entra did not answer in time: check AZURE_AUTHORITY_HOST / AZURE_CLOUD and the "
            f"network, or raise {DEADLINE_SETTING}."
        )
    elif _UNREACHABLE.search(reason):
        message += " Check AZURE_AUTHORITY_HOST / AZURE_CLOUD, the network and AZURE_CA_BUNDLE."
    elif not settings.uses_default_credential:
        message += " Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET."
    return AzureAuthError(scrub(message, settings), code=code)


def scrub(text: str, settings: AzureSettings) -> str:
    """Remove the client secret, bearer tokens and anything JWT-shaped from a text."""
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    return redact(text, [secret])


def is_auth_failure(err: Exception) -> bool:
    """True for a failed token request, or ARM rejecting the token (401)."""
    if isinstance(err, ClientAuthenticationError):
        return True
    return isinstance(err, HttpResponseError) and err.status_code == 401


def _reason(err: Exception) -> str:
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return " ".join(str(message).split())


def _error_code(err: Exception) -> str | None:
    error = getattr(err, "error", None)
    return getattr(error, "code", None)
