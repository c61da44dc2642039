"""Wrong or missing credentials fail loudly, name the problem, and never show the secret."""

from __future__ import annotations

import pytest

from azure_port_pipeline.azure import AzureAuthError, AzureConfigError

WRONG_SECRET = "this-is-the-wrong-secret-value"


def test_wrong_secret_is_a_clear_auth_error_not_zero_subscriptions(
    azure_emulator_clean, make_reader
):
    reader = make_reader(azure_emulator_clean, AZURE_CLIENT_SECRET=WRONG_SECRET)

    with pytest.raises(AzureAuthError) as caught:
        reader.list_subscriptions()

    message = str(caught.value)
    assert caught.value.code == "AADSTS7000215"
    assert "Invalid client secret" in message
    assert "AZURE_CLIENT_SECRET" in message  # says what to fix
    assert WRONG_SECRET not in message and WRONG_SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None  # no chained SDK error carrying the token request


def test_every_entry_point_raises_the_auth_error(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator, AZURE_CLIENT_SECRET=WRONG_SECRET)
    sub = emulator.estate.subscription_ids[0]
    with pytest.raises(AzureAuthError):
        reader.verify_credentials()
    with pytest.raises(AzureAuthError):
        reader.list_kind(sub, "Microsoft.Storage/storageAccounts", "2023-01-01")
    with pytest.raises(AzureAuthError):
        reader.list_kind(sub, "subscription", None)


def test_unknown_client_names_the_entra_code(azure_emulator_clean, make_reader):
    reader = make_reader(azure_emulator_clean, AZURE_CLIENT_ID="not-a-registered-client")
    with pytest.raises(AzureAuthError) as caught:
        reader.verify_credentials()
    assert caught.value.code == "AADSTS700016"
    assert "not-a-registered-client" in str(caught.value)


def test_secret_without_tenant_fails_before_any_request(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator, AZURE_TENANT_ID="")
    with pytest.raises(AzureConfigError, match="AZURE_TENANT_ID"):
        reader.list_subscriptions()
    assert sum(emulator.counters.values()) == 0


def test_valid_credentials_verify(azure_emulator_clean, make_reader):
    make_reader(azure_emulator_clean).verify_credentials()
