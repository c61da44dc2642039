"""`make demo` end to end: the real demo process, its Dagster UI in headless Chromium, a restart.

One demo serves the module (one per pytest-xdist worker running its tests): discovery syncs
every enabled subscription without a click; then a browser walks the UI and asserts what a
user must see (the lineage chain, every partition materialized, metadata plots, every asset
check passing, sensors and schedules running); then a second start on the same home wipes the
first one's instance and syncs every subscription again into the new, empty Port emulator.

Screenshots and the demo logs are kept in `test-artifacts/ui/` (gitignored).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from azure_port_pipeline.defs.change_windows import INCREMENTAL_SENSOR, WINDOW_END_TAG
from azure_port_pipeline.defs.event_sensor import EVENTS_SENSOR
from azure_port_pipeline.defs.jobs import MODE_TAG, TRIGGER_TAG
from azure_port_pipeline_tests.demo.browser import chromium_page, in_own_thread
from azure_port_pipeline_tests.demo.dagster_ui import SETTLE_TIMEOUT_MS, DagsterUI
from azure_port_pipeline_tests.demo.running_demo import (
    CODE_LOCATION,
    REPOSITORY,
    RunningDemo,
    is_sync_run,
    partition_of,
)
from azure_port_pipeline_tests.demo.settling import still_moving, wait_until_settled
from azure_port_pipeline_tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
SUBSCRIPTIONS = 3
CHECKS = {
    "port_entities": ["no_mapping_errors"],
    "port_sync": [
        "azure_port_counts_match",
        "no_port_write_failures",
        "subscriptions_synced_recently",
    ],
}
AUTOMATION = [
    ("sensors", "subscription_discovery"),
    ("sensors", INCREMENTAL_SENSOR),
    ("sensors", EVENTS_SENSOR),
    ("schedules", "full_resync"),
    ("schedules", "freshness_check_hourly"),
]
FRESHNESS_JOB = "azure_port_freshness"
INCREMENTAL_BOUND_SECONDS = 420  # a window a minute, behind the first syncs, on a loaded machine
FRESHNESS_CHECK = "subscriptions_synced_recently"
PLOTTED = ["created", "updated", "seconds"]
SHOWN_ASSET = "storage_accounts"  # the asset whose pages are opened
#: The asset without checks of its own.
UNCHECKED = {"port/blueprints"}
BACKFILL_CLOSE_BOUND_SECONDS = 300  # its runs are done; the daemon marks it, on a loaded machine
#: What launches sync runs in the demo, paused while the pages of settled state are read.
SYNC_AUTOMATION = [
    ("sensors", INCREMENTAL_SENSOR),
    ("sensors", EVENTS_SENSOR),
    ("schedules", "full_resync"),
]

GROUP_ASSETS = """
query ($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""
CHECK_EXECUTIONS = """
query ($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 200) { runId status }
}
"""
AUTOMATION_STATES = """
query ($repository: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repository) {
    ... on Sensors { results { name sensorState { status } } }
  }
  schedulesOrError(repositorySelector: $repository) {
    ... on Schedules { results { name scheduleState { status } } }
  }
}
"""
SUBSCRIPTION_CREATES = """
{
  assetOrError(assetKey: {path: ["port_sync", "subscription"]}) {
    ... on Asset {
      assetMaterializations(limit: 100) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""


BACKFILLS_QUERY = """
{ partitionBackfillsOrError { ... on PartitionBackfills { results {
    id status partitionNames tags { key value } } } } }
"""


def _tag(item: dict, key: str) -> str | None:
    return next((tag["value"] for tag in item["tags"] if tag["key"] == key), None)


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, one_daemon_at_a_time: None
) -> Iterator[RunningDemo]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("demo") / "home"
    running = RunningDemo(home, _log("first-start"), subscriptions=SUBSCRIPTIONS)
    try:
        running.wait_until_synced()
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(1800)  # the demo may wait for one_daemon_at_a_time
def test_discovery_syncs_every_subscription_without_a_click(demo: RunningDemo) -> None:
    syncs = [run for run in demo.runs() if is_sync_run(run)]
    synced = {partition_of(run) for run in syncs if run["status"] == "SUCCESS"}
    assert len(synced) == SUBSCRIPTIONS
    assert synced == set(_subscriptions(demo))
    # Launched by the discovery sensor's backfill, the resync schedule or the change-window
    # sensor, never by hand.
    assert all(
        {"dagster/backfill", "dagster/schedule_name"} & {tag["key"] for tag in run["tags"]}
        or _tag(run, "dagster/sensor_name") in (INCREMENTAL_SENSOR, EVENTS_SENSOR)
        for run in syncs
    ), [run["tags"] for run in syncs]
    # One backfill for the tick that found them; the backfill daemon closes it after its runs.
    deadline = time.monotonic() + BACKFILL_CLOSE_BOUND_SECONDS
    while True:
        backfills = demo.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
        discovery = [b for b in backfills if _tag(b, TRIGGER_TAG) == "discovery"]
        assert len(discovery) == 1, backfills
        if discovery[0]["status"] != "REQUESTED" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert discovery[0]["status"] == "COMPLETED_SUCCESS", discovery
    assert set(discovery[0]["partitionNames"]) == synced


@pytest.mark.timeout(2400)
def test_the_ui_shows_lineage_partitions_plots_checks_and_running_automation(
    demo: RunningDemo,
) -> None:
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    subscriptions = _subscriptions(demo)
    groups = {group: _group_assets(demo, group) for group in CHECKS}
    show_nux = demo.graphql("{ shouldShowNux }")["shouldShowNux"]

    def walk() -> None:
        with chromium_page() as page:
            ui = DagsterUI(page, demo.url, ARTIFACTS, show_nux=show_nux)
            try:
                _lineage(ui, groups["port_sync"])
                _automation(ui)
                _discovery_backfill(ui, demo)
                _incremental_run(ui, demo)
                _event_run(demo)
                # The demo's estate keeps changing, so change windows, events and resyncs keep
                # a run in flight for some subscription nearly all the time: paused while the
                # pages that show settled state are read (every partition materialized, each
                # check of the latest materialization passed).
                for kind, name in SYNC_AUTOMATION:
                    _switch(demo, kind, name, running=False)
                try:
                    _wait_for_a_quiet_window(demo)
                    _partitions(ui, subscriptions)
                    _plots(ui)
                    _launch_the_freshness_check(ui)
                    _wait_for_a_quiet_window(demo)
                    _checks(ui, demo, groups)
                finally:
                    for kind, name in SYNC_AUTOMATION:
                        _switch(demo, kind, name, running=True)
            except BaseException:
                ui.screenshot("failure")
                raise
            finally:
                print(f"\nscreenshots: {[str(shot) for shot in ui.shots]}")

    in_own_thread(walk)
    print(f"UI walk: {time.monotonic() - started:.0f} s; screenshots in {ARTIFACTS}")

    # The same facts through the GraphQL API the UI uses, where it says more than one page.
    _every_partition_materialized(demo, subscriptions)
    _every_check_passes_for_every_subscription(demo, groups)
    _automation_running(demo)


@pytest.mark.timeout(2100)
def test_a_second_start_on_the_same_home_syncs_every_subscription_again(
    demo: RunningDemo,
) -> None:
    first_runs = {run["runId"] for run in demo.runs()}
    assert demo.stop() == 0, demo.output()
    assert not demo.leftovers, f"processes left running by the demo: {demo.leftovers}"

    second = RunningDemo(demo.home, _log("second-start"), subscriptions=SUBSCRIPTIONS)
    try:
        runs = second.wait_until_synced()
        # A new instance: none of the first start's runs, every subscription synced again, each
        # writing its subscription entity into the new (empty) Port emulator.
        assert not first_runs & {run["runId"] for run in runs}
        created = {
            materialization["partition"]
            for materialization in second.graphql(SUBSCRIPTION_CREATES)["assetOrError"][
                "assetMaterializations"
            ]
            if _metadata(materialization, "created") == 1
        }
        assert created == set(_subscriptions(second))
    finally:
        code = second.stop()
    start = second.log.read_text(errors="replace")[:3000]  # what the demo says first
    assert "Clean start: wiped the previous demo's instance" in start, start
    assert code == 0, second.output()
    assert not second.leftovers, f"processes left running by the demo: {second.leftovers}"


# -- the walk through the UI, page by page -----------------------------------------------------


def _lineage(ui: DagsterUI, assets: list[str]) -> None:
    names = [key.split("/")[-1] for key in assets]
    graph = ui.asset_graph("port_sync", names)
    ui.screenshot("lineage-port_sync")
    assert set(names) <= set(graph.nodes), graph.nodes.keys()
    # The chain a user reads in the graph: subscription -> resource groups -> each resource kind.
    assert ("subscription", "resource_groups") in graph.edges, graph.edges
    assert ("resource_groups", "storage_accounts") in graph.edges, graph.edges
    resources = set(names) - {"blueprints", "subscription", "resource_groups"}
    assert resources and all(("resource_groups", kind) in graph.edges for kind in resources), (
        graph.edges
    )
    # ...and the dependencies the page was given to draw it.
    deps = graph.dependencies
    assert "port_sync/subscription" in deps["port_sync/resource_groups"]
    assert "port_sync/resource_groups" in deps["port_sync/storage_accounts"]
    assert "port_entities/storage_accounts" in deps["port_sync/storage_accounts"]


def _wait_for_a_quiet_window(demo: RunningDemo) -> None:
    """Nothing moving (the automation that launches runs is paused meanwhile).

    A page shows each check's evaluation for the asset's latest materialization. The freshness
    check runs in its own job, so a sync landing after it leaves it unevaluated for the new
    materialization (the UI then says "2 / 3 Passed"), and a sync in flight shows its checks as
    in progress ("0 / 1 Passed"): the check pages are read while nothing syncs, nor is about to.
    """
    wait_until_settled(demo, SYNC_AUTOMATION, CHECKS, 2 * SETTLE_TIMEOUT_MS / 1000)


def _launch_the_freshness_check(ui: DagsterUI) -> None:
    """`subscriptions_synced_recently` runs hourly; launch its job now, as a user would."""
    ui.open(f"/locations/{CODE_LOCATION}/jobs/{FRESHNESS_JOB}/playground")
    ui.page.get_by_role("button", name="Launch Run").click()
    ui.page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}"))
    expect(ui.page.get_by_text("Success", exact=True).first).to_be_visible(
        timeout=SETTLE_TIMEOUT_MS
    )
    ui.screenshot("freshness-check-run")


def _checks(ui: DagsterUI, demo: RunningDemo, groups: dict[str, list[str]]) -> None:
    # Every asset of both groups, on their lineage pages: "Asset checks N / N Passed".
    for group, checks in CHECKS.items():
        names = [key.split("/")[-1] for key in groups[group] if key not in UNCHECKED]
        ui.asset_graph(group, names)
        for name in names:
            try:
                expect(ui.graph_node(name)).to_contain_text(f"{len(checks)} / {len(checks)} Passed")
            except AssertionError as error:
                moving = still_moving(demo, SYNC_AUTOMATION, CHECKS)
                raise AssertionError(f"{error}\nwhat the demo was doing: {moving}") from None
        ui.screenshot(f"checks-{group}")
    # Each check by name, on the Checks tab of one asset per group.
    for group, checks in CHECKS.items():
        ui.open(f"/assets/{group}/{SHOWN_ASSET}?view=checks")
        for check in checks:
            expect(ui.check_row(check)).to_contain_text("Succeeded")
        ui.screenshot(f"checks-{group}-{SHOWN_ASSET}")


def _partitions(ui: DagsterUI, subscriptions: list[str]) -> None:
    ui.open(f"/assets/port_sync/{SHOWN_ASSET}?view=partitions")
    for subscription in subscriptions:
        expect(ui.page.locator(f'[title="{subscription}"]').first).to_be_visible()
    expected = {"Failed": 0, "Materialized": len(subscriptions), "Materializing": 0, "Missing": 0}
    deadline = time.monotonic() + SETTLE_TIMEOUT_MS / 1000
    while (counts := ui.partition_counts()) != expected and time.monotonic() < deadline:
        time.sleep(5)  # a resync in flight: its partition shows as materializing meanwhile
        ui.page.reload(wait_until="domcontentloaded")
        expect(ui.page.locator(f'[title="{subscriptions[0]}"]').first).to_be_visible()
    ui.screenshot(f"partitions-port_sync-{SHOWN_ASSET}")
    assert counts == expected


def _plots(ui: DagsterUI) -> None:
    ui.open(f"/assets/port_sync/{SHOWN_ASSET}")
    plots = ui.page.get_by_role("button", name="Plots")
    plots.click()
    for key in PLOTTED:
        canvas = ui.plot(key).locator("canvas")
        expect(canvas).to_be_visible()
        deadline = time.monotonic() + 30  # the chart animates its line in
        while (coloured := ui.coloured_pixels(canvas)) < 50 and time.monotonic() < deadline:
            time.sleep(1)
        assert coloured >= 50, f"the plot of {key} shows no line ({coloured} coloured pixels)"
        ui.screenshot(f"plot-{key}-port_sync-{SHOWN_ASSET}", of=ui.plot(key))
    plots.scroll_into_view_if_needed()
    ui.screenshot(f"plots-port_sync-{SHOWN_ASSET}")


def _automation(ui: DagsterUI) -> None:
    ui.open("/automation")
    for kind, name in AUTOMATION:
        expect(ui.automation_switch(kind, name)).to_be_checked()
    ui.screenshot("automation")


def _discovery_backfill(ui: DagsterUI, demo: RunningDemo) -> None:
    """Discovery's backfill has a page of its own (Runs → Backfills), with its partitions."""
    backfills = demo.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
    backfill_id = next(b["id"] for b in backfills if _tag(b, TRIGGER_TAG) == "discovery")
    ui.open(f"/runs/b/{backfill_id}")
    expect(ui.page.get_by_text(backfill_id).first).to_be_visible(timeout=SETTLE_TIMEOUT_MS)
    # Its assets with their partitions' progress, and its status.
    for asset in ("port/blueprints", "port_sync/subscription", "port_sync/storage_accounts"):
        expect(ui.page.locator(f'a[href="/assets/{asset}"]').first).to_be_visible(
            timeout=SETTLE_TIMEOUT_MS
        )
    expect(ui.page.get_by_text("Succeeded", exact=True).first).to_be_visible()
    ui.screenshot("discovery-backfill")


def _incremental_run(ui: DagsterUI, demo: RunningDemo) -> None:
    """The estate keeps changing: a change window's incremental run succeeds, and its page
    shows it as such (the mode and window tags)."""
    deadline = time.monotonic() + INCREMENTAL_BOUND_SECONDS
    run = None
    while run is None and time.monotonic() < deadline:
        run = next(
            (
                r
                for r in demo.runs()
                if _tag(r, MODE_TAG) == "incremental" and r["status"] == "SUCCESS"
            ),
            None,
        )
        if run is None:
            time.sleep(2)
    assert run is not None, f"no incremental run succeeded within {INCREMENTAL_BOUND_SECONDS} s"
    assert _tag(run, "dagster/sensor_name") == INCREMENTAL_SENSOR
    assert _tag(run, WINDOW_END_TAG)
    ui.open(f"/runs/{run['runId']}")
    expect(ui.page.get_by_text("incremental").first).to_be_visible(timeout=SETTLE_TIMEOUT_MS)
    ui.screenshot("incremental-run")


def _event_run(demo: RunningDemo) -> None:
    """The estate's changes reach Port through Event Grid events too: an event run succeeds."""
    deadline = time.monotonic() + INCREMENTAL_BOUND_SECONDS
    while time.monotonic() < deadline:
        runs = demo.runs()
        if any(_tag(r, MODE_TAG) == "event" and r["status"] == "SUCCESS" for r in runs):
            return
        time.sleep(2)
    raise AssertionError(f"no event run succeeded within {INCREMENTAL_BOUND_SECONDS} s")


SENSOR_STATE = """
query ($sensor: SensorSelector!) {
  sensorOrError(sensorSelector: $sensor) { ... on Sensor { sensorState { id status } } }
}
"""
START_SENSOR = """
mutation ($sensor: SensorSelector!) {
  startSensor(sensorSelector: $sensor) { ... on Sensor { sensorState { status } } }
}
"""
STOP_SENSOR = """
mutation ($id: String!) {
  stopSensor(id: $id) { ... on StopSensorMutationResult { instigationState { status } } }
}
"""
SCHEDULE_STATE = """
query ($schedule: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $schedule) {
    ... on Schedule { id scheduleState { id status } }
  }
}
"""
START_SCHEDULE = """
mutation ($schedule: ScheduleSelector!) {
  startSchedule(scheduleSelector: $schedule) {
    ... on ScheduleStateResult { scheduleState { status } }
  }
}
"""
STOP_SCHEDULE = """
mutation ($id: String!) {
  stopRunningSchedule(id: $id) {
    ... on ScheduleStateResult { scheduleState { status } }
  }
}
"""


def _switch(demo: RunningDemo, kind: str, name: str, *, running: bool) -> None:
    """Starts or stops a sensor or schedule through the GraphQL API the UI's switches use."""
    if kind == "sensors":
        selector = {"sensor": {**REPOSITORY, "sensorName": name}}
        query, start, stop, field, state_of = (
            SENSOR_STATE,
            START_SENSOR,
            STOP_SENSOR,
            "sensorOrError",
            "sensorState",
        )
    else:
        selector = {"schedule": {**REPOSITORY, "scheduleName": name}}
        query, start, stop, field, state_of = (
            SCHEDULE_STATE,
            START_SCHEDULE,
            STOP_SCHEDULE,
            "scheduleOrError",
            "scheduleState",
        )
    state = demo.graphql(query, selector)[field][state_of]
    if running:
        demo.graphql(start, selector)
    else:
        demo.graphql(stop, {"id": state["id"]})
    after = demo.graphql(query, selector)[field][state_of]
    assert after["status"] == ("RUNNING" if running else "STOPPED"), (name, after)


# -- GraphQL complements -----------------------------------------------------------------------


def _every_partition_materialized(demo: RunningDemo, subscriptions: list[str]) -> None:
    for group in CHECKS:
        for node in _group_nodes(demo, group):
            stats = node["partitionStats"]
            if stats is None:  # port/blueprints is not partitioned
                continue
            key = "/".join(node["assetKey"]["path"])
            assert stats["numPartitions"] == len(subscriptions), (key, stats)
            assert stats["numMaterialized"] == len(subscriptions), (key, stats)
            assert stats["numFailed"] == 0, (key, stats)


def _every_check_passes_for_every_subscription(
    demo: RunningDemo, groups: dict[str, list[str]]
) -> None:
    """The latest evaluation of every check, per subscription, passed.

    A page shows a check's latest evaluation, whichever subscription's run it came from; a
    failure in one subscription can hide behind a later success in another. Here each
    (asset, check, subscription) is judged on its own latest completed evaluation.
    """
    partition_of_run = {run["runId"]: partition_of(run) for run in demo.runs()}
    failing = []
    for group, checks in CHECKS.items():
        for key in groups[group]:
            if key in UNCHECKED:
                continue
            for check in checks:
                executions = demo.graphql(
                    CHECK_EXECUTIONS, {"key": {"path": key.split("/")}, "check": check}
                )["assetCheckExecutions"]
                latest: dict[str | None, str] = {}
                for execution in executions:  # newest first
                    partition = partition_of_run.get(execution["runId"])
                    if check == FRESHNESS_CHECK:
                        # About every subscription at once, whichever run evaluated it (a
                        # backfill's runs evaluate it too, mid-way): only the newest counts.
                        partition = None
                    if execution["status"] != "IN_PROGRESS":
                        latest.setdefault(partition, execution["status"])
                assert latest, f"{check} on {key} was never evaluated"
                failing += [
                    (key, check, partition, status)
                    for partition, status in latest.items()
                    if status != "SUCCEEDED"
                ]
    assert not failing, f"checks not passing (asset, check, subscription, status): {failing}"


def _automation_running(demo: RunningDemo) -> None:
    states = demo.graphql(AUTOMATION_STATES, {"repository": REPOSITORY})
    status = {
        **{s["name"]: s["sensorState"]["status"] for s in states["sensorsOrError"]["results"]},
        **{s["name"]: s["scheduleState"]["status"] for s in states["schedulesOrError"]["results"]},
    }
    assert {name: status.get(name) for _, name in AUTOMATION} == {
        name: "RUNNING" for _, name in AUTOMATION
    }


# -- helpers -----------------------------------------------------------------------------------


def _log(start: str) -> Path:
    """One log per demo start, and per pytest-xdist worker: each worker has its module demo."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return ARTIFACTS / f"demo-{start}{f'-{worker}' if worker else ''}.log"


def _subscriptions(demo: RunningDemo) -> list[str]:
    """The partitions discovery added: the enabled subscriptions."""
    node = demo.graphql(
        """{ assetNodeOrError(assetKey: {path: ["port_sync", "subscription"]}) {
               ... on AssetNode { partitionKeysByDimension { partitionKeys } } } }"""
    )["assetNodeOrError"]
    return sorted(node["partitionKeysByDimension"][0]["partitionKeys"])


def _group_nodes(demo: RunningDemo, group: str) -> list[dict[str, Any]]:
    return demo.graphql(GROUP_ASSETS, {"group": {"groupName": group, **REPOSITORY}})["assetNodes"]


def _group_assets(demo: RunningDemo, group: str) -> list[str]:
    return sorted("/".join(node["assetKey"]["path"]) for node in _group_nodes(demo, group))


def _metadata(materialization: dict[str, Any], label: str) -> Any:
    return next(
        (e.get("intValue") for e in materialization["metadataEntries"] if e["label"] == label),
        None,
    )
