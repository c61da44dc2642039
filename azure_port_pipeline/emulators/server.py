"""The HTTP(S) core both emulators run on: one request/response model, one threaded server.

An emulator is an *app*: a function from `Request` to `Response`. `HttpServer` runs it on a
daemon thread (HTTP/1.1 keep-alive, exact Content-Length, TLS when given a context, each
connection's handshake on its own thread), with start/stop and a context manager.
`ShutdownSignals` lets a foreground `serve()` stop cleanly on SIGINT or SIGTERM even when
its process inherited both as ignored (as background shells start their children).

A server given its app's `RequestCounters` also serves them, ahead of the app and without
authentication or counting itself: `GET /_emulator/counters` answers
`{"total": n, "requests": {"METHOD /route": n}, "routes": {"/route": {"METHOD": n}}}` and
`POST /_emulator/counters/reset` answers the same for the counts it cleared, atomically.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Self

_DISCARD_LIMIT = 64 * 1024 * 1024  # bytes of an oversized body read (and dropped) at most


class Request:
    """One HTTP request. The body is read when first asked for (and before any answer), so
    an app may refuse a request, or drop its connection, without reading the body."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        *,
        client_closes: bool = False,
        read_body: Callable[[], tuple[bool, bytes]] | None = None,
    ) -> None:
        self.method = method
        self.target = target  # as sent: percent-encoded path, then `?query` if any
        self.headers = headers  # names lower-cased
        self.client_closes = client_closes  # `Connection: close` or HTTP/1.0
        self._read_body = read_body
        self._body: tuple[bool, bytes] | None = None if read_body else (False, b"")

    @property
    def body(self) -> bytes:
        """The body; empty when it was over the server's `body_limit`."""
        return self._load()[1]

    @property
    def body_too_large(self) -> bool:
        """The body was over the server's `body_limit` (it was read and thrown away)."""
        return self._load()[0]

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def _load(self) -> tuple[bool, bytes]:
        if self._body is None:
            assert self._read_body is not None
            self._body = self._read_body()
        return self._body


@dataclass
class Response:
    """What to answer: a JSON body (None: empty) or `raw` bytes as they are, or `drop` the
    connection unanswered."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    close: bool = False  # say `Connection: close` and hang up after answering
    drop: bool = False  # hang up without answering, as a dying load balancer would
    raw: bytes | None = None  # sent instead of `body`, unencoded (e.g. a proxy's HTML page)


App = Callable[[Request], Response]


class RequestCounters:
    """Requests by key (e.g. "METHOD route-template"), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def take(self) -> Counter[str]:
        """The counts so far, cleared in the same step (nothing counted in between is lost)."""
        with self._lock:
            counts = Counter(self._counts)
            self._counts.clear()
            return counts


COUNTERS_PATH = "/_emulator/counters"
COUNTERS_RESET_PATH = "/_emulator/counters/reset"


def counters_body(counts: Counter[str]) -> dict[str, Any]:
    """Counts keyed "METHOD /route" as JSON: the keys as they are, and by route then method."""
    routes: dict[str, dict[str, int]] = {}
    for key, count in sorted(counts.items()):
        method, _, route = key.partition(" ")
        routes.setdefault(route or method, {})[method if route else ""] = count
    return {
        "total": sum(counts.values()),
        "requests": dict(sorted(counts.items())),
        "routes": routes,
    }


class Service(ABC):
    """Something that serves between `start()` and `stop()`, or for a `with` block."""

    @abstractmethod
    def start(self) -> str:
        """Start serving (doing nothing if already serving); returns the base URL."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving (doing nothing if not serving)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HttpServer(Service):
    """Serves one app on `host:port` (0: a free port) from a daemon thread.

    tls: serve HTTPS with this server-side context. server_version: the `Server` header's
    product. idle_timeout: seconds a kept-alive connection may sit idle (None: forever).
    body_limit: bytes of body an app may get (larger ones: `Request.body_too_large`).
    compact_json: encode bodies without spaces. on_error: the answer when the app raises.
    counters: the app's request counters, served at `/_emulator/counters` (None: not served).
    """

    def __init__(
        self,
        app: App,
        on_error: Callable[[Exception], Response],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        name: str = "emulator",
        server_version: str = BaseHTTPRequestHandler.server_version,
        idle_timeout: float | None = None,
        body_limit: int | None = None,
        compact_json: bool = False,
        counters: RequestCounters | None = None,
    ) -> None:
        self.app = app
        self.counters = counters
        self.on_error = on_error
        self.host, self.port = host, port
        self.tls = tls
        self.name = name
        self.server_version = server_version
        self.idle_timeout = idle_timeout
        self.body_limit = body_limit
        self.separators = (",", ":") if compact_json else None
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        self._server = _ThreadingServer((self.host, self.port), self)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def serve_counters(self, request: Request) -> Response | None:
        """The answer of a counters route, or None for any other request (the app's)."""
        if self.counters is None:
            return None
        path = request.target.split("?", 1)[0].rstrip("/")
        if path == COUNTERS_PATH:
            if request.method != "GET":
                return _not_allowed("GET")
            return Response(200, counters_body(self.counters.snapshot()))
        if path == COUNTERS_RESET_PATH:
            if request.method != "POST":
                return _not_allowed("POST")
            return Response(200, counters_body(self.counters.take()))
        return None

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


class ShutdownSignals:
    """While entered, SIGINT and SIGTERM ask to stop instead of killing (or being ignored).

    The handlers are installed explicitly: a process started in the background inherits
    both signals as ignored, and a foreground server would otherwise never stop. The
    handler only records the signal; `wait()` polls for it (a handler that took locks
    could deadlock with the interrupted main thread). Previous handlers come back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, poll_interval: float = 0.1) -> None:
        self.poll_interval = poll_interval
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> ShutdownSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def wait(self) -> int:
        """Block until SIGINT or SIGTERM arrives; returns which."""
        while not self.received:
            time.sleep(self.poll_interval)
        return self.received[0]

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: HttpServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """With TLS, wrap the socket but leave the handshake to the connection's thread."""
        sock, address = self.socket.accept()
        if self.owner.tls is None:
            return sock, address
        wrapped = self.owner.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, dropped-connection tests) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns each request into a `Request`, asks the app, writes its `Response`."""

    protocol_version = "HTTP/1.1"
    server: _ThreadingServer

    def setup(self) -> None:
        owner = self.server.owner
        self.timeout = owner.idle_timeout
        self.server_version = owner.server_version
        super().setup()
        # No Nagle: headers and body go out as separate writes, and Nagle + delayed ACK
        # would add ~40 ms to every keep-alive response.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if owner.tls is not None:
            try:
                self.connection.do_handshake()  # type: ignore[attr-defined]
            except (ssl.SSLError, OSError):
                self.close_connection = True
                self.rfile = _Empty()  # type: ignore[assignment]

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read counters, not access logs."""

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            client_closes=self.close_connection,
            read_body=lambda: self._read_body(length, owner.body_limit),
        )
        try:
            response = owner.serve_counters(request) or owner.app(request)
        except Exception as error:  # an emulator bug: answer like a server would, keep serving
            response = owner.on_error(error)
        if response.drop:
            self._drop()
            return
        _ = request.body  # never leave an unread body in front of the next request
        try:
            self._write(response, owner.separators)
        except (ConnectionError, ssl.SSLError):  # the client gave up waiting (a timeout)
            self.close_connection = True

    def _read_body(self, length: int, limit: int | None) -> tuple[bool, bytes]:
        if limit is not None and length > limit:
            remaining = min(length, _DISCARD_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            return True, b""
        return False, self.rfile.read(length) if length else b""

    def _write(self, response: Response, separators: tuple[str, str] | None) -> None:
        body = response.body
        if response.raw is not None:
            payload = response.raw
        else:
            payload = b"" if body is None else json.dumps(body, separators=separators).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")  # also ends the keep-alive loop
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the socket without a response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _not_allowed(allowed: str) -> Response:
    return Response(
        405,
        {"error": {"code": "MethodNotAllowed", "message": f"Use {allowed} on this route."}},
        {"Allow": allowed},
    )


class _Empty:
    """The input of a connection whose TLS handshake failed: nothing to read."""

    def readline(self, *args: Any) -> bytes:
        return b""

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        return
