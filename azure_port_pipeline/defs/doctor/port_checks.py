"""Checks 5 and 6: a Port token, and the blueprints the mapping writes into.

Read-only: blueprints are listed, never created. Whether the pipeline could create the
missing ones is asked with a create Port must refuse (`PortClient.may_create_blueprints`).
"""

from __future__ import annotations

from azure_port_pipeline.defs.doctor.findings import Findings, Limits
from azure_port_pipeline.defs.doctor.results import Verdict, fail, ok, skipped, warn
from azure_port_pipeline.port import PortApiError, PortAuthError, PortClient, PortSettings

_CREDENTIALS_HINT = "check PORT_CLIENT_ID / PORT_CLIENT_SECRET (Port: ... > Credentials)"
_ASKED_TO_CHECK = " (check PORT_CLIENT_ID / PORT_CLIENT_SECRET)"


def bounded(settings: PortSettings, limits: Limits) -> PortSettings:
    """The same settings with timeouts, deadline and retries no longer than the check's."""
    return settings.model_copy(
        update={
            "timeout": min(settings.timeout, limits.request_timeout),
            "deadline_seconds": min(settings.deadline_seconds, limits.seconds),
            "retry_deadline": min(settings.retry_deadline, limits.seconds),
            "max_retries": min(settings.max_retries, limits.retries),
            "backoff_max": min(settings.backoff_max, 2.0),
            "max_retry_wait": min(settings.max_retry_wait, limits.seconds / 2),
        }
    )


def check_port_credentials(found: Findings) -> Verdict:
    """A token from `POST /v1/auth/access_token`, through the project's Port client."""
    if found.port is None:
        return skipped("valid PORT_* settings")
    settings = bounded(found.port, found.limits)
    client = PortClient(settings)
    found.cleanup.callback(client.close)
    try:
        client.verify_credentials()
    except PortAuthError as error:
        message = error.message.removesuffix(_ASKED_TO_CHECK)
        return fail(f"{error.status} {error.code or ''}: {message}", _CREDENTIALS_HINT)
    except PortApiError as error:
        if error.status is None:
            return fail(
                f"no answer from {settings.api_url}: {error.message}",
                "check PORT_BASE_URL (https://api.port.io, or https://api.us.port.io for the "
                "US region) and the network",
            )
        return fail(str(error), "check PORT_BASE_URL; if Port is down, run doctor again later")
    found.port_client = client
    return ok(f"token from {settings.api_url} (installation {settings.installation_id})")


def check_blueprints(found: Findings) -> Verdict:
    """The blueprints the pipeline creates (blueprints.json) and the ones the mapping names."""
    client = found.port_client
    if client is None:
        return skipped("port credentials")
    if found.blueprints is None or found.mapping is None:
        return skipped("the mapping")
    try:
        existing = client.blueprint_identifiers()
    except PortApiError as error:
        return fail(str(error), "check that the Port credentials may read blueprints")
    shipped = [blueprint["identifier"] for blueprint in found.blueprints]
    named = {name for entry in found.mapping.entries for name in entry.blueprints or ()}
    unknown = sorted(named - existing - set(shipped))
    missing = [identifier for identifier in shipped if identifier not in existing]
    if unknown:
        return fail(
            f"the mapping writes into {', '.join(unknown)}: neither in Port nor in "
            f"{found.blueprints_source}",
            "create them in Port, or add them to the blueprints file (AZURE_PORT_BLUEPRINTS_FILE)",
        )
    if not missing:
        return ok(f"all {len(shipped)} exist ({', '.join(shipped)})")
    try:
        may_create = client.may_create_blueprints()
    except PortApiError as error:
        return fail(
            f"missing {', '.join(missing)}; asking whether they may be created failed: {error}",
            f"run doctor again; if it persists, create them from {found.blueprints_source} in Port",
        )
    if may_create:
        return warn(
            f"missing {', '.join(missing)}, will be created by the first sync "
            "(the token may create blueprints)",
            "nothing to do (the port/blueprints step creates them; existing ones stay as they are)",
        )
    return fail(
        f"missing {', '.join(missing)}, and Port refuses this token blueprint writes (403)",
        "give the Port credentials a role that may create blueprints (Admin), or create "
        f"them in Port from {found.blueprints_source}",
    )
