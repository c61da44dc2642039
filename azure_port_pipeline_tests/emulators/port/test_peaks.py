"""The Port emulator measures what writers did with the organization's budget: the most
requests it served in any sliding second and `rate_window`, and the 429s the limit refused."""

from __future__ import annotations

import requests

from azure_port_pipeline.emulators.port import Faults
from azure_port_pipeline_tests.emulators.port.support import PortSession, running_port

ROUTE = "GET /v1/blueprints"


def serve_at(faults: Faults, *moments: float) -> list[int | None]:
    """One request at each moment (seconds); the status the limit gave each (None: served)."""
    return [faults.decide(ROUTE, now=moment).status for moment in moments]


def test_peaks_are_sliding_so_a_burst_across_a_window_boundary_shows() -> None:
    faults = Faults()
    faults.configure(rate_limit=3, rate_window=10.0)
    # the window opens at 0.0; 2 more at its end, 3 at the start of the next: all allowed,
    # yet 5 in less than a second, over the limit of 3 per window
    assert serve_at(faults, 0.0, 9.7, 9.8, 10.1, 10.2, 10.3) == [None] * 6
    peaks = faults.peaks()
    assert peaks["peak_requests_per_second"] == 5
    assert peaks["peak_requests_per_window"] == 5
    assert (peaks["rate_window"], peaks["rate_limited"]) == (10.0, 0)


def test_refused_requests_are_counted_apart_not_as_served() -> None:
    faults = Faults()
    faults.configure(rate_limit=2, rate_window=60.0)
    assert serve_at(faults, 100.0, 100.1, 100.2, 100.3) == [None, None, 429, 429]
    assert faults.peaks() == {
        "peak_requests_per_second": 2,
        "peak_requests_per_window": 2,
        "rate_window": 60.0,
        "rate_limited": 2,
    }


def test_a_quiet_second_leaves_the_per_second_peak_where_it_was() -> None:
    faults = Faults()
    faults.configure(rate_window=5.0)  # not enforced: measured all the same
    serve_at(faults, 0.0, 0.5, 1.2, 2.4, 3.6)
    assert faults.peaks()["peak_requests_per_second"] == 2
    assert faults.peaks()["peak_requests_per_window"] == 5


def test_peaks_survive_configure_and_end_with_take_peaks() -> None:
    faults = Faults()
    serve_at(faults, 0.0, 0.1)
    faults.configure(rate_limit=100)
    assert faults.peaks()["peak_requests_per_second"] == 2
    assert faults.take_peaks()["peak_requests_per_second"] == 2
    assert faults.peaks()["peak_requests_per_second"] == 0


def test_counters_route_serves_the_peaks_and_reset_clears_them() -> None:
    with running_port() as emu:
        emu.faults.configure(rate_limit=3, rate_window=60)
        session = PortSession(emu)  # the token request is served too
        statuses = [session.request("GET", "/v1/blueprints").status_code for _ in range(3)]
        seen = requests.get(f"{emu.base_url}/_emulator/counters", timeout=10).json()
        reset = requests.post(f"{emu.base_url}/_emulator/counters/reset", timeout=10).json()
        after = requests.get(f"{emu.base_url}/_emulator/counters", timeout=10).json()
        emu.faults.configure()  # no limit: served again, and measured
        session.request("GET", "/v1/blueprints")
        emu.reset_counters()
        cleared = emu.peaks()
    assert statuses == [200, 200, 429]
    assert seen["total"] == 4 and seen["requests"][ROUTE] == 3
    assert seen["peak_requests_per_second"] == seen["peak_requests_per_window"] == 3
    assert (seen["rate_window"], seen["rate_limited"]) == (60.0, 1)
    assert reset == seen  # what it cleared
    assert after == {"total": 0, "requests": {}, "routes": {}}  # nothing measured yet
    assert cleared["peak_requests_per_second"] == 0
