"""Benchmark: real-time sync latency with the demo running (daemon, sensors, Azurite's queue).

Starts `azure-port-pipeline demo` as a child process on a temporary home and a free UI port,
waits until every enabled subscription has a successful sync run and the storage accounts are
in Port, then makes N changes through the real Azure SDK (tag updates of existing storage
accounts, and every k-th change a new account) at a steady rate. For each change t0 is when
the SDK call returned; a background thread polls Port every ~0.5 s for the changed entities
and records when `properties.tags` holds the change's value: latency = that moment - t0.

Printed: changes made and arrived, p50 / p95 / max latency, the Port write requests made
during the measurement (the emulator's counters: everything, the demo's own incremental
windows and full resyncs included, and the part made by `event` runs from their metadata), the
event runs, and where the time goes (t0 -> run created, created -> started, started -> ended,
ended -> seen in Port), per change, from the runs' records. The demo fixes the `azure_events`
sensor's interval at 5 s (AZURE_PORT_EVENTS_SECONDS); it also changes the estate itself every
30 s, reads a change window every minute and resyncs everything every 5 minutes: background
noise of the real demo, reported as such. The demo and everything it started is stopped
(SIGINT, then its process groups and sessions are killed) whatever happens.

    .venv/bin/python benchmarks/bench_events.py                  # 200 changes at 1 per second
    .venv/bin/python benchmarks/bench_events.py --changes 20 --rate 0.5
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WRITE_ROUTES = ("/entities/bulk", "/bulk/entities/delete")
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
API_VERSION = "2023-01-01"
BLUEPRINT = "azureCloudResource"
TAG = "bench-events"
EVENTS_SECONDS = 5  # the demo's AZURE_PORT_EVENTS_SECONDS (not settable from its CLI)
MODE_TAG = "azure_port_pipeline/mode"
PARTITION_TAG = "dagster/partition"
START_BOUND = 240  # the UI answering, on a loaded machine
SYNC_BOUND = 900  # every subscription synced, on a loaded machine
SETTLE_BOUND = 180  # no run in flight after the initial sync
STOP_BOUND = 120  # SIGINT to exit, then the process groups are killed
POLL_SECONDS = 0.5


# ---- the demo, in a child process ------------------------------------------------------------
class Demo:
    """`azure-port-pipeline demo` on `home` and a free UI port, output to `log`."""

    def __init__(self, args: argparse.Namespace, home: Path, log: Path) -> None:
        self.home = home
        self.log = log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.leftovers: list[int] = []
        self._sessions: set[int] = set()
        command = [
            str(Path(sys.executable).with_name("azure-port-pipeline")),
            "demo",
            "--home",
            str(home),
            "--ui-port",
            str(self.port),
            "--seed",
            str(args.seed),
            "--subscriptions",
            str(args.subscriptions),
            "--resources",
            str(args.resources),
        ]
        with log.open("w") as output:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() can kill all of it
            )

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def check_alive(self) -> None:
        self.note_sessions()
        if self.process.poll() is not None:
            raise RuntimeError(f"the demo exited early:\n{self.output()}")

    def wait_for_ui(self, bound: float = START_BOUND) -> None:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"{self.url}/server_info", timeout=5)
                if answer.ok and (self.home / "demo.env").is_file():
                    return
            time.sleep(1)
        raise RuntimeError(f"the demo's UI did not answer within {bound} s:\n{self.output()}")

    def variables(self) -> dict[str, str]:
        lines = (self.home / "demo.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def note_sessions(self) -> None:
        """The demo's group and the sessions its children run in (`dagster dev` has its own)."""
        pid = self.process.pid
        self._sessions.add(pid)
        self._sessions.update(ids[2] for _, ids in _processes() if ids[0] == pid)

    def stop(self) -> int:
        """Ctrl-C as a user would; past the bound, kill whatever of it is left."""
        pid = self.process.pid
        with contextlib.suppress(OSError):
            self.note_sessions()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_BOUND
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.leftovers = [p for p, _ in _processes() if p != pid and _in(p, self._sessions)]
        for leftover in self.leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return self.process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _processes() -> list[tuple[int, tuple[int, int, int]]]:
    """Live processes: (pid, (ppid, process group, session))."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            found.append((int(stat.parent.name), (int(ppid), int(pgrp), int(session))))
    return found


def _in(pid: int, sessions: set[int]) -> bool:
    try:
        return os.getpgid(pid) in sessions or os.getsid(pid) in sessions
    except ProcessLookupError:
        return False


# ---- the Dagster instance of the demo ---------------------------------------------------------
def open_instance(home: Path) -> Any:
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def wait_until_synced(demo: Demo, instance: Any, subscriptions: int) -> float:
    """Every enabled subscription has a successful partitioned run; then no run in flight
    (bounded: the demo's windows keep starting runs). Returns the seconds it took."""
    from dagster import DagsterRunStatus, RunsFilter

    started = time.monotonic()
    deadline = started + SYNC_BOUND
    synced: set[str] = set()
    while time.monotonic() < deadline:
        demo.check_alive()
        records = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        synced = {
            r.dagster_run.tags[PARTITION_TAG]
            for r in records
            if PARTITION_TAG in r.dagster_run.tags
        }
        if len(synced) >= subscriptions:
            break
        time.sleep(3)
    else:
        raise RuntimeError(
            f"{len(synced)} of {subscriptions} subscriptions synced within {SYNC_BOUND} s:\n"
            f"{demo.output()}"
        )
    in_flight = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
    ]
    settle = time.monotonic() + SETTLE_BOUND
    while time.monotonic() < settle:
        demo.check_alive()
        if not instance.get_run_records(RunsFilter(statuses=in_flight), limit=1):
            break
        time.sleep(2)
    else:
        busy = Counter(
            f"{r.dagster_run.tags.get(MODE_TAG, '?')} {r.dagster_run.status.value}"
            for r in instance.get_run_records(RunsFilter(statuses=in_flight))
        )
        print(f"not settled within {SETTLE_BOUND} s; runs in flight: {dict(busy)}", flush=True)
    return time.monotonic() - started


# ---- Azure SDK and Port API clients -----------------------------------------------------------
def azure_clients(variables: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """The credential and per-subscription ResourceManagementClients, as the demo's
    CHANGE_SCRIPT builds them."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    ca = variables["AZURE_CA_BUNDLE"]
    credential = ClientSecretCredential(
        variables["AZURE_TENANT_ID"],
        variables["AZURE_CLIENT_ID"],
        variables["AZURE_CLIENT_SECRET"],
        authority=variables["AZURE_AUTHORITY_HOST"],
        connection_verify=ca,
        disable_instance_discovery=True,
    )
    arm = {
        "base_url": variables["AZURE_ARM_ENDPOINT"],
        "connection_verify": ca,
        "credential_scopes": ["https://management.azure.com/.default"],
    }
    clients = {}
    for subscription in SubscriptionClient(credential, **arm).subscriptions.list():
        if str(subscription.state).lower().endswith("enabled"):
            sub_id = subscription.subscription_id
            clients[sub_id] = ResourceManagementClient(credential, sub_id, **arm)
    return credential, clients


def port_identifier(resource_id: str) -> str:
    """The default mapping's identifier: `resourceGroups` and the group name lower-cased."""
    parts = resource_id.split("/")
    parts[3], parts[4] = parts[3].lower(), parts[4].lower()
    return "/".join(parts)


class Port:
    """The Port emulator's API with the demo's credentials (a token, refreshed on 401)."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.base = variables["PORT_BASE_URL"].rstrip("/")
        self.credentials = {
            "clientId": variables["PORT_CLIENT_ID"],
            "clientSecret": variables["PORT_CLIENT_SECRET"],
        }
        self.session = requests.Session()
        self.token = ""

    def _authenticate(self) -> None:
        answer = self.session.post(
            f"{self.base}/v1/auth/access_token", json=self.credentials, timeout=30
        )
        answer.raise_for_status()
        self.token = answer.json()["accessToken"]

    def entities(self, identifiers: list[str]) -> dict[str, dict[str, Any]]:
        """The entities of BLUEPRINT among `identifiers`, by identifier."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(identifiers), 1000):
            chunk = identifiers[start : start + 1000]
            body = {
                "query": {
                    "combinator": "and",
                    "rules": [{"property": "$identifier", "operator": "in", "value": chunk}],
                },
                "limit": 1000,
            }
            for attempt in range(2):
                if not self.token:
                    self._authenticate()
                answer = self.session.post(
                    f"{self.base}/v1/blueprints/{BLUEPRINT}/entities/search",
                    json=body,
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=30,
                )
                if answer.status_code == 401 and attempt == 0:
                    self.token = ""
                    continue
                answer.raise_for_status()
                break
            for entity in answer.json()["entities"]:
                found[entity["identifier"]] = entity
        return found

    def reset_counters(self) -> None:
        self.session.post(f"{self.base}/_emulator/counters/reset", timeout=30).raise_for_status()

    def counters(self) -> dict[str, int]:
        answer = self.session.get(f"{self.base}/_emulator/counters", timeout=30)
        answer.raise_for_status()
        return answer.json()["requests"]


# ---- the changes and the watcher --------------------------------------------------------------
@dataclass(eq=False)
class Change:
    seq: int
    kind: str  # "update" or "create"
    resource_id: str
    identifier: str
    value: str
    t0: float = 0.0  # wall clock when the SDK call returned
    sdk_seconds: float = 0.0
    arrived: float | None = None  # wall clock when Port was seen holding the value
    gave_up: bool = False
    error: str | None = None

    @property
    def latency(self) -> float | None:
        return None if self.arrived is None else self.arrived - self.t0


@dataclass
class Watcher:
    """Polls Port every POLL_SECONDS for the pending changes' entities."""

    port: Port
    give_up: float
    token: str
    pending: list[Change] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    poll_errors: Counter[str] = field(default_factory=Counter)
    loads: list[float] = field(default_factory=list)

    def add(self, change: Change) -> None:
        with self.lock:
            self.pending.append(change)

    def idle(self) -> bool:
        with self.lock:
            return not self.pending

    def run(self) -> None:
        while True:
            finished = self.done.is_set()
            with self.lock:
                pending = list(self.pending)
            if finished and not pending:
                return
            if pending:
                try:
                    self._poll(pending)
                except Exception as error:  # keep watching: a bad answer is counted
                    self.poll_errors[type(error).__name__] += 1
            self.loads.append(os.getloadavg()[0])
            time.sleep(POLL_SECONDS)

    def _poll(self, pending: list[Change]) -> None:
        identifiers = sorted({c.identifier for c in pending})
        try:
            entities = self.port.entities(identifiers)
        except requests.RequestException as error:
            self.poll_errors[type(error).__name__] += 1
            entities = {}
        seen = time.time()
        self.polls += 1
        resolved = []
        for change in pending:
            entity = entities.get(change.identifier)
            tags = ((entity or {}).get("properties") or {}).get("tags") or {}
            # A later change of the same account supersedes this one: Port holding it means
            # Port is at least as new as this change.
            if _seq_of(tags.get(TAG), self.token) >= change.seq:
                change.arrived = seen
                resolved.append(change)
            elif seen - change.t0 > self.give_up:
                change.gave_up = True
                resolved.append(change)
        if resolved:
            with self.lock:
                self.pending = [c for c in self.pending if c not in resolved]


def _seq_of(value: Any, token: str) -> int:
    if not isinstance(value, str) or not value.startswith(f"{token}-"):
        return -1
    try:
        return int(value.rsplit("-", 1)[1])
    except ValueError:
        return -1


def pick_accounts(clients: dict[str, Any], port: Port, rng: random.Random) -> list[Any]:
    """Storage accounts of the enabled subscriptions whose Port identifier needs no escaping
    and that Port already holds, shuffled and round-robin over the subscriptions."""
    from azure_port_pipeline.mapping.identifiers import needs_escape

    per_subscription: list[list[Any]] = []
    for client in clients.values():
        listed = [
            account
            for account in client.resources.list(filter=f"resourceType eq '{STORAGE_TYPE}'")
            if not needs_escape(port_identifier(account.id))
        ]
        in_port = port.entities([port_identifier(a.id) for a in listed])
        accounts = [a for a in listed if port_identifier(a.id) in in_port]
        rng.shuffle(accounts)
        per_subscription.append(accounts)
    mixed = []
    for index in range(max((len(a) for a in per_subscription), default=0)):
        mixed.extend(accounts[index] for accounts in per_subscription if index < len(accounts))
    return mixed


def make_changes(
    args: argparse.Namespace,
    clients: dict[str, Any],
    accounts: list[Any],
    watcher: Watcher,
) -> tuple[list[Change], float]:
    """N changes at `rate` per second on a fixed schedule; returns them and the seconds taken."""
    changes: list[Change] = []
    tags: dict[str, dict[str, str]] = {a.id: dict(a.tags or {}) for a in accounts}
    start = time.monotonic()
    for seq in range(args.changes):
        due = start + seq / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        account = accounts[seq % len(accounts)]
        sub_id = account.id.split("/")[2]
        client = clients[next(s for s in clients if s.lower() == sub_id.lower())]
        value = f"{watcher.token}-{seq}"
        create = args.create_every > 0 and seq % args.create_every == args.create_every - 1
        if create:
            name = f"bev{watcher.token}{seq:05d}"[:24]
            resource_id = f"{account.id.rsplit('/', 1)[0]}/{name}"
            parameters = {
                "location": account.location,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "tags": {TAG: value},
            }
        else:
            resource_id = account.id
            tags[resource_id][TAG] = value
            parameters = {"tags": dict(tags[resource_id])}
        change = Change(
            seq, "create" if create else "update", resource_id, port_identifier(resource_id), value
        )
        before = time.monotonic()
        try:
            if create:
                poller = client.resources.begin_create_or_update_by_id(
                    resource_id, api_version=API_VERSION, parameters=parameters
                )
            else:
                poller = client.resources.begin_update_by_id(
                    resource_id, api_version=API_VERSION, parameters=parameters
                )
            poller.result()
        except Exception as error:  # counted, not fatal: the benchmark goes on
            change.error = f"{type(error).__name__}: {error}"[:300]
        change.t0 = time.time()
        change.sdk_seconds = time.monotonic() - before
        changes.append(change)
        if change.error is None:
            watcher.add(change)
    return changes, time.monotonic() - start


def not_arrived(clients: dict[str, Any], port: Port, changes: list[Change]) -> list[str]:
    """For changes Port never showed: what Azure and Port hold now (up to 10)."""
    lines = []
    missing = [c for c in changes if c.error is None and c.arrived is None]
    entities = port.entities(sorted({c.identifier for c in missing})) if missing else {}
    for change in missing[:10]:
        sub_id = change.resource_id.split("/")[2]
        client = clients[next(s for s in clients if s.lower() == sub_id.lower())]
        try:
            body = client.resources.get_by_id(change.resource_id, api_version=API_VERSION)
            in_azure = f"Azure tag {(body.tags or {}).get(TAG)!r}"
        except Exception as error:
            in_azure = f"Azure: {type(error).__name__}"
        entity = entities.get(change.identifier)
        in_port = (
            "not in Port"
            if entity is None
            else f"Port tag {((entity.get('properties') or {}).get('tags') or {}).get(TAG)!r}"
        )
        lines.append(f"  #{change.seq} {change.kind} {change.value}: {in_azure}, {in_port}")
    return lines


# ---- the runs ---------------------------------------------------------------------------------
@dataclass
class RunInfo:
    run_id: str
    mode: str
    partition: str
    status: str
    created: float
    started: float | None
    ended: float | None
    resource_ids: set[str]
    window_writes: int = 0  # Port write requests its materializations in the window reported


def window_runs(instance: Any, window_start: float, window_end: float) -> list[RunInfo]:
    """The runs not ended before the window, with the Port write requests (their steps'
    `port_write_requests` metadata) of the materializations inside the window."""
    from dagster import DagsterEventType

    runs = []
    for record in instance.get_run_records():
        if record.end_time is not None and record.end_time < window_start:
            continue
        run = record.dagster_run
        config = ((run.run_config or {}).get("resources") or {}).get("sync_options") or {}
        changes = (config.get("config") or {}).get("changes") or []
        info = RunInfo(
            run_id=run.run_id,
            mode=run.tags.get(MODE_TAG, "?"),
            partition=run.tags.get(PARTITION_TAG, "").lower(),
            status=run.status.value,
            created=record.create_timestamp.timestamp(),
            started=record.start_time,
            ended=record.end_time,
            resource_ids={c.get("resourceId", "").lower() for c in changes},
        )
        if info.started is not None and info.started <= window_end:
            logs = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            for entry in logs:
                if not window_start <= entry.timestamp <= window_end:
                    continue
                metadata = entry.dagster_event.event_specific_data.materialization.metadata
                value = metadata.get("port_write_requests")
                info.window_writes += int(getattr(value, "value", 0) or 0)
        runs.append(info)
    return sorted(runs, key=lambda r: r.created)


def run_failures(instance: Any, runs: list[RunInfo]) -> list[str]:
    from dagster import DagsterEventType

    lines = []
    for run in runs:
        if run.status != "FAILURE":
            continue
        messages = [
            (entry.dagster_event.message or entry.user_message or "")[:300]
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event is not None
            and entry.dagster_event.event_type
            in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE)
        ]
        lines.append(f"  {run.run_id} ({run.mode}): {' | '.join(messages) or '?'}")
    return lines


# ---- figures ----------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 0.5):6.1f} s  p95 {percentile(values, 0.95):6.1f} s  "
        f"max {max(values):6.1f} s  (n={len(values)})"
    )


def breakdown(changes: list[Change], runs: list[RunInfo]) -> list[str]:
    """Where a change's time goes, from the run records.

    Sensor pickup: t0 -> the first `event` run whose changes name the resource (2 s slack:
    the event is queued before the SDK call returns). Delivery: the run of the change's
    subscription in flight when Port was seen holding the value (the instance runs at most
    one run per subscription at a time): its mode, whether it is the change's own event run
    (an event run re-lists a kind when that is cheaper than reading the changed ids, so an
    earlier run starting after the change delivers it too), t0 -> its start (waiting for a
    run of the subscription to start; < 0: a run already in flight read the change), and its
    start -> the value seen in Port.
    """
    events = [r for r in runs if r.mode == "event"]
    pickup: list[float] = []
    delivered_by: Counter[str] = Counter()
    to_start: list[float] = []
    to_seen: list[float] = []
    for change in changes:
        if change.error is not None:
            continue
        key = change.resource_id.lower()
        first = next(
            (r for r in events if key in r.resource_ids and r.created >= change.t0 - 2.0), None
        )
        if first is not None:
            pickup.append(first.created - change.t0)
        if change.arrived is None:
            continue
        partition = change.resource_id.split("/")[2].lower()
        slack = POLL_SECONDS + 1.0
        in_flight = [
            r
            for r in runs
            if r.partition == partition
            and r.started is not None
            and r.started <= change.arrived
            and (r.ended is None or r.ended >= change.arrived - slack)
        ]
        writer = max(in_flight, key=lambda r: r.started or 0.0, default=None)
        if writer is None or writer.started is None:
            delivered_by["no run found in flight"] += 1
            continue
        if writer is first:
            delivered_by["its own event run"] += 1
        elif writer.created < change.t0:
            delivered_by[f"a {writer.mode} run created before the change"] += 1
        else:
            delivered_by[f"a later {writer.mode} run"] += 1
        to_start.append(writer.started - change.t0)
        to_seen.append(change.arrived - writer.started)
    return [
        f"t0 -> first event run naming it created (sensor pickup): {spread(pickup)}",
        f"delivered by: {dict(delivered_by.most_common())}",
        f"  t0 -> delivering run started (wait for the subscription's next run): "
        f"{spread(to_start)}",
        f"  delivering run started -> seen in Port: {spread(to_seen)}",
    ]


def partition_gaps(runs: list[RunInfo], window_start: float, window_end: float) -> list[str]:
    """Per subscription, back to back runs in the window: previous end -> next start (the
    queue's dequeue and the worker's launch), and the share of the window a run executed."""
    gaps: list[float] = []
    busy: list[float] = []
    for partition in sorted({r.partition for r in runs if r.partition}):
        ran = sorted(
            (r for r in runs if r.partition == partition and r.started is not None),
            key=lambda r: r.started or 0.0,
        )
        executing = 0.0
        for previous, following in itertools.pairwise(ran):
            ended, started = previous.ended, following.started
            if ended is not None and started is not None and window_start <= ended <= window_end:
                gaps.append(started - ended)
        for run in ran:
            begin = max(window_start, run.started or 0.0)
            finish = min(window_end, run.ended if run.ended is not None else window_end)
            executing += max(0.0, finish - begin)
        busy.append(executing / max(1.0, window_end - window_start))
    share = ", ".join(f"{b:.0%}" for b in busy)
    return [
        f"per subscription, previous run end -> next run start: {spread(gaps)}",
        f"per subscription, share of the window with a run executing: {share or 'n/a'}",
    ]


def sensor_ticks(instance: Any, window_start: float, window_end: float) -> list[str]:
    """The `azure_events` sensor's ticks in the window: how often it ran (start to start,
    against its 5 s interval) and how long a tick took, with and without run requests."""
    from dagster._core.scheduler.instigation import InstigatorType

    state = next(
        (
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.instigator_name == "azure_events"
        ),
        None,
    )
    if state is None:
        return ["azure_events sensor: no state found"]
    ticks = sorted(
        (
            t
            for t in instance.get_ticks(state.instigator_origin_id, state.selector_id)
            if window_start <= t.timestamp <= window_end
        ),
        key=lambda t: t.timestamp,
    )
    starts = [t.timestamp for t in ticks]
    spacing = [b - a for a, b in itertools.pairwise(starts)]
    with_runs = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp and t.run_ids]
    without = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp and not t.run_ids]
    return [
        f"azure_events ticks in the window: {len(ticks)} "
        f"({sum(bool(t.run_ids) for t in ticks)} requesting runs); "
        f"tick start -> next tick start: {spread(spacing)}",
        f"  tick duration, requesting runs: {spread(with_runs)}",
        f"  tick duration, nothing to request: {spread(without)}",
    ]


def launch_profile(instance: Any, runs: list[RunInfo], most: int = 30) -> list[str]:
    """For started event runs (the latest `most`): created -> dequeued (RUN_STARTING, the
    queue's wait) and dequeued -> started (RUN_START: the worker process launched)."""
    from dagster import DagsterEventType

    waited: list[float] = []
    launched: list[float] = []
    for run in [r for r in runs if r.started is not None][-most:]:
        logs = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_STARTING)
        if not logs or run.started is None:
            continue
        dequeued = min(entry.timestamp for entry in logs)
        waited.append(dequeued - run.created)
        launched.append(run.started - dequeued)
    return [
        f"event run created -> dequeued (run queue wait): {spread(waited)}",
        f"event run dequeued -> started (worker launch): {spread(launched)}",
    ]


def step_profile(instance: Any, runs: list[RunInfo], most: int = 30) -> list[str]:
    """Inside finished event runs (the latest `most`): run start -> first step start (the
    worker process starting and loading the code), the steps, last step end -> run end."""
    before: list[float] = []
    steps: list[float] = []
    after: list[float] = []
    per_step: Counter[str] = Counter()
    finished = [r for r in runs if r.started and r.ended and r.status == "SUCCESS"][-most:]
    for run in finished:
        stats = [s for s in instance.get_run_step_stats(run.run_id) if s.start_time and s.end_time]
        if not stats or run.started is None or run.ended is None:
            continue
        before.append(min(s.start_time for s in stats) - run.started)
        steps.append(max(s.end_time for s in stats) - min(s.start_time for s in stats))
        after.append(run.ended - max(s.end_time for s in stats))
        for stat in stats:
            per_step[stat.step_key] += stat.end_time - stat.start_time
    runs_seen = max(1, len(before))
    slowest = ", ".join(
        f"{key} {total / runs_seen:.1f} s" for key, total in per_step.most_common(3)
    )
    return [
        f"event run start -> first step (worker start, code load): {spread(before)}",
        f"event run steps, first start -> last end ({len(per_step)} steps): {spread(steps)}",
        f"event run last step -> run end: {spread(after)}",
        f"slowest steps (mean per run): {slowest or 'n/a'}",
    ]


def report(
    instance: Any,
    args: argparse.Namespace,
    changes: list[Change],
    seconds: float,
    window: tuple[float, float],
    counters: dict[str, int],
    runs: list[RunInfo],
    watcher: Watcher,
    failures: list[str],
    missing: list[str],
) -> None:
    window_start, window_end = window
    made = [c for c in changes if c.error is None]
    arrived = [c for c in made if c.arrived is not None]
    latencies = [c.latency for c in arrived if c.latency is not None]
    writes = {k: v for k, v in counters.items() if k.endswith(WRITE_ROUTES)}
    print("\n=== real-time sync latency (demo running) ===")
    print(
        f"changes asked {len(changes)} at {args.rate:g}/s "
        f"({sum(c.kind == 'create' for c in changes)} creates), made in {seconds:.1f} s "
        f"({len(changes) / seconds if seconds else 0:.2f}/s achieved); "
        f"SDK call p50 {percentile([c.sdk_seconds for c in changes], 0.5):.2f} s"
    )
    print(f"SDK errors: {len(changes) - len(made)}")
    for change in [c for c in changes if c.error][:5]:
        print(f"  #{change.seq} {change.kind}: {change.error}")
    print(
        f"arrived in Port: {len(arrived)} of {len(made)}; not arrived within "
        f"{args.give_up:g} s: {sum(c.gave_up for c in made)}"
    )
    if missing:
        print("not arrived (now):")
        print("\n".join(missing))
    print(f"latency (SDK returned -> entity correct in Port): {spread(latencies)}")
    for kind in ("update", "create"):
        values = [c.latency for c in arrived if c.kind == kind and c.latency is not None]
        print(f"  {kind + 's':8} {spread(values)}")
    print(
        f"measurement window {window_end - window_start:.0f} s (counters reset -> last change "
        "resolved)"
    )
    print(
        f"Port write requests in the window (all writers): {sum(writes.values())} "
        f"{dict(sorted(writes.items()))}"
    )
    modes = sorted({r.mode for r in runs})
    for mode in modes:
        of_mode = [r for r in runs if r.mode == mode]
        created = [r for r in of_mode if window_start <= r.created <= window_end]
        backlog = [
            r
            for r in of_mode
            if r.created < window_start and (r.started is None or r.started > window_start)
        ]
        print(
            f"  mode {mode}: Port write requests in the window (run metadata) "
            f"{sum(r.window_writes for r in of_mode)}; runs created in the window "
            f"{len(created)}; not yet started when it began {len(backlog)}; "
            f"status now {dict(Counter(r.status for r in of_mode))}"
        )
    events = [r for r in runs if r.mode == "event" and r.created >= window_start]
    print(
        f"event runs created in the window: {len(events)}; changes named per event run: "
        f"{sum(len(r.resource_ids) for r in events) / len(events) if events else 0:.1f} "
        f"(the demo's own changes included); sensor interval {EVENTS_SECONDS} s (fixed by "
        "the demo)"
    )
    recent = [r for r in runs if r.mode == "event" and r.created >= window_start - 600]
    queued = [r.started - r.created for r in recent if r.started]
    ran = [r.ended - r.started for r in recent if r.started and r.ended]
    print(f"  event runs (from 10 min before the window) created -> started: {spread(queued)}")
    print(f"  event runs (from 10 min before the window) started -> ended:   {spread(ran)}")
    for line in [
        *sensor_ticks(instance, window_start, window_end),
        *launch_profile(instance, recent),
        *step_profile(instance, recent),
        *partition_gaps(runs, window_start, window_end),
    ]:
        print(f"  {line}")
    print("where a change's time goes:")
    for line in breakdown(changes, runs):
        print(f"  {line}")
    loads = watcher.loads
    if loads:
        print(
            f"load average (1 min) during the measurement: mean {sum(loads) / len(loads):.2f}, "
            f"max {max(loads):.2f} on {os.cpu_count()} cores; Port polls {watcher.polls}"
            + (f", poll errors {dict(watcher.poll_errors)}" if watcher.poll_errors else "")
        )
    if failures:
        print("failed runs:")
        print("\n".join(failures))


# ---- main ---------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=200, help="changes to make (200)")
    parser.add_argument("--rate", type=float, default=1.0, help="changes per second (1)")
    parser.add_argument(
        "--create-every", type=int, default=10, help="every k-th change creates an account (10)"
    )
    parser.add_argument("--give-up", type=float, default=300.0, help="seconds per change (300)")
    parser.add_argument("--subscriptions", type=int, default=3, help="demo subscriptions (3)")
    parser.add_argument("--resources", type=int, default=2000, help="demo resources (2000)")
    parser.add_argument("--seed", type=int, default=7, help="demo estate seed (7)")
    parser.add_argument("--log", help="the demo's output (default: a temporary file, kept)")
    args = parser.parse_args()
    if args.changes < 1 or args.rate <= 0:
        parser.error("--changes must be >= 1 and --rate > 0")

    scratch = Path(tempfile.mkdtemp(prefix="bench-events-"))
    home = scratch / "home"
    log = Path(args.log) if args.log else scratch / "demo.log"
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    demo = Demo(args, home, log)
    print(f"demo: pid {demo.process.pid}, UI {demo.url}, home {home}, log {log}", flush=True)
    exit_code = 1
    try:
        begun = time.monotonic()
        demo.wait_for_ui()
        print(f"UI up after {time.monotonic() - begun:.0f} s", flush=True)
        variables = demo.variables()
        if "AZURE_EVENTS_QUEUE_NAME" not in variables:
            raise RuntimeError(f"the demo runs without an events queue:\n{demo.output()}")
        instance = open_instance(home)
        took = wait_until_synced(demo, instance, args.subscriptions)
        print(f"initial sync done; waited {took:.0f} s more", flush=True)
        port = Port(variables)
        _, clients = azure_clients(variables)
        accounts = pick_accounts(clients, port, random.Random(args.seed))
        if not accounts:
            raise RuntimeError("no storage account found in both Azure and Port")
        print(
            f"{len(accounts)} storage accounts in {len(clients)} subscriptions to change"
            + ("" if len(accounts) >= args.changes else " (some are changed more than once)"),
            flush=True,
        )
        watcher = Watcher(port, args.give_up, secrets.token_hex(3))
        thread = threading.Thread(target=watcher.run, daemon=True)
        port.reset_counters()
        window_start = time.time()
        thread.start()
        changes, seconds = make_changes(args, clients, accounts, watcher)
        print(f"{len(changes)} changes made in {seconds:.1f} s; waiting for Port", flush=True)
        deadline = time.monotonic() + args.give_up + 60
        while not watcher.idle() and time.monotonic() < deadline:
            demo.check_alive()
            time.sleep(1)
        watcher.done.set()
        thread.join(timeout=30)
        counters = port.counters()
        window_end = time.time()
        runs = window_runs(instance, window_start, window_end)
        failures = run_failures(instance, runs)
        window = (window_start, window_end)
        try:
            missing = not_arrived(clients, port, changes)
        except Exception as error:  # a diagnostic only
            missing = [f"  (not checked: {type(error).__name__}: {error})"]
        report(instance, args, changes, seconds, window, counters, runs, watcher, failures, missing)
        exit_code = 0
    except BaseException as error:
        print(f"benchmark failed: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"--- demo output (tail) ---\n{demo.output()}", file=sys.stderr)
        raise
    finally:
        code = demo.stop()
        print(
            f"demo stopped (exit code {code}); "
            f"{len(demo.leftovers)} leftover processes killed {demo.leftovers}",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
        print(f"demo log kept: {log}")
        print(json.dumps({"load_average_at_end": os.getloadavg()}))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
