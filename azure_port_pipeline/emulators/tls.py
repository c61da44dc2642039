"""A throwaway certificate authority so the emulators can speak real HTTPS.

azure-core refuses to send bearer tokens over plain http, so an Azure emulator has to serve
TLS. `trustme` makes a CA and a leaf certificate for 127.0.0.1 and localhost; clients trust
the CA through `connection_verify=<ca.pem>` exactly as they would trust a corporate proxy CA.
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsMaterial:
    """The CA file clients must trust and the server-side context presenting the leaf cert."""

    ca_file: str
    ca_pem: bytes
    server_context: ssl.SSLContext


def make_tls(
    ca_file: str | Path | None = None, hosts: tuple[str, ...] = DEFAULT_HOSTS
) -> TlsMaterial:
    """Create a CA + server certificate; write the CA PEM to `ca_file` (a temp file if None)."""
    ca = trustme.CA()
    leaf = ca.issue_cert(*hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    if ca_file is None:
        directory = tempfile.mkdtemp(prefix="azure-emulator-ca-")
        ca_file = Path(directory) / "ca.pem"
    path = Path(ca_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ca.cert_pem.bytes()
    path.write_bytes(pem)
    return TlsMaterial(ca_file=str(path), ca_pem=pem, server_context=context)
