"""Entra through azure-identity, and ARM's answer to missing, unknown or expired tokens."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient

from azure_port_pipeline_tests.azure_fixtures import (
    ARM_SCOPE,
    CLIENT_ID,
    CLIENT_SECRET,
    credential_for,
    sdk_kwargs,
)


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_client_secret_credential_gets_a_token(azure_emulator_clean):
    emu = azure_emulator_clean
    token = credential_for(emu).get_token(ARM_SCOPE)
    claims = _claims(token.token)
    assert claims["aud"] == "https://management.azure.com"
    assert claims["tid"] == emu.tenant_id and claims["appid"] == CLIENT_ID
    assert token.expires_on == claims["exp"]
    assert emu.counters["GET /{tenant}/v2.0/.well-known/openid-configuration"] == 1
    assert emu.counters["POST /{tenant}/oauth2/v2.0/token"] == 1


def test_wrong_secret_is_entra_invalid_client(azure_emulator_clean):
    emu = azure_emulator_clean
    with pytest.raises(ClientAuthenticationError) as caught:
        credential_for(emu, secret="not-the-secret").get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    raw = requests.post(
        f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token",
        verify=emu.ca_file,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": "nope",
            "scope": ARM_SCOPE,
        },
        timeout=10,
    )
    assert raw.status_code == 400
    body = raw.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]


def test_unknown_client_and_unknown_tenant(azure_emulator_clean):
    emu = azure_emulator_clean
    stranger = ClientSecretCredential(
        emu.tenant_id,
        "11111111-2222-3333-4444-555555555555",
        CLIENT_SECRET,
        authority=emu.base_url,
        disable_instance_discovery=True,
        connection_verify=emu.ca_file,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        stranger.get_token(ARM_SCOPE)
    elsewhere = ClientSecretCredential(
        "99999999-9999-4999-8999-999999999999",
        CLIENT_ID,
        CLIENT_SECRET,
        authority=emu.base_url,
        disable_instance_discovery=True,
        connection_verify=emu.ca_file,
    )
    # MSAL's own wording when OIDC discovery answers 400, as against login.microsoftonline.com
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        elsewhere.get_token(ARM_SCOPE)
    raw = requests.get(
        f"{emu.base_url}/99999999-9999-4999-8999-999999999999/v2.0/"
        ".well-known/openid-configuration",
        verify=emu.ca_file,
        timeout=10,
    )
    assert raw.status_code == 400 and raw.json()["error"] == "invalid_tenant"
    assert raw.json()["error_description"].startswith("AADSTS90002")


def test_scope_without_default_is_rejected(azure_emulator_clean):
    emu = azure_emulator_clean
    raw = requests.post(
        f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token",
        verify=emu.ca_file,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "https://management.azure.com/user_impersonation",
        },
        timeout=10,
    )
    assert raw.status_code == 400 and raw.json()["error"] == "invalid_scope"


def test_arm_rejects_missing_unknown_and_wrong_audience_tokens(azure_emulator_clean):
    emu = azure_emulator_clean
    url = f"{emu.base_url}/subscriptions?api-version=2022-12-01"
    missing = requests.get(url, verify=emu.ca_file, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    forged = requests.get(
        url,
        verify=emu.ca_file,
        timeout=10,
        headers={"Authorization": "Bearer eyJhbGciOi.forged.token"},
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    storage = credential_for(emu).get_token("https://storage.azure.com/.default").token
    wrong = requests.get(
        url, verify=emu.ca_file, timeout=10, headers={"Authorization": f"Bearer {storage}"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_expired_tokens_are_refused_and_the_sdk_surfaces_401(azure_emulator_factory):
    emu = azure_emulator_factory()
    client = SubscriptionClient(credential_for(emu), **sdk_kwargs(emu))
    assert len(list(client.subscriptions.list())) == 3
    emu.expire_tokens()
    with pytest.raises(ClientAuthenticationError) as caught:
        list(client.subscriptions.list())
    assert caught.value.status_code == 401
    assert caught.value.error.code == "ExpiredAuthenticationToken"


def test_token_lifetime_is_configurable(azure_emulator_factory):
    emu = azure_emulator_factory(token_lifetime=600)
    raw = requests.post(
        f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token",
        verify=emu.ca_file,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": ARM_SCOPE,
        },
        timeout=10,
    )
    body = raw.json()
    assert raw.status_code == 200 and body["token_type"] == "Bearer"
    assert body["expires_in"] == 600


def test_instance_discovery_document(azure_emulator_clean):
    emu = azure_emulator_clean
    raw = requests.get(
        f"{emu.base_url}/common/discovery/instance",
        verify=emu.ca_file,
        params={"api-version": "1.1"},
        timeout=10,
    )
    assert raw.status_code == 200
    assert raw.json()["tenant_discovery_endpoint"].startswith(emu.base_url)
