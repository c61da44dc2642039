"""Shared helpers for the Port emulator tests: a started emulator and an authed session.

Tests talk to the emulator with plain `requests` over real HTTP, never with our Port client
(which is tested against this emulator, not the other way round).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import requests

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.paths import USER_BLUEPRINTS

BLUEPRINTS_FILE = USER_BLUEPRINTS
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"  # a fake credential for the local emulator only
UA = "azure-port-pipeline/test (installation=t; scope=sub:kind)"

SUB = "azureSubscription"
RG = "azureResourceGroup"
RES = "azureCloudResource"


def default_blueprints() -> list[dict[str, Any]]:
    return json.loads(BLUEPRINTS_FILE.read_text())


class PortSession:
    """`requests.Session` bound to one emulator, authenticated, with a User-Agent."""

    def __init__(self, emu: PortEmulator, user_agent: str = UA, *, auth: bool = True) -> None:
        self.emu = emu
        self.http = requests.Session()
        self.http.headers["User-Agent"] = user_agent
        if auth:
            self.authenticate()

    def authenticate(self) -> str:
        response = self.http.post(
            self.url("/v1/auth/access_token"),
            json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
        )
        assert response.status_code == 200, response.text
        token = response.json()["accessToken"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        return token

    def url(self, path: str) -> str:
        return f"{self.emu.base_url}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url(path), timeout=10, **kwargs)

    def bulk(
        self, blueprint: str, entities: list[dict[str, Any]], **params: Any
    ) -> requests.Response:
        query = {"upsert": "true", **{k: str(v).lower() for k, v in params.items()}}
        return self.request(
            "POST",
            f"/v1/blueprints/{blueprint}/entities/bulk",
            params=query,
            json={"entities": entities},
        )

    def upsert(self, blueprint: str, entity: dict[str, Any], **params: Any) -> requests.Response:
        query = {"upsert": "true", **{k: str(v).lower() for k, v in params.items()}}
        return self.request(
            "POST", f"/v1/blueprints/{blueprint}/entities", params=query, json=entity
        )

    def get_entity(self, blueprint: str, identifier: str) -> requests.Response:
        return self.request("GET", f"/v1/blueprints/{blueprint}/entities/{enc(identifier)}")

    def delete_entity(self, blueprint: str, identifier: str, **params: Any) -> requests.Response:
        query = {k: str(v).lower() for k, v in params.items()}
        return self.request(
            "DELETE", f"/v1/blueprints/{blueprint}/entities/{enc(identifier)}", params=query
        )

    def search(self, blueprint: str, body: dict[str, Any]) -> requests.Response:
        return self.request("POST", f"/v1/blueprints/{blueprint}/entities/search", json=body)


def enc(identifier: str) -> str:
    """Percent-encode an identifier for a path segment, as Ocean does."""
    return quote(identifier, safe="")


@contextmanager
def running_port(*, blueprints: bool = True, **kwargs: Any) -> Iterator[PortEmulator]:
    emu = PortEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **kwargs)
    if blueprints:
        emu.add_blueprints(default_blueprints())
    with emu:
        yield emu


def sub_id(n: int) -> str:
    return f"/subscriptions/00000000-0000-0000-0000-{n:012d}"


def rg_id(sub: int, name: str) -> str:
    return f"{sub_id(sub)}/resourceGroups/{name}"


def rg_entity(sub: int, name: str, **properties: Any) -> dict[str, Any]:
    return {
        "identifier": rg_id(sub, name),
        "title": name,
        "properties": {"location": "westeurope", **properties},
        "relations": {"subscription": sub_id(sub)},
    }
