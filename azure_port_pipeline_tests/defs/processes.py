"""The pipeline in other processes, as a user runs it: emulators, environment, DAGSTER_HOME, daemon.

`running_emulators` starts both emulators and `process_env` wires a child process to them
through the same variables a deployment sets. `running_daemon` is a real `dagster-daemon run`
on a DAGSTER_HOME, loading the code location from the environment; it runs in a session of its
own, and `stop` sends SIGTERM and, past a bound, kills the whole session (the code server and
any run worker included), so nothing it started outlives a test. Readiness is polled
(`wait_for`), never slept on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from dagster import DagsterInstance
from dagster._core.execution.backfill import BulkActionStatus

from azure_port_pipeline.defs.instance_config import PG_VARIABLES, write_instance
from azure_port_pipeline.demo.environment import EmulatorEndpoints, emulator_variables
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import start_emulator
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, PORT_ID, PORT_SECRET
from azure_port_pipeline_tests.demo.running_demo import _exited, _in, _processes
from azure_port_pipeline_tests.paths import PROJECT_ROOT

T = TypeVar("T")
STOP_BOUND_SECONDS = 60


@contextlib.contextmanager
def running_emulators(**estate: int) -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    """Both emulators on a generated estate (`seed`, `subscriptions`, ...), stopped on exit."""
    azure = start_emulator(**estate)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    try:
        port.start()
        yield azure, port
    finally:
        port.stop()
        azure.stop()


def process_env(
    azure: AzureEmulator,
    port: PortEmulator,
    home: Path | None,
    installation: str,
    **extra: str,
) -> dict[str, str]:
    """This process's environment minus any AZURE_*/PORT_* of the machine, wired to the
    emulators, with DAGSTER_HOME (unset when `home` is None) and `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "PORT_"))}
    env.pop("DAGSTER_HOME", None)
    env.update(emulator_variables(EmulatorEndpoints.of(azure, port), CREDENTIALS, installation))
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    env.update(extra)
    return env


def enabled_subscriptions(azure: AzureEmulator) -> list[str]:
    disabled = set(azure.estate.disabled_subscription_ids)
    return [s for s in azure.estate.subscription_ids if s not in disabled]


def dagster_home(path: Path, env: Mapping[str, str] | None = None) -> Path:
    """A DAGSTER_HOME as `azure-port-pipeline instance` writes one for `env`: the project's
    dagster.yaml, with Postgres storage when `env` has DAGSTER_PG_* variables (SQLite without,
    or when `env` is None).

    Its storages are created here, once: two processes opening a new home at the same
    moment (a test and the command it started) would both create the tables, and one fails.
    """
    write_instance(path, env or {})
    with open_instance(path, env) as instance:
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("azure_subscriptions")
        instance.all_instigator_state()
        instance.event_log_storage.get_concurrency_run_ids()
    return path


def open_instance(home: Path, env: Mapping[str, str] | None = None) -> DagsterInstance:
    """The instance of `home`, in this process. A Postgres home's storage reads DAGSTER_PG_*
    as it loads: from `env` (pass the one given to `dagster_home`), else this process's."""
    from dagster._core.instance.ref import InstanceRef

    variables = {k: v for k, v in (env or {}).items() if k in PG_VARIABLES}
    settings = home / "dagster.yaml"
    text = settings.read_text() if settings.is_file() else ""
    unset = [
        v for v in PG_VARIABLES if f"env: {v}" in text and v not in {**os.environ, **variables}
    ]
    assert not unset, (
        f"the instance in {home} reads {', '.join(unset)} from the environment: pass the env "
        "given to dagster_home, open_instance(home, env)"
    )
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:  # the storages resolve their `env:` references here, once
        return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dagster_cli(*args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """`dagster ARGS -w workspace.yaml` as a user types it, from DAGSTER_HOME."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), *args, "-w", _workspace()],
        cwd=home,
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


class RunningDaemon:
    """`dagster-daemon run` for the project's workspace; output goes to `log`."""

    def __init__(self, home: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as output:
            self._process = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", _workspace()],
                cwd=home,
                env={**env, "DAGSTER_HOME": str(home)},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self, tail: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def wait_for(self, what: str, probe: Callable[[], T | None], bound: float) -> T:
        """Poll `probe` until it returns a value; fail naming `what` past `bound` seconds."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            assert self._process.poll() is None, f"the daemon exited:\n{self.output()}"
            value = probe()
            if value is not None:
                return value
            time.sleep(1)
        raise AssertionError(f"not within {bound} s: {what}\n{self.output()}")

    def stop(self) -> None:
        pid = self._process.pid
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_BOUND_SECONDS
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        for leftover, _ in _processes():
            if leftover != pid and _in(leftover, {pid}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(leftover, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self._process.wait()


@contextlib.contextmanager
def running_daemon(home: Path, env: dict[str, str], log: Path) -> Iterator[RunningDaemon]:
    daemon = RunningDaemon(home, env, log)
    try:
        yield daemon
    finally:
        daemon.stop()


def _workspace() -> str:
    return str(PROJECT_ROOT / "workspace.yaml")


def backfilled(instance: DagsterInstance) -> bool | None:
    """True once every backfill of the instance (discovery's) succeeded; None until then (a
    `wait_for` probe)."""
    backfills = instance.get_backfills()
    done = backfills and all(b.status == BulkActionStatus.COMPLETED_SUCCESS for b in backfills)
    return True if done else None


def port_tags(port: PortEmulator, resource_id: str) -> dict[str, str]:
    """The tags Port holds for one Azure resource's entity."""
    (body,) = [
        body
        for body in port.entities("azureCloudResource")
        if body["identifier"].lower() == resource_id.lower()
    ]
    return body["properties"]["tags"]
