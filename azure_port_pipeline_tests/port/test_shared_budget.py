"""One Port budget per organization and process: the registry, the derived default rate, and
what one client learns from Port (a pause, a pace) slowing every client of the process."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from azure_port_pipeline.defs.resources import PortResource
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.port import PortApiError, PortClient, PortConfigError, PortSettings
from azure_port_pipeline.port.ratelimit import (
    RateLimiter,
    add_writer,
    organization_key,
    remove_writer,
    shared_limiter,
)
from azure_port_pipeline_tests.port.conftest import CLIENT_ID, fast_settings, resource_groups

SECRET = "do-not-show-this-port-secret"
LOW = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "4", "x-ratelimit-reset": "8"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter_pair(clock: FakeClock, key: str, rate: float = 1000.0) -> tuple[RateLimiter, ...]:
    """The limiters two clients of one organization get, as the transport asks for them."""
    return tuple(shared_limiter(key, rate, clock=clock, sleep=clock.sleep) for _ in range(2))


# -- settings ---------------------------------------------------------------------------------


def test_the_default_rate_is_the_organization_budget_shared_by_the_writers() -> None:
    settings = PortSettings.from_env({}, require_credentials=False)
    assert settings.requests_per_second is None
    assert settings.organization_requests_per_second == 115.0
    assert settings.concurrent_writers == 3
    assert settings.effective_requests_per_second() == pytest.approx(115.0 / 3)
    assert 115.0 * 300 < 35_000  # Port's published 35,000 per 5 minutes, with room to spare


def test_the_share_follows_the_organization_and_the_writers_and_an_explicit_rate_wins() -> None:
    env = {"PORT_ORGANIZATION_REQUESTS_PER_SECOND": "100", "PORT_CONCURRENT_WRITERS": "4"}
    derived = PortSettings.from_env(env, require_credentials=False)
    assert derived.effective_requests_per_second() == 25.0
    explicit = PortSettings.from_env(
        {**env, "PORT_REQUESTS_PER_SECOND": "7.5"}, require_credentials=False
    )
    assert explicit.effective_requests_per_second() == 7.5
    empty = PortSettings.from_env({"PORT_REQUESTS_PER_SECOND": ""}, require_credentials=False)
    assert empty.requests_per_second is None  # an empty variable is an unset one


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT_ORGANIZATION_REQUESTS_PER_SECOND", "0"),
        ("PORT_ORGANIZATION_REQUESTS_PER_SECOND", "-5"),
        ("PORT_ORGANIZATION_REQUESTS_PER_SECOND", "inf"),
        ("PORT_ORGANIZATION_REQUESTS_PER_SECOND", "many"),
        ("PORT_CONCURRENT_WRITERS", "0"),
        ("PORT_CONCURRENT_WRITERS", "2.5"),
        ("PORT_CONCURRENT_WRITERS", "three"),
        ("PORT_REQUESTS_PER_SECOND", "-1"),
    ],
)
def test_bad_budget_values_fail_at_load_naming_the_variable(variable: str, value: str) -> None:
    env = {"PORT_CLIENT_ID": "client", "PORT_CLIENT_SECRET": SECRET, variable: value}
    with pytest.raises(PortConfigError) as raised:
        PortSettings.from_env(env)
    assert variable in str(raised.value)
    assert SECRET not in str(raised.value)


def test_the_resource_carries_the_budget_fields_from_the_environment() -> None:
    env = {"PORT_CONCURRENT_WRITERS": "5", "PORT_ORGANIZATION_REQUESTS_PER_SECOND": "100"}
    resource = PortResource.from_env(env)
    assert (resource.requests_per_second, resource.concurrent_writers) == (None, 5)
    assert resource.organization_requests_per_second == 100.0
    explicit = PortResource.from_env({"PORT_REQUESTS_PER_SECOND": "12"})
    assert explicit.requests_per_second == 12.0
    defaults = PortResource(client_id="someone", client_secret=SECRET)
    assert defaults.settings().effective_requests_per_second() == pytest.approx(115.0 / 3)


# -- the registry -----------------------------------------------------------------------------


def test_one_limiter_per_organization_and_the_key_never_shows_the_client_id() -> None:
    key = organization_key("https://api.port.io/", "the-client-id")
    assert "the-client-id" not in key
    assert key == organization_key("https://api.port.io", "the-client-id")
    assert key != organization_key("https://api.us.port.io", "the-client-id")
    assert key != organization_key("https://api.port.io", "another-client-id")
    first, second = shared_limiter(key, 10.0), shared_limiter(key, 10.0)
    assert first is second
    assert shared_limiter(organization_key("https://api.us.port.io", "x"), 10.0) is not first


def test_the_lowest_rate_asked_for_an_organization_wins() -> None:
    key = organization_key("https://api.port.io", "lowest-wins")
    limiter = shared_limiter(key, 40.0)
    assert shared_limiter(key, 100.0).rate == 40.0
    assert shared_limiter(key, 25.0).rate == 25.0
    assert limiter.rate == 25.0


def test_the_limiter_ends_with_its_last_client_and_a_new_one_starts_empty() -> None:
    clock = FakeClock()
    key = organization_key("https://api.port.io", "short-lived")
    old = shared_limiter(key, 10.0, clock=clock, sleep=clock.sleep)
    old.pause(60.0)
    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None  # the registry did not keep it
    new = shared_limiter(key, 10.0, clock=clock, sleep=clock.sleep)
    assert new.acquire(max_wait=1.0) is not None  # the old pause is not inherited
    fresh = shared_limiter(organization_key("https://api.port.io", "empty"), 10.0, clock=clock)
    assert fresh.acquire(max_wait=0.05) is None  # no burst on creation: next turn in 0.1 s


def test_a_pause_after_a_429_holds_every_client_of_the_process() -> None:
    clock = FakeClock()
    one, other = limiter_pair(clock, organization_key("https://api.port.io", "paused"))
    clock.sleep(1.0)  # the new bucket fills
    one.pause(5.0)  # what the transport does with a 429's Retry-After or reset
    assert other.acquire() == pytest.approx(5.0)


def test_a_pace_from_x_ratelimit_remaining_holds_every_client_of_the_process() -> None:
    clock = FakeClock()
    one, other = limiter_pair(clock, organization_key("https://api.port.io", "paced"))
    clock.sleep(1.0)
    one.observe(LOW)  # 4 requests left for 8 s: one every 2 s, whoever sends them
    waits = [one.acquire(), other.acquire(), one.acquire(), other.acquire()]
    assert waits[1:] == pytest.approx([2.0, 2.0, 2.0])
    other.observe({**LOW, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    assert one.acquire() == pytest.approx(30.0)


# -- over HTTP --------------------------------------------------------------------------------


def test_clients_of_one_organization_share_one_limiter(emulator: PortEmulator) -> None:
    with (
        PortClient(fast_settings(emulator)) as first,
        PortClient(fast_settings(emulator, installation_id="other")) as second,
        PortClient(fast_settings(emulator, client_id="someone-else")) as foreign,
    ):
        assert first._transport.limiter is second._transport.limiter
        assert foreign._transport.limiter is not first._transport.limiter
        assert CLIENT_ID not in repr(first) + repr(first._transport)


def test_a_429_one_client_meets_pauses_the_other_clients(emulator: PortEmulator) -> None:
    first = PortClient(fast_settings(emulator, max_retry_wait=5.0, deadline_seconds=0.5))
    second = PortClient(fast_settings(emulator, max_retry_wait=5.0))
    with first, second:
        second.bulk_upsert(resource_groups(1), scope="sub-1:warm-up")  # token fetched
        emulator.faults.throttle_next(1, route="entities/bulk", retry_after=1.0)
        with pytest.raises(PortApiError):  # waiting 1 s would outlast its 0.5 s deadline
            first.bulk_upsert(resource_groups(1, "sub-2"), scope="sub-2:rg")
        started = time.monotonic()
        [outcome] = second.bulk_upsert(resource_groups(1, "sub-3"), scope="sub-3:rg")
        waited = time.monotonic() - started
    assert outcome.ok
    assert waited >= 0.8  # the pause Port asked the first client for
    assert second.metrics.throttle_seconds >= 0.8 and second.metrics.retries == 0


# -- writers: one share per run in the process -----------------------------------------------


def test_each_run_of_the_process_adds_a_share_up_to_the_organization_limit() -> None:
    """The daemon runs one run per process (one share); a headless sync runs several in one
    process, which then gets as many shares, never more than the organization's limit."""
    clock = FakeClock()
    key = organization_key("https://api.port.io", "writers-share")
    limiter = shared_limiter(key, 10.0, ceiling=25.0, clock=clock, sleep=clock.sleep)
    assert limiter.rate == 10.0  # no run registered: one share
    add_writer(key, 10.0, 25.0)
    add_writer(key, 10.0, 25.0)
    assert limiter.rate == 20.0
    add_writer(key, 10.0, 25.0)
    assert limiter.rate == 25.0  # three shares would exceed the organization
    for _ in range(3):
        remove_writer(key, 10.0, 25.0)
    assert limiter.rate == 10.0


def test_an_explicit_rate_is_the_process_pace_whatever_the_runs() -> None:
    settings = PortSettings.from_env({"PORT_REQUESTS_PER_SECOND": "50"}, require_credentials=False)
    assert settings.rate_ceiling() == settings.effective_requests_per_second() == 50.0
    derived = PortSettings.from_env({}, require_credentials=False)
    assert derived.rate_ceiling() == 115.0
