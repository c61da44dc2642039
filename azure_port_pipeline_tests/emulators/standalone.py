"""Run an emulator's `serve()` in a child process, as `azure-port-pipeline emulate` does.

The child starts the way a background shell starts it: SIGINT and SIGTERM ignored, so
only handlers `serve()` installs itself can stop it. Readiness is its ready line, waited
for with a generous bound (a loaded machine is slow, not broken) and given up on at once
if the child dies. The child is always stopped when the `with` block ends: terminate,
then kill.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

READY_WITHIN = 120.0  # seconds: an overall bound, not a guess at how long starting takes
EXIT_WITHIN = 60.0


class Child:
    """A started `serve()`: its process and every line it printed (stdout and stderr)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def wait_for_line(self, marker: str, within: float = READY_WITHIN) -> str:
        """The first printed line containing `marker`; fails early if the child exits."""
        deadline = time.monotonic() + within
        while True:
            for line in self.lines:
                if marker in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {marker!r} within {within:.0f} s:\n{self.output}")
            try:
                line = self._queue.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if line is None:  # end of output: the child has exited
                self.process.wait(timeout=EXIT_WITHIN)
                raise AssertionError(
                    f"exited with {self.process.returncode} before {marker!r}:\n{self.output}"
                )
            self.lines.append(line)

    def stop_with(self, signum: int) -> int:
        """Send `signum`, wait for the child to exit and return its exit code."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {EXIT_WITHIN:.0f} s after {signal.Signals(signum).name}"
            ) from None

    @property
    def output(self) -> str:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)

    def close(self) -> None:
        """Make sure the child is gone: terminate, then kill; then release its pipe."""
        if self.process.poll() is None:
            self.process.terminate()  # ignored unless serve() installed its handler
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=EXIT_WITHIN)
        self._pump_thread.join(timeout=10)
        if self.process.stdout is not None and not self._pump_thread.is_alive():
            self.process.stdout.close()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)


def _as_background_shell_would() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def serving(code: str, env: dict[str, str]) -> Iterator[Child]:
    """Run `python -c code` (which calls a `serve()`) with `env` added to the environment."""
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_as_background_shell_would,
    )
    child = Child(process)
    try:
        yield child
    finally:
        child.close()
