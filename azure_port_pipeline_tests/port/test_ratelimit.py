"""The waits Port asks for, and a limiter that never makes a caller outwait its deadline."""

from __future__ import annotations

import pytest

from azure_port_pipeline.port.ratelimit import RateLimiter, server_wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


RATE = {"x-ratelimit-limit": "100", "x-ratelimit-reset": "250"}


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"retry-after": "3"}, 3.0),
        (503, {"retry-after": "3", **RATE, "x-ratelimit-remaining": "90"}, 3.0),
        (429, {**RATE, "x-ratelimit-remaining": "0"}, 250.0),  # the budget is used up
        (429, {"x-ratelimit-reset": "250"}, 250.0),
        (429, {**RATE, "x-ratelimit-remaining": "90"}, None),  # some other limit: back off
        (500, {**RATE, "x-ratelimit-remaining": "0"}, None),  # a 5xx is not the rate limit
        (502, RATE, None),
        (503, {"retry-after": "nan"}, None),
        (429, {"retry-after": "soon"}, None),
    ],
)
def test_server_wait_reads_retry_after_and_the_reset_only_for_an_exhausted_budget(
    status: int, headers: dict[str, str], wait: float | None
) -> None:
    assert server_wait(status, headers) == wait


def test_acquire_refuses_a_turn_beyond_max_wait_without_consuming_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=1, clock=clock, sleep=clock.sleep)
    limiter.pause(5.0)
    assert limiter.acquire(max_wait=1.0) is None
    assert clock.slept == []
    assert limiter.acquire(max_wait=6.0) == pytest.approx(5.0)
    assert limiter.acquire() == 0.0  # refilled while paused
    assert limiter.acquire(max_wait=0.05) is None  # the bucket is empty: next turn in 0.1 s
    assert limiter.acquire(max_wait=0.2) == pytest.approx(0.1)
