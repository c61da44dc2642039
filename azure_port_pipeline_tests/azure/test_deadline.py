"""Every Azure request ends within AZURE_DEADLINE_SECONDS, retries, waits and token included.

Storms of 429s (with a reasonable, an absent or an absurd Retry-After), of 5xx, slow answers
and a slow token endpoint, all over real HTTPS from the emulator: each call must end with a
named error (the operation and the setting) within the deadline plus a small margin, where
without the deadline it would run for the retry policy's whole budget (minutes, or the
27 hours a `Retry-After: 100000` asks for).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from azure_port_pipeline.azure import AzureAuthError

STORAGE = "Microsoft.Storage/storageAccounts"
VERSION = "2023-01-01"
DEADLINE = 3.0
#: scheduling and TLS slack on a busy 2-core machine, on top of the deadline
MARGIN = 1.0
#: settings that would let the retry policy go on for minutes without the deadline
PATIENT = {
    "AZURE_DEADLINE_SECONDS": str(DEADLINE),
    "AZURE_RETRY_TOTAL": "50",
    "AZURE_RETRY_BACKOFF_FACTOR": "0.8",
    "AZURE_RETRY_BACKOFF_MAX": "60",
    "AZURE_TIMEOUT": "60",
}


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _assert_named(error: str, operation: str) -> None:
    assert operation in error, error
    assert f"AZURE_DEADLINE_SECONDS={DEADLINE:g}" in error, error
    assert "gave up after" in error, error


@pytest.mark.parametrize(
    ("retry_after", "fewest_seconds"),
    [(1.0, 2.0), (None, 1.0)],
    ids=["Retry-After 1", "no Retry-After"],
)
def test_a_storm_of_429s_ends_within_the_deadline(
    azure_emulator_clean, make_reader, retry_after, fewest_seconds
):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **PATIENT)
    reader.verify_credentials()  # the token is not what this test times
    emulator.faults.throttle_arm(times=None, retry_after=retry_after, route=f"*{STORAGE}*")

    listing, elapsed = _timed(lambda: reader.list_kind(sub, STORAGE, VERSION))

    assert elapsed < DEADLINE + MARGIN
    assert elapsed >= fewest_seconds  # the waits Azure asked for were honoured, not skipped
    assert not listing.complete and listing.items == []
    _assert_named(listing.error, f"GET /subscriptions/{sub}/providers/{STORAGE}")
    assert "HTTP 429" in listing.error
    assert listing.counters.throttle_waits >= 2


def test_an_absurd_retry_after_gives_up_at_once(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **PATIENT)
    reader.verify_credentials()
    emulator.faults.throttle_arm(times=None, retry_after=100000, route=f"*{STORAGE}*")

    listing, elapsed = _timed(lambda: reader.list_kind(sub, STORAGE, VERSION))

    assert elapsed < MARGIN  # nothing to wait for: 100000 s will never fit in 3 s
    assert not listing.complete
    _assert_named(listing.error, f"GET /subscriptions/{sub}/providers/{STORAGE}")
    assert "Azure asked to wait 100000 s (Retry-After)" in listing.error
    assert listing.counters.requests == 1  # asked once, then no second try that Azure refused


def test_a_retry_after_that_fits_is_honoured_and_the_listing_completes(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **PATIENT)
    reader.verify_credentials()
    emulator.faults.throttle_arm(times=1, retry_after=1, route=f"*{STORAGE}*")

    listing, elapsed = _timed(lambda: reader.list_kind(sub, STORAGE, VERSION))

    assert listing.complete, listing.error
    assert 1.0 <= elapsed < DEADLINE + MARGIN
    assert listing.counters.throttle_seconds == pytest.approx(1.0)


@pytest.mark.parametrize("status", [500, 503])
def test_a_storm_of_server_errors_ends_within_the_deadline(
    azure_emulator_clean, make_reader, status
):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **{**PATIENT, "AZURE_RETRY_BACKOFF_FACTOR": "0.3"})
    reader.verify_credentials()
    emulator.faults.server_error(times=None, status=status, route=f"*{STORAGE}*")

    listing, elapsed = _timed(lambda: reader.list_kind(sub, STORAGE, VERSION))

    assert elapsed < DEADLINE + MARGIN
    assert not listing.complete
    assert f"GET /subscriptions/{sub}/providers/{STORAGE}" in listing.error
    assert str(status) in listing.error  # retries ran out, or the deadline: both named


def test_a_slow_answer_is_cut_at_the_deadline(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **PATIENT)  # AZURE_TIMEOUT=60 would wait 60 s per attempt
    reader.verify_credentials()
    emulator.faults.slow(DEADLINE + 3, route=f"*{STORAGE}*")

    listing, elapsed = _timed(lambda: reader.list_kind(sub, STORAGE, VERSION))

    assert elapsed < DEADLINE + MARGIN
    assert not listing.complete
    _assert_named(listing.error, f"GET /subscriptions/{sub}/providers/{STORAGE}")


def test_a_slow_token_endpoint_counts_against_the_request_that_needs_the_token(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **PATIENT)  # a fresh credential: no token yet
    emulator.faults.slow(DEADLINE + 3, route="*oauth2/v2.0/token")

    started = time.monotonic()
    with pytest.raises(AzureAuthError) as raised:
        reader.list_kind(sub, STORAGE, VERSION)
    elapsed = time.monotonic() - started

    assert elapsed < DEADLINE + MARGIN
    _assert_named(str(raised.value), "POST /")
    assert "/oauth2/v2.0/token" in str(raised.value)


def test_a_subscription_listing_under_a_storm_ends_within_the_deadline(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    reader = make_reader(emulator, **PATIENT)
    reader.verify_credentials()
    emulator.faults.throttle_arm(times=None, retry_after=1, route="GET /subscriptions")

    listing, elapsed = _timed(reader.list_subscriptions)

    assert elapsed < DEADLINE + MARGIN
    assert not listing.complete
    _assert_named(listing.error, "GET /subscriptions")


def test_resource_graph_throttling_ends_within_the_deadline(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    reader = make_reader(emulator, **{**PATIENT, "AZURE_GRAPH_MAX_THROTTLE_WAITS": "1000"})
    reader.verify_credentials()
    emulator.faults.throttle_graph(times=10_000)
    end = datetime.now(UTC)

    window, elapsed = _timed(lambda: reader.change_window([sub], end - timedelta(hours=1), end))

    assert elapsed < DEADLINE + MARGIN
    assert not window.complete
    _assert_named(window.error, "POST /providers/Microsoft.ResourceGraph/resources")


def test_an_extension_kind_stops_at_the_first_parent_azure_does_not_answer(
    azure_emulator_clean, make_reader
):
    """Subnets are listed per virtual network: a storm must not cost one deadline per parent."""
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    networks = list(emulator.estate.resources(sub, "Microsoft.Network/virtualNetworks"))
    assert len(networks) >= 2
    reader = make_reader(emulator, **PATIENT)
    reader.verify_credentials()
    emulator.faults.throttle_arm(times=None, retry_after=1, route="*/subnets")

    listing, elapsed = _timed(
        lambda: reader.list_kind(sub, "Microsoft.Network/virtualNetworks/subnets", "2023-02-01")
    )

    assert elapsed < DEADLINE + MARGIN
    assert not listing.complete
    _assert_named(listing.error, "/subnets")
    assert (
        f"{len(networks) - 1} parents of Microsoft.Network/virtualNetworks/subnets not listed"
        in (listing.error)
    )
