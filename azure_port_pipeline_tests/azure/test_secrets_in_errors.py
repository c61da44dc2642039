"""An ARM error that echoes the request's Authorization header never carries the token on.

The emulator's `echo_authorization` fault answers like a service that quotes the headers it
received; the reader must hand on Azure's error (code and message) with the bearer token,
or anything JWT-shaped, replaced by ***: in listings' errors, raised exceptions, their
tracebacks and every log record emitted meanwhile.
"""

from __future__ import annotations

import logging
import traceback

import pytest
import requests

from azure_port_pipeline.azure import ArmRequestError, AzureRequestError
from azure_port_pipeline.azure.credentials import scrub
from azure_port_pipeline.redaction import redact

STORAGE = "Microsoft.Storage/storageAccounts"


def _everything(*texts: str) -> str:
    return "\n".join(texts)


def test_the_fault_really_echoes_the_token(azure_emulator_clean, make_reader):
    """The fault itself: the raw answer over HTTPS quotes the token (what the fix scrubs)."""
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    reader.verify_credentials()
    token = emulator.issued_tokens()[-1]  # the reader's (the emulator is shared by the module)
    emulator.faults.echo_authorization(times=1, route="*storageAccounts*")

    answer = requests.get(
        f"{emulator.base_url}/subscriptions/{sub}/providers/{STORAGE}?api-version=2023-01-01",
        headers={"Authorization": f"Bearer {token}"},
        verify=emulator.ca_file,
        timeout=10,
    )

    assert answer.status_code == 400
    assert f"Bearer {token}" in answer.json()["error"]["message"]


def test_a_listing_error_echoing_the_authorization_header_shows_no_token(
    azure_emulator_clean, make_reader, caplog
):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    emulator.faults.echo_authorization(times=None, route="*storageAccounts*")

    with caplog.at_level(logging.DEBUG):
        listing = reader.list_kind(sub, STORAGE, "2023-01-01")

    tokens = emulator.issued_tokens()
    assert tokens, "the reader authenticated with a token the emulator issued"
    assert not listing.complete
    assert "InvalidRequestHeaders" in listing.error and "Bearer ***" in listing.error
    seen = _everything(listing.error, repr(listing), caplog.text)
    for token in tokens:
        assert token not in seen
        assert token.split(".")[2] not in seen  # not even the signature alone


def test_an_exception_echoing_the_authorization_header_shows_no_token(
    azure_emulator_clean, make_reader, caplog
):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    resource = next(emulator.estate.resources(sub, STORAGE))
    emulator.faults.echo_authorization(times=None, status=409, route="*storageAccounts*")

    with caplog.at_level(logging.DEBUG), pytest.raises(ArmRequestError) as raised:
        reader.get_by_id(resource["id"], "2023-01-01")

    error = raised.value
    shown = _everything(
        str(error),
        repr(error),
        error.message,
        "".join(traceback.format_exception(error)),
        caplog.text,
    )
    assert "HTTP 409 InvalidRequestHeaders" in str(error) and "Bearer ***" in str(error)
    for token in emulator.issued_tokens():
        assert token not in shown


def test_sdk_errors_echoing_the_token_are_scrubbed_too(azure_emulator_clean, make_reader, caplog):
    """The subscriptions client (SDK models, HttpResponseError with the body in its text)."""
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]
    emulator.faults.echo_authorization(times=None, route="GET /subscriptions*")

    with caplog.at_level(logging.DEBUG):
        listing = reader.list_subscriptions()
        kind = reader.list_kind(sub, "subscription", None)
        with pytest.raises(AzureRequestError) as raised:
            reader.get_subscription(sub)

    assert not listing.complete and not kind.complete
    shown = _everything(
        listing.error,
        kind.error,
        str(raised.value),
        "".join(traceback.format_exception(raised.value)),
        caplog.text,
    )
    assert "InvalidRequestHeaders" in shown
    for token in emulator.issued_tokens():
        assert token not in shown


def test_redact_removes_bearer_tokens_jwts_token_fields_and_known_secrets():
    jwt = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLWJ5dGVz"
    opaque = "A" * 20 + "." + "b" * 20 + "." + "C" * 20
    text = (
        f"Authorization: Bearer {jwt}; raw {jwt}; other {opaque}; bearer%20abc.def-ghi "
        '{"access_token": "tok123", "refresh_token":"r-456"} client_secret=s3cr3t&x=1 '
        "and the secret my-secret-value"
    )

    cleaned = redact(text, ["my-secret-value", None, ""])

    for leaked in (jwt, opaque, "abc.def-ghi", "tok123", "r-456", "s3cr3t", "my-secret-value"):
        assert leaked not in cleaned
    assert "Bearer ***" in cleaned and "bearer%20***" in cleaned
    assert '"access_token": "***"' in cleaned and "client_secret=***&x=1" in cleaned
    # ordinary text stays readable: ARM ids, hosts, api-versions, dotted names
    ordinary = (
        "GET /subscriptions/0b1f/resourceGroups/rg_legacy.app(old)/providers/"
        "Microsoft.Storage/storageAccounts?api-version=2023-01-01 at management.azure.com "
        "from azure_port_pipeline.azure.reader; the bearer token was refused"
    )
    assert redact(ordinary) == ordinary


def test_scrub_uses_the_configured_client_secret():
    from azure_port_pipeline.azure import AzureSettings

    settings = AzureSettings.from_env(
        {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "hunter2-xyz"}
    )
    assert scrub("Entra said hunter2-xyz was wrong", settings) == "Entra said *** was wrong"
