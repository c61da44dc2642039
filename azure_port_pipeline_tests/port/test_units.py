"""The pure parts of the Port client: settings, batching, blueprint split, rate limiter."""

from __future__ import annotations

import json

import pytest

from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import PortApiError, PortConfigError, PortSettings, batching
from azure_port_pipeline.port.blueprints import bare, relations_patch
from azure_port_pipeline.port.ratelimit import RateLimiter, reset_seconds, retry_after_seconds


def test_settings_from_env_and_secret_never_shown() -> None:
    env = {
        "PORT_BASE_URL": "http://127.0.0.1:1/",
        "PORT_CLIENT_ID": "cid",
        "PORT_CLIENT_SECRET": "s3cr3t-value",
        "PORT_INSTALLATION_ID": "prod",
        "PORT_REQUESTS_PER_SECOND": "50",
        "PORT_MAX_CONCURRENCY": "8",
    }
    settings = PortSettings.from_env(env)
    assert settings.api_url == "http://127.0.0.1:1"
    assert (settings.installation_id, settings.requests_per_second) == ("prod", 50.0)
    assert settings.max_concurrency == 8
    assert settings.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)
    assert PortSettings.from_env({"PORT_CLIENT_ID": "a", "PORT_CLIENT_SECRET": "b"}).base_url == (
        "https://api.port.io"
    )
    with pytest.raises(PortConfigError):
        PortSettings.from_env({"PORT_CLIENT_ID": "a"})


def test_error_names_route_status_code_and_message() -> None:
    error = PortApiError("POST /v1/blueprints/x/entities/bulk", 422, "invalid_request", "bad")
    assert str(error) == "Port POST /v1/blueprints/x/entities/bulk failed: 422 invalid_request: bad"


def _items(sizes: list[int]) -> list[batching.Item]:
    return [
        batching.encode(n, Entity("bp", f"e{n}", properties={"pad": "x" * size}))
        for n, size in enumerate(sizes)
    ]


def test_batches_respect_count_and_byte_limits_and_keep_order() -> None:
    by_count = list(batching.batches(_items([10] * 45)))
    assert [len(batch) for batch in by_count] == [20, 20, 5]
    big = _items([300_000] * 7)
    by_size = list(batching.batches(big))
    assert all(len(batching.bulk_body(batch)) <= batching.MAX_BODY_BYTES for batch in by_size)
    assert [len(batch) for batch in by_size] == [3, 3, 1]
    assert [item.position for batch in by_size for item in batch] == list(range(7))
    body = json.loads(batching.bulk_body(by_size[0]))
    assert len(batching.bulk_body(by_size[0])) == batching.body_size(by_size[0])
    assert "blueprint" not in body["entities"][0]
    assert not batching.fits_alone(_items([batching.MAX_BODY_BYTES])[0])


def test_blueprints_are_created_bare_and_relations_patched_in() -> None:
    blueprint = {
        "identifier": "rg",
        "title": "RG",
        "schema": {"properties": {}},
        "relations": {"subscription": {"target": "sub", "many": False, "required": False}},
        "mirrorProperties": {},
    }
    assert bare(blueprint)["relations"] == {} and "mirrorProperties" not in bare(blueprint)
    assert relations_patch(blueprint) == {"relations": blueprint["relations"]}
    assert relations_patch({**blueprint, "relations": {}}) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_spaces_requests_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(1000.3)


def test_limiter_pauses_everyone_and_paces_when_port_says_little_is_left() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    limiter.pause(2.0)
    assert limiter.acquire() == pytest.approx(2.0)
    headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "4", "x-ratelimit-reset": "8"}
    limiter.observe(headers)
    waits = [limiter.acquire() for _ in range(3)]
    assert waits[1] == pytest.approx(2.0) and waits[2] == pytest.approx(2.0)  # 8 s / 4 left
    limiter.observe({**headers, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"})
    assert limiter.acquire() == pytest.approx(5.0, abs=2.0)


def test_reset_header_accepts_seconds_and_epochs() -> None:
    import time

    assert reset_seconds("7") == 7.0
    assert reset_seconds(str(time.time() + 30)) == pytest.approx(30, abs=1)
    assert reset_seconds("garbage") is None
    assert retry_after_seconds({"retry-after": "3", "x-ratelimit-reset": "9"}) == 3.0
    assert retry_after_seconds({"x-ratelimit-reset": "9"}) == 9.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_settings_name_the_missing_or_invalid_variable_never_its_value() -> None:
    with pytest.raises(PortConfigError, match="PORT_CLIENT_SECRET") as missing:
        PortSettings.from_env({"PORT_CLIENT_ID": "someone"})
    assert "PORT_CLIENT_ID" not in str(missing.value)
    with pytest.raises(PortConfigError, match="PORT_MAX_CONCURRENCY") as invalid:
        PortSettings.from_env(
            {
                "PORT_CLIENT_ID": "a",
                "PORT_CLIENT_SECRET": "s3cr3t-value",
                "PORT_MAX_CONCURRENCY": "0",
            }
        )
    assert "s3cr3t-value" not in str(invalid.value)
