"""The errors the Azure reader raises.

Each names what went wrong and what to fix, so an operator does not have to dig through
stack traces. None of them ever carries a secret: messages are built by this package from
the service's error code and description, and the client secret is scrubbed out of them.
"""

from __future__ import annotations


class AzureError(Exception):
    """Base class for everything the Azure reader raises on purpose."""


class AzureConfigError(AzureError, ValueError):
    """A setting is missing or malformed (checked before any request is sent)."""


class AzureAuthError(AzureError):
    """Entra ID refused the credential, or ARM refused the token.

    Raised instead of returning an empty result: an empty subscription list after a failed
    login would otherwise look like a successful sync of nothing (and delete everything).
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AzureListingError(AzureError):
    """A listing can never succeed as configured (e.g. an api-version Azure does not support).

    Distinct from a partial listing (which returns ``complete=False``): this is a mapping
    misconfiguration that retrying will not fix.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        subscription_id: str | None = None,
        api_version: str | None = None,
        code: str | None = None,
        supported_api_versions: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.subscription_id = subscription_id
        self.api_version = api_version
        self.code = code
        self.supported_api_versions = supported_api_versions or []


class AzureQueryError(AzureError):
    """Resource Graph rejected a query (400 BadRequest, e.g. unsupported KQL)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AzureRequestError(AzureError):
    """An Azure request failed for good (after retries, or past AZURE_DEADLINE_SECONDS).

    Raised where a caller asked for one thing (a subscription, a change window) and there is
    no partial result to return; the message names the operation and Azure's answer, with
    credentials redacted.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
