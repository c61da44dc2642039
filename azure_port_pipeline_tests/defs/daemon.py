"""A real `dagster-daemon run` on a DAGSTER_HOME, loading the code location from the environment.

The daemon runs in a session of its own; `stop` sends SIGTERM and, past a bound, kills the whole
session (the code server and any run worker included), so nothing it started outlives a test.
Readiness is polled (`wait_for`), never slept on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from dagster import DagsterInstance

from azure_port_pipeline_tests.demo.running_demo import _exited, _in, _processes
from azure_port_pipeline_tests.paths import PROJECT_ROOT

T = TypeVar("T")
STOP_BOUND_SECONDS = 60


def dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME as the README sets one up: the project's dagster.yaml in it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    return path


def open_instance(home: Path) -> DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


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
