"""The HTTP(S) core both emulators run on, with a toy app."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import requests

from azure_port_pipeline.emulators.server import HttpServer, Request, Response, ShutdownSignals
from azure_port_pipeline.emulators.tls import make_tls


def echo(request: Request) -> Response:
    if request.target.startswith("/drop"):
        return Response(0, drop=True)  # before reading the body
    if request.target.startswith("/boom"):
        raise RuntimeError("boom")
    body = {
        "method": request.method,
        "target": request.target,
        "too_large": request.body_too_large,
        "body": request.body.decode(),
    }
    return Response(200, body, {"X-Test": "yes"}, close=request.target.startswith("/close"))


def oops(error: Exception) -> Response:
    return Response(500, {"error": repr(error)})


def test_serves_the_app_over_keep_alive_connections() -> None:
    server = HttpServer(echo, oops, body_limit=10, compact_json=True)
    with server, requests.Session() as session:
        small = session.post(f"{server.base_url}/a?b=c", data=b"0123456789", timeout=30)
        large = session.put(f"{server.base_url}/a", data=b"x" * 11, timeout=30)
        after = session.get(f"{server.base_url}/a", timeout=30)
        failed = session.get(f"{server.base_url}/boom", timeout=30)
    assert small.json() == {
        "method": "POST",
        "target": "/a?b=c",
        "too_large": False,
        "body": "0123456789",
    }
    assert small.headers["X-Test"] == "yes"
    assert small.headers["Content-Length"] == str(len(small.content))
    assert b": " not in small.content  # compact JSON
    assert large.json()["too_large"] is True and large.json()["body"] == ""
    assert after.json()["method"] == "GET"  # the oversized body did not desync the connection
    assert failed.status_code == 500 and failed.json() == {"error": "RuntimeError('boom')"}


def test_close_says_so_and_drop_hangs_up_without_an_answer() -> None:
    with HttpServer(echo, oops) as server:
        closed = requests.get(f"{server.base_url}/close", timeout=30)
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{server.base_url}/drop", data=b"unread", timeout=30)
    assert closed.headers["Connection"] == "close"


def test_https_with_a_server_version_and_stop_frees_the_port(tmp_path) -> None:
    tls = make_tls(tmp_path / "ca.pem")
    server = HttpServer(echo, oops, tls=tls.server_context, server_version="Toy/1.0")
    base_url = server.start()
    try:
        response = requests.get(f"{base_url}/x", verify=tls.ca_file, timeout=30)
        with socket.create_connection((server.host, server.port), timeout=30) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no TLS: the handshake fails, and then
            while raw.recv(4096):  # the server hangs up (perhaps after a TLS alert)
                pass
    finally:
        server.stop()
    assert base_url.startswith("https://127.0.0.1:")
    assert response.headers["Server"].startswith("Toy/1.0 ")
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=30).close()


def test_shutdown_signals_record_the_signal_and_restore_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with ShutdownSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.wait() == signal.SIGTERM
    with ShutdownSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt while entered
        assert signals.wait() == signal.SIGINT
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
