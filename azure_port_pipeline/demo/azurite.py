"""Azurite's queue service (the Azure Storage emulator), for the demo and the tests: started on a
free port, in memory, and stopped whatever happens."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

AZURITE = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-queue"
#: Azurite's published development key (the same on every machine): not a secret
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_BOUND_SECONDS = 120  # a bound for a loaded machine, not an expected time


class AzuriteMissing(RuntimeError):
    """Node.js or the Azurite package is not installed."""


def available() -> bool:
    return AZURITE.exists() and shutil.which("node") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


@contextmanager
def running_azurite_queue() -> Iterator[str]:
    """Azurite's queue service in memory; yields its connection string."""
    if not available():
        raise AzuriteMissing(
            "Azurite is not installed: run `make install-node` (npm ci installs "
            "node_modules/.bin/azurite-queue; it needs Node.js)"
        )
    port = free_port()
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_BOUND_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Azurite did not start") from None
                time.sleep(0.1)
        yield connection_string(port)
    finally:
        process.kill()  # in-memory: nothing to flush, and SIGTERM waits on open connections
        process.wait(timeout=10)
