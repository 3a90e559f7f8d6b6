"""Streams stay bounded (fast layer): an exec's output in constant memory whatever its size, stdin
arriving intact, and S3 reads and writes stopped by the step's deadline when the endpoint hangs.

Upstreams of our own: an aiohttp exec endpoint speaking v5.channel.k8s.io that echoes stdin back on
stdout, and a TCP server that accepts connections and never answers (an RGW that hung), or answers
the headers of an object and then goes silent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
import tracemalloc

import pytest
from aiohttp import WSMsgType, web

from pgrestore.adapters import s3 as s3_adapter
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.errors import StepTimeout

MiB = 1024 * 1024


class EchoExec:
    """pods/exec that sends every stdin byte back on stdout (in frames of 64 KiB, as they come)
    and ends with a Success Status when stdin is closed (v5's CLOSE of channel 0)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        assert ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/ns/pods/{pod}/exec", self._exec)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    async def _exec(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",), max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                break
            if msg.data[:2] == b"\xff\x00":  # stdin closed
                break
            data = msg.data[1:]
            for start in range(0, len(data), 64 * 1024):
                await ws.send_bytes(b"\x01" + data[start:start + 64 * 1024])
        await ws.send_bytes(b'\x03{"metadata": {}, "status": "Success"}')
        await ws.close()
        return ws


@pytest.fixture(scope="module")
def echo() -> EchoExec:
    return EchoExec()


def _kube(port: int, tmp_path) -> Kube:
    config = tmp_path / "kubeconfig"
    config.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    return Kube(str(config))


def test_an_exec_streams_48_mib_each_way_in_bounded_memory(echo, tmp_path):
    kube = _kube(echo.port, tmp_path)
    piece = os.urandom(MiB + 3)  # an odd length: the last word of every frame's mask is partial
    sent, received = hashlib.sha256(), hashlib.sha256()
    got = [0]

    def stdin():
        for _ in range(48):
            sent.update(piece)
            yield piece

    def out(data: bytes) -> None:
        received.update(data)
        got[0] += len(data)

    tracemalloc.start()
    try:
        res = kube.exec("ns", "p", "c", ["cat"], stdin=stdin(), on_stdout=out, deadline=time.monotonic() + 120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.returncode == 0
    assert got[0] == 48 * len(piece) and received.hexdigest() == sent.hexdigest(), "stdout must be stdin, intact"
    assert peak < 16 * MiB, f"exec held {peak / MiB:.0f} MiB at its peak for 48 MiB each way (bound: 16 MiB)"


# -- S3 against an endpoint that hangs ------------------------------------------------------------------
class HungEndpoint:
    """Accepts connections and reads requests; answers nothing, or (headers_only) the headers of a
    10 MB object and then a few bytes of it, and then nothing."""

    def __init__(self, headers_only: bool = False) -> None:
        self.headers_only, self.requests = headers_only, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                self.requests += 1
                if self.headers_only:
                    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\nETag: "abc"\r\n'
                                 b"Content-Type: application/octet-stream\r\n\r\n" + b"x" * 1000)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def _in_thread(fn, limit: float) -> tuple[BaseException | None, float, bool]:
    """fn() in a thread, waited for at most `limit` seconds: (what it raised, seconds, still running)."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            raised[0] = e
    start = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    return raised[0], time.monotonic() - start, worker.is_alive()


@pytest.mark.parametrize("headers_only,call", [
    (False, lambda s3: s3.head("backups", "dump.psql")),
    (False, lambda s3: s3.writer("backups", "safety.psql")),
    (True, lambda s3: b"".join(s3.stream("backups", "dump.psql"))),
], ids=["head-hangs", "upload-start-hangs", "body-stops-mid-way"])
def test_a_hung_s3_endpoint_fails_the_step_at_its_deadline(monkeypatch, headers_only, call):
    """A step reading or writing S3 ends at its deadline (plus at most one read timeout) with our
    timeout error, instead of botocore's 60 s read timeout times five attempts, or forever."""
    monkeypatch.setattr(s3_adapter, "READ_TIMEOUT", 1.0, raising=False)  # the bound, made quick to test
    monkeypatch.setattr(s3_adapter, "_backoff", lambda attempt: 0.1)
    endpoint = HungEndpoint(headers_only)
    try:
        s3 = S3(f"http://127.0.0.1:{endpoint.port}", "key", "secret")
        s3.deadline = time.monotonic() + 3
        raised, seconds, running = _in_thread(lambda: call(s3), limit=30)
    finally:
        endpoint.close()
    assert not running, "S3 call still waiting 30 s after a 3 s deadline"
    assert isinstance(raised, StepTimeout), f"expected StepTimeout, got {raised!r}"
    assert "deadline" in str(raised) and "secret" not in str(raised)
    assert seconds < 3 + 1 + 5, f"stopped {seconds:.1f}s after the start; the deadline was at 3 s"
