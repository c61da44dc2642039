"""When the demo has settled: what the UI test waits for before reading pages of settled state.

Pausing the automation does not stop at once everything that launches runs:
- a sensor or schedule tick already being evaluated still submits its runs afterwards;
- a failed run that Dagster will retry (`dagster/will_retry`) gets its retry from the daemon;
- a queued run waits for its subscription's slot.
Each of those plans asset checks, which the UI then shows as in progress ("0 / 1 Passed") until
its run ends. So "settled" is all of them over, and no check of the given groups in progress;
whatever is still moving is named, so a failure says what kept the demo busy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from azure_port_pipeline_tests.demo.running_demo import REPOSITORY, RunningDemo

IN_FLIGHT_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
POLL_SECONDS = 5
#: Consecutive settled polls: a tick that starts between two polls is seen by the next one.
SETTLED_POLLS = 2

RUNS = """
query ($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
SENSOR_TICKS = """
query ($sensor: SensorSelector!) {
  sensorOrError(sensorSelector: $sensor) {
    ... on Sensor { sensorState { ticks(limit: 1) { status } } }
  }
}
"""
SCHEDULE_TICKS = """
query ($schedule: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $schedule) {
    ... on Schedule { scheduleState { ticks(limit: 1) { status } } }
  }
}
"""
CHECK_STATES = """
query ($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks {
      name
      partitionStatuses {
        ... on AssetCheckDefaultPartitionStatuses { inProgressPartitions }
      }
    } } }
  }
}
"""


def wait_until_settled(
    demo: RunningDemo,
    automation: Sequence[tuple[str, str]],
    groups: Iterable[str],
    bound_seconds: float,
) -> None:
    """Returns once nothing is moving for `SETTLED_POLLS` polls in a row; fails with what still
    was after `bound_seconds`."""
    groups = list(groups)
    deadline = time.monotonic() + bound_seconds
    settled_polls = 0
    while True:
        moving = still_moving(demo, automation, groups)
        settled_polls = 0 if moving else settled_polls + 1
        if settled_polls >= SETTLED_POLLS:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the demo did not settle within {bound_seconds:.0f} s with its automation "
                f"paused; still moving: {moving}"
            )
        time.sleep(POLL_SECONDS)


def still_moving(
    demo: RunningDemo, automation: Sequence[tuple[str, str]], groups: Iterable[str]
) -> list[str]:
    """What is still under way: runs in flight, retries to come, ticks being evaluated, checks
    in progress."""
    return [
        *_runs_in_flight(demo),
        *_retries_to_come(demo),
        *_ticks_in_progress(demo, automation),
        *_checks_in_progress(demo, groups),
    ]


def _runs_in_flight(demo: RunningDemo) -> list[str]:
    runs = _runs(demo, {"statuses": IN_FLIGHT_STATUSES})
    return [f"run {run['runId']} {run['status']} {_describe(run)}" for run in runs]


def _retries_to_come(demo: RunningDemo) -> list[str]:
    failed = _runs(
        demo, {"statuses": ["FAILURE"], "tags": [{"key": "dagster/will_retry", "value": "true"}]}
    )
    return [
        f"run {run['runId']} FAILURE, its retry not yet launched {_describe(run)}"
        for run in failed
        if _tag(run, "dagster/auto_retry_run_id") is None
    ]


def _ticks_in_progress(demo: RunningDemo, automation: Sequence[tuple[str, str]]) -> list[str]:
    moving = []
    for kind, name in automation:
        if kind == "sensors":
            data = demo.graphql(SENSOR_TICKS, {"sensor": {**REPOSITORY, "sensorName": name}})
            ticks = data["sensorOrError"]["sensorState"]["ticks"]
        else:
            data = demo.graphql(SCHEDULE_TICKS, {"schedule": {**REPOSITORY, "scheduleName": name}})
            ticks = data["scheduleOrError"]["scheduleState"]["ticks"]
        if ticks and ticks[0]["status"] == "STARTED":
            moving.append(f"a tick of {name} being evaluated")
    return moving


def _checks_in_progress(demo: RunningDemo, groups: Iterable[str]) -> list[str]:
    moving = []
    for group in groups:
        nodes = demo.graphql(CHECK_STATES, {"group": {"groupName": group, **REPOSITORY}})
        for node in nodes["assetNodes"]:
            for check in (node["assetChecksOrError"] or {}).get("checks", []):
                partitions = (check["partitionStatuses"] or {}).get("inProgressPartitions")
                if partitions:
                    key = "/".join(node["assetKey"]["path"])
                    moving.append(f"check {check['name']} of {key} in progress for {partitions}")
    return moving


def _runs(demo: RunningDemo, filter_: dict[str, Any]) -> list[dict[str, Any]]:
    return demo.graphql(RUNS, {"filter": filter_})["runsOrError"]["results"]


def _describe(run: dict[str, Any]) -> str:
    wanted = (
        "dagster/partition",
        "azure_port_pipeline/mode",
        "dagster/sensor_name",
        "dagster/schedule_name",
        "dagster/backfill",
        "dagster/parent_run_id",
    )
    return str({key: value for key in wanted if (value := _tag(run, key)) is not None})


def _tag(run: dict[str, Any], key: str) -> str | None:
    return next((tag["value"] for tag in run["tags"] if tag["key"] == key), None)
