"""The fault proxy itself, against a small upstream of its own (fast layer: no sandbox)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import threading
import time

import pytest
import urllib3
import websocket
from aiohttp import web

from .proxy import Answer, Cut, Delay, DropWebSocket, Fault, FaultProxy, Reset
from .tls import make_serving_cert


class Upstream:
    """An aiohttp server on its own loop: /json, /stream (a line every 0.1 s), /ws (echo), PATCH /thing."""

    def __init__(self) -> None:
        self.patches = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/json", self._json)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/ws", self._ws)
        app.router.add_patch("/thing", self._patch)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    async def _json(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "host": request.headers.get("Host")})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for i in range(20):
                await resp.write(b'{"n": %d}\n' % i)
                await asyncio.sleep(0.1)
            await resp.write_eof()
        except ConnectionResetError:  # the proxy cut it
            pass
        return resp

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_bytes(b"echo:" + msg.data)
        return ws

    async def _patch(self, request: web.Request) -> web.Response:
        self.patches += 1
        return web.json_response({"patched": await request.json()})


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture(scope="module")
def proxy(upstream):
    p = FaultProxy(f"http://127.0.0.1:{upstream.port}", "kube", serving=make_serving_cert()).start()
    yield p
    p.stop()


@pytest.fixture
def pool(proxy) -> urllib3.PoolManager:
    proxy.clear()
    assert proxy.serving is not None
    return urllib3.PoolManager(ca_cert_data=proxy.serving.ca_pem.decode(), retries=False)


def test_passes_requests_through_over_tls(proxy, pool):
    r = pool.request("GET", proxy.url + "/json")
    assert r.status == 200 and r.json()["ok"] is True
    assert [(x.method, x.path, x.status) for x in proxy.records] == [("GET", "/json", 200)]


def test_answers_the_nth_match_with_a_status_and_retry_after(proxy, pool):
    proxy.script(Fault("GET", r"^/json$", Answer(429, retry_after=2), nth=2))
    first, second, third = (pool.request("GET", proxy.url + "/json") for _ in range(3))
    assert (first.status, second.status, third.status) == (200, 429, 200)
    assert second.headers["Retry-After"] == "2" and second.json()["reason"] == "TooManyRequests"


def test_delays(proxy, pool):
    proxy.script(Fault("GET", r"^/json$", Delay(0.5)))
    t = time.monotonic()
    assert pool.request("GET", proxy.url + "/json").status == 200
    assert time.monotonic() - t >= 0.5


def test_resets_before_or_after_forwarding(proxy, pool, upstream):
    before = upstream.patches
    proxy.script(Fault("PATCH", r"^/thing$", Reset()), Fault("PATCH", r"^/thing$", Reset(after_forward=True), nth=2))
    for _ in range(2):
        with pytest.raises(urllib3.exceptions.ProtocolError):
            pool.request("PATCH", proxy.url + "/thing", body=b"{}", headers={"Content-Type": "application/json"})
    assert upstream.patches == before + 1, "the first reset never reached the upstream; the second did"
    assert [r.status for r in proxy.records] == ["reset", "reset"]


def test_cuts_a_stream_after_bytes_or_seconds(proxy, pool):
    proxy.script(Fault("GET", r"^/stream$", Cut(after_bytes=25)), Fault("GET", r"^/stream$", Cut(after_seconds=0.35),
                                                                        nth=2))
    for _ in range(2):
        r = pool.request("GET", proxy.url + "/stream", preload_content=False)
        got = bytearray()
        with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError)):
            for chunk in r.stream(1):
                got += chunk
        assert got.startswith(b'{"n": 0}\n')
    first, second = proxy.records
    assert first.body_bytes == 25 and 20 < second.body_bytes < 60 and first.status == second.status == "cut"


def test_relays_a_websocket_with_the_upstream_s_subprotocol_and_drops_it(proxy, upstream, tmp_path):
    assert proxy.serving is not None
    (tmp_path / "ca.crt").write_bytes(proxy.serving.ca_pem)
    sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(tmp_path / "ca.crt")}
    ws = websocket.create_connection(proxy.url.replace("https", "wss") + "/ws", sslopt=sslopt,
                                     subprotocols=["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert ws.subprotocol == "v5.channel.k8s.io"
    ws.send_binary(b"\x00hello")
    assert ws.recv() == b"echo:\x00hello"
    ws.close()

    proxy.script(Fault("GET", r"^/ws$", DropWebSocket(after_frames=2)))
    ws = websocket.create_connection(proxy.url.replace("https", "wss") + "/ws", sslopt=sslopt,
                                     subprotocols=["v4.channel.k8s.io"])
    assert ws.subprotocol == "v4.channel.k8s.io"
    ws.send_binary(b"\x00one")
    assert ws.recv() == b"echo:\x00one"
    ws.send_binary(b"\x00two")
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionResetError, ssl.SSLError)):
        for _ in range(3):  # the echo of "two" may still come through
            ws.recv()
    assert proxy.records[-1].status == "dropped"


def test_s3_flavor_keeps_the_signed_host_header(upstream):
    p = FaultProxy(f"http://127.0.0.1:{upstream.port}", "s3").start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", p.port)
        conn.request("GET", "/json")
        assert json.loads(conn.getresponse().read())["host"] == f"127.0.0.1:{p.port}"
        p.script(Fault("GET", r"^/json$", Answer(503)))
        conn.request("GET", "/json")
        r = conn.getresponse()
        assert r.status == 503 and b"<Code>SlowDown</Code>" in r.read()
    finally:
        p.stop()


def test_only_listens_on_loopback(proxy):
    assert socket.gethostbyname("127.0.0.1") == "127.0.0.1"
    assert proxy.url.startswith("https://127.0.0.1:")


def test_drops_a_websocket_mid_frame_after_bytes(proxy, tmp_path):
    assert proxy.serving is not None
    (tmp_path / "ca.crt").write_bytes(proxy.serving.ca_pem)
    proxy.script(Fault("GET", r"^/ws$", DropWebSocket(after_bytes=5)))
    ws = websocket.create_connection(proxy.url.replace("https", "wss") + "/ws", subprotocols=["v5.channel.k8s.io"],
                                     sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(tmp_path / "ca.crt")})
    ws.send_binary(b"\x00abcdefgh")
    assert ws.recv() == b"echo:\x00abcd", "the frame that crossed the limit went on cut short"
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionResetError, ssl.SSLError)):
        ws.recv()
    assert proxy.records[-1].status == "dropped" and proxy.records[-1].body_bytes >= 5
