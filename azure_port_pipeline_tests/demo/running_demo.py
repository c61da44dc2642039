"""A real `azure-port-pipeline demo` in a child process, and the Dagster GraphQL API it serves.

Readiness is polled, never slept on: `wait_until_synced` returns as soon as every enabled
subscription has a successful sync run, within a bound generous enough for a loaded machine.
`stop` sends SIGINT (Ctrl-C) and, past a bound, kills the demo's whole process group, so no
`dagster dev` outlives a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from azure_port_pipeline_tests.paths import PROJECT_ROOT

CODE_LOCATION = "azure_port_pipeline"
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": CODE_LOCATION}
SYNC_JOB = "azure_port_sync"
ASSET_JOB = "__ASSET_JOB"  # the implicit asset job a backfill's runs use
SYNC_BOUND_SECONDS = 540  # every subscription synced, on a loaded machine
STOP_BOUND_SECONDS = 120  # SIGINT to exit, then the process group is killed

RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("azure-port-pipeline")), "demo", *args]


class RunningDemo:
    """`azure-port-pipeline demo` on a home and a free UI port; output goes to `log`."""

    def __init__(self, home: Path, log: Path, *, subscriptions: int = 3, resources: int = 300):
        self.home = home
        self.log = log
        self.subscriptions = subscriptions
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.returncode: int | None = None
        self.leftovers: list[int] = []  # processes it started still alive after it exited
        self._sessions: set[int] = set()
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as output:
            self._process = subprocess.Popen(
                demo_command(
                    "--ui-port",
                    str(self.port),
                    "--home",
                    str(home),
                    "--subscriptions",
                    str(subscriptions),
                    "--resources",
                    str(resources),
                ),
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own process group: `stop` can kill the demo with its `dagster dev` tree.
                start_new_session=True,
            )

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def runs(self) -> list[dict[str, Any]]:
        return self.graphql(RUNS_QUERY)["runsOrError"]["results"]

    def wait_until_synced(self, bound: float = SYNC_BOUND_SECONDS) -> list[dict[str, Any]]:
        """Every enabled subscription has a successful sync run; no run failed. Returns the runs."""
        deadline = time.monotonic() + bound
        synced: set[str] = set()
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            assert self._process.poll() is None, f"the demo exited early:\n{self.output()}"
            self._note_sessions()
            try:
                runs = self.runs()
            except (OSError, urllib.error.URLError):
                time.sleep(2)  # the UI is still starting
                continue
            failed = [run for run in runs if run["status"] == "FAILURE"]
            assert not failed, f"failed runs: {failed}\n{self.output()}"
            synced = {
                partition_of(run) for run in runs if is_sync_run(run) and run["status"] == "SUCCESS"
            }
            if len(synced) >= self.subscriptions:
                return runs
            time.sleep(3)
        raise AssertionError(
            f"{len(synced)} of {self.subscriptions} subscriptions synced within {bound} s; "
            f"runs: {[(r['jobName'], r['status']) for r in runs]}\n{self.output()}"
        )

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; past the bound, kill everything it started. Idempotent.

        Whatever happens, nothing of this demo survives: what is left of its process group and
        of the sessions of its children (`dagster dev` runs in a session of its own, with the
        webserver, the daemon, the code server and the run workers) once the demo has exited is
        killed, and listed in `leftovers`.
        """
        if self.returncode is not None:
            return self.returncode
        pid = self._process.pid
        self._note_sessions()
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_BOUND_SECONDS
        # Wait without reaping: while the demo is a zombie its pid (its group id) is not reused.
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.leftovers = [p for p, _ in _processes() if p != pid and _in(p, self._sessions)]
        for leftover in self.leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.returncode = self._process.wait()
        return self.returncode

    def _note_sessions(self) -> None:
        """The demo's group, and the sessions its children run in (while they are its)."""
        pid = self._process.pid
        self._sessions.add(pid)
        self._sessions.update(ids[2] for _, ids in _processes() if ids[0] == pid)


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _processes() -> list[tuple[int, tuple[int, int, int]]]:
    """Live processes (zombies are gone): (pid, (ppid, process group, session))."""
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


def is_sync_run(run: dict[str, Any]) -> bool:
    """A sync of one subscription: the schedule's job, or a run of a discovery backfill."""
    return run["jobName"] in (SYNC_JOB, ASSET_JOB) and partition_of(run) is not None


def partition_of(run: dict[str, Any]) -> str | None:
    return next((tag["value"] for tag in run["tags"] if tag["key"] == "dagster/partition"), None)
