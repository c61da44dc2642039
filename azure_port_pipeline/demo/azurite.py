"""Azurite (the Azure Storage emulator) for the demo and the tests: its queue service (real-time
events) and its blob service (snapshots, compute logs), each started on a free port, in memory,
and stopped whatever happens.

The blob service can also serve HTTPS with a throwaway CA (`https=True`) and accept Entra
bearer tokens (`oauth=True`: Azurite's `--oauth basic`, which checks a token's issuer, audience
and lifetime but not its signature): what an account URL with a token credential needs, since
the Storage SDK sends bearer tokens over HTTPS only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

BIN = PROJECT_ROOT / "node_modules" / ".bin"
AZURITE = BIN / "azurite-queue"
AZURITE_BLOB = BIN / "azurite-blob"
#: Azurite's one account, and its published development key (the same on every machine)
ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_BOUND_SECONDS = 120  # a bound for a loaded machine, not an expected time
HOSTS = ("127.0.0.1", "localhost")


class AzuriteMissing(RuntimeError):
    """Node.js or the Azurite package is not installed."""


def available(binary: Path = AZURITE) -> bool:
    return binary.exists() and shutil.which("node") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection_string(port: int) -> str:
    """The queue service's connection string."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
        f"AccountKey={AZURITE_KEY};QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


@dataclass(frozen=True)
class AzuriteBlob:
    """A running blob service: where it is, how to reach it, and the CA to trust (HTTPS)."""

    port: int
    https: bool
    ca_file: str | None = None

    @property
    def account_url(self) -> str:
        """Path-style account URL (an IP host): `<scheme>://127.0.0.1:<port>/devstoreaccount1`."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        scheme = "https" if self.https else "http"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.account_url};"
        )


@contextmanager
def running_azurite_queue() -> Iterator[str]:
    """Azurite's queue service in memory; yields its connection string."""
    port = free_port()
    with _running(AZURITE, ["--queueHost", "127.0.0.1", "--queuePort", str(port)], port):
        yield connection_string(port)


@contextmanager
def running_azurite_blob(https: bool = False, oauth: bool = False) -> Iterator[AzuriteBlob]:
    """Azurite's blob service in memory; `https` serves TLS from a throwaway CA (its file in
    `ca_file`), `oauth` accepts bearer tokens too (needs `https`, as Azure does)."""
    if oauth and not https:
        raise ValueError("Azurite accepts bearer tokens over HTTPS only: pass https=True")
    port = free_port()
    arguments = ["--blobHost", "127.0.0.1", "--blobPort", str(port)]
    with tempfile.TemporaryDirectory(prefix="azurite-tls-") as directory:
        ca_file = None
        if https:
            ca_file, cert, key = _write_certificates(Path(directory))
            arguments += ["--cert", cert, "--key", key]
        if oauth:
            arguments += ["--oauth", "basic"]
        with _running(AZURITE_BLOB, arguments, port):
            yield AzuriteBlob(port=port, https=https, ca_file=ca_file)


@contextmanager
def _running(binary: Path, arguments: Sequence[str], port: int) -> Iterator[None]:
    """One Azurite service until the block ends; ready once its port accepts connections."""
    if not available(binary):
        raise AzuriteMissing(
            f"Azurite is not installed: run `make install-node` (npm ci installs "
            f"node_modules/.bin/{binary.name}; it needs Node.js)"
        )
    process = subprocess.Popen(
        [
            str(binary),
            *arguments,
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(process, port)
        yield
    finally:
        process.kill()  # in-memory: nothing to flush, and SIGTERM waits on open connections
        process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_BOUND_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Azurite did not start") from None
            time.sleep(0.1)


def _write_certificates(directory: Path) -> tuple[str, str, str]:
    """A throwaway CA and a leaf certificate for 127.0.0.1 and localhost, as PEM files:
    (CA to trust, server certificate chain, server key)."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert(*HOSTS)
    ca_file, cert, key = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return str(ca_file), str(cert), str(key)
