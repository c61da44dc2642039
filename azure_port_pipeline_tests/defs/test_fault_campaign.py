"""A few fixed seeds of the fault campaign (`make soak` runs hundreds): every invariant holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from azure_port_pipeline_tests.defs.fault_campaign import campaign

pytestmark = pytest.mark.e2e
#: Between them these seeds inject every fault of the menu, a SIGKILL included (checked below).
SEEDS = (3, 5, 8, 13, 21, 34)


def test_fixed_seeds_of_the_fault_campaign_keep_every_invariant(tmp_path: Path) -> None:
    with campaign(tmp_path) as running:
        outcomes = [running.run(seed) for seed in SEEDS]
    report = "\n".join(outcome.describe() for outcome in outcomes)
    print(report)
    assert all(outcome.ok for outcome in outcomes), report
    injected = {fault for outcome in outcomes for fault in outcome.faults}
    assert "sigkill" in injected and len(injected) >= 8, injected
