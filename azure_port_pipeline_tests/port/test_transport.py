"""Retries and deadlines of every Port call, over real HTTP against the Port emulator.

A 429 storm costs time, not retries; a 401 re-authenticates without using a retry; a 5xx
never waits out Port's rate-limit window; a token refresh that meets dropped connections
does not stall every thread; and whatever Port does, one operation ends within its deadline
(`PORT_DEADLINE_SECONDS`) with a PortDeadlineError.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.port import (
    PortClient,
    PortConfigError,
    PortDeadlineError,
    PortSettings,
)
from azure_port_pipeline.port.transport import operation_deadline
from azure_port_pipeline_tests.port.conftest import (
    desired_view,
    fast_settings,
    resource_groups,
    stored_view,
)

BULK = "entities/bulk"
TOKEN = "auth/access_token"
AUTH = "POST /v1/auth/access_token"
SCOPE = "sub-1:Microsoft.Resources/resourceGroups"
RG = "azureResourceGroup"
SLACK = 0.5
"""Seconds past the deadline an operation may take to notice and raise: every wait and every
socket timeout is already cut to the time left, so this is scheduling, not waiting."""


def test_a_429_storm_with_a_token_expiry_costs_time_not_retries(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, max_retries=2)) as client:
        client.search_owned(RG, SCOPE)  # a token, before the storm
        emulator.faults.expire_token_next(1, route=BULK)  # the token dies mid-run ...
        emulator.faults.throttle_next(6, route=TOKEN, retry_after=None)  # ... in a storm
        emulator.faults.throttle_next(6, route=BULK, retry_after=None)  # ... of 429s
        entities = resource_groups(60)
        outcomes = client.bulk_upsert(entities, scope=SCOPE)
        assert all(o.ok for o in outcomes)
        assert stored_view(emulator, RG) == desired_view(entities)
        assert emulator.faults.pending() == 0
        assert emulator.counters[AUTH] == 1 + 6 + 1  # the first, the 429s, one refresh
        assert client.metrics.retries == 12  # each 429 waited and tried again


def test_a_401_refreshes_the_token_without_using_a_retry(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, max_retries=0)) as client:
        client.search_owned(RG, SCOPE)
        emulator.faults.expire_token_next(1, route=BULK)
        outcomes = client.bulk_upsert(resource_groups(3), scope=SCOPE)
        assert all(o.ok for o in outcomes)
        assert emulator.counters[AUTH] == 2 and client.metrics.retries == 0


def test_dropped_connections_at_a_token_refresh_cost_seconds_not_minutes(
    emulator: PortEmulator,
) -> None:
    """The default backoff (0.5 s doubling up to 30 s): eight drops in a row used to hit the
    token request that every thread waited for, and cost a minute of backoff."""
    defaults = PortSettings(client_id="x", client_secret="y")
    settings = fast_settings(
        emulator,
        backoff_base=defaults.backoff_base,
        backoff_max=defaults.backoff_max,
        max_retry_wait=defaults.max_retry_wait,
    )
    with PortClient(settings) as client:
        client.search_owned(RG, SCOPE)
        emulator.expire_tokens()
        emulator.faults.drop_next(8, route=TOKEN)
        started = time.monotonic()
        entities = resource_groups(200)
        outcomes = client.bulk_upsert(entities, scope=SCOPE)
        elapsed = time.monotonic() - started
        assert all(o.ok for o in outcomes)
        assert stored_view(emulator, RG) == desired_view(entities)
        assert emulator.faults.pending() == 0
        assert elapsed < 15, elapsed  # was 45 to 90 s


@pytest.mark.timeout(60)
def test_a_5xx_never_waits_out_the_rate_limit_window(emulator: PortEmulator) -> None:
    """Every Port answer carries `x-ratelimit-reset` (up to 300 s away): it says when the
    rate-limit window resets, not when a 500 will be over."""
    with PortClient(fast_settings(emulator, max_retry_wait=60.0)) as client:
        client.search_owned(RG, SCOPE)
        emulator.faults.fail_next(3, status=500, route=BULK)
        started = time.monotonic()
        assert all(o.ok for o in client.bulk_upsert(resource_groups(3), scope=SCOPE))
        assert time.monotonic() - started < 5
        assert client.metrics.retries == 3 and client.metrics.throttle_seconds < 1


def test_a_503_retry_after_is_honoured(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, max_retry_wait=5.0)) as client:
        client.search_owned(RG, SCOPE)
        emulator.faults.fail_next(1, status=503, route=BULK, retry_after=1)
        started = time.monotonic()
        assert all(o.ok for o in client.bulk_upsert(resource_groups(3), scope=SCOPE))
        assert time.monotonic() - started >= 0.9


STORMS: dict[str, Any] = {
    "500s": lambda f: f.fail_next(2000, status=500, route=BULK),
    "429s-retry-after-3600": lambda f: f.throttle_next(2000, route=BULK, retry_after=3600),
    "503s-retry-after-3600": lambda f: f.fail_next(2000, 503, route=BULK, retry_after=3600),
    "dropped-connections": lambda f: f.drop_next(2000, route=BULK),
    "500s-at-the-token-refresh": lambda f: (
        f.expire_token_next(1, route=BULK),
        f.fail_next(2000, status=500, route=TOKEN),
    ),
    "port-hangs": lambda f: f.delay_next(1, seconds=4.0, route=BULK),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("storm", list(STORMS))
def test_every_operation_ends_within_its_deadline_with_a_named_error(
    emulator: PortEmulator, storm: str
) -> None:
    settings = fast_settings(
        emulator,
        deadline_seconds=2.0,
        max_retries=10_000,
        max_retry_wait=3600.0,
        timeout=30.0,
    )
    bound = operation_deadline(settings) + SLACK
    with PortClient(settings) as client:
        client.search_owned(RG, SCOPE)
        STORMS[storm](emulator.faults)
        started = time.monotonic()
        with pytest.raises(PortDeadlineError) as caught:
            client.bulk_upsert(resource_groups(3), scope=SCOPE)
        elapsed = time.monotonic() - started
    assert elapsed < bound, (elapsed, bound)
    error = caught.value
    assert "/entities/bulk" in error.route
    assert "PORT_DEADLINE_SECONDS" in str(error) and "2 s" in str(error)
    if storm.startswith("500s"):
        assert error.status == 500 and error.code == "internal_error"
    if storm == "500s-at-the-token-refresh":
        assert "token request" in str(error)


def test_the_deadline_comes_from_the_settings() -> None:
    env = {"PORT_CLIENT_ID": "a", "PORT_CLIENT_SECRET": "b"}
    assert operation_deadline(PortSettings.from_env(env)) == 120.0
    settings = PortSettings.from_env({**env, "PORT_DEADLINE_SECONDS": "7.5"})
    assert settings.deadline_seconds == 7.5 and operation_deadline(settings) == 7.5
    tighter = PortSettings.from_env({**env, "PORT_RETRY_DEADLINE": "3"})
    assert operation_deadline(tighter) == 3.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(PortConfigError, match="PORT_DEADLINE_SECONDS"):
            PortSettings.from_env({**env, "PORT_DEADLINE_SECONDS": bad})
