"""A scripted fault-injecting reverse proxy (aiohttp), for the API server and for S3, on 127.0.0.1.

It forwards every request to its upstream and passes answers through as they come: watch streams
chunk by chunk, exec websockets frame by frame with the subprotocol the upstream chose
(v4/v5.channel.k8s.io), S3 bodies as they are read. A test scripts faults: each matches a method and
a regex on the path (and optionally on the query string and the headers), counts the requests it
matches, and acts on its nth match (and the `times - 1` after it):

- `Answer(503)`: answer with that status instead of forwarding (a Kubernetes Status or an S3 Error body);
- `Delay(3)`: forward after a delay;
- `Reset()`: reset the connection (TCP RST) without forwarding; `Reset(after_forward=True)` forwards,
  lets the upstream act, then resets instead of answering (the effect happened, the answer is lost);
- `Cut(after_bytes=N, after_seconds=T)`: forward, pass the body through, and reset the connection after
  N bytes of it or T seconds, whichever comes first (a watch stream or an S3 read dropped mid-way);
- `DropWebSocket(after_frames=N)` or `(after_bytes=N)`: relay a websocket and drop it (RST to the client,
  close upstream) after N frames or bytes from the client (stdin of an exec) or from the upstream.

Every request is recorded (`records`): method, path, query, status, which fault acted.
The proxy runs its own event loop in a daemon thread, so a test drives it from plain sync code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

from .tls import ServingCert, make_serving_cert

# Not forwarded either way: they describe one hop (RFC 9110 7.6.1), or aiohttp sets them itself.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "expect", "content-length", "host",
                        "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                        "sec-websocket-protocol", "sec-websocket-accept"})


# -- faults ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: float | None = None


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Reset:
    after_forward: bool = False


@dataclass(frozen=True)
class Cut:
    after_bytes: int | None = None
    after_seconds: float | None = None


@dataclass(frozen=True)
class DropWebSocket:
    after_frames: int | None = None
    after_bytes: int | None = None  # the frame that crosses it is passed on cut short
    from_client: bool = True


Action = Answer | Delay | Reset | Cut | DropWebSocket


@dataclass
class Fault:
    method: str  # "GET", "PATCH", ... or "*"
    path: str  # regex, searched in the path as sent (percent-encoded)
    action: Action
    nth: int = 1  # the first matching request it acts on (1 = the first)
    times: int | None = 1  # how many matching requests from the nth on; None: all of them
    query: str | None = None  # regex, searched in the query string
    when: Callable[[Mapping[str, str]], bool] | None = None  # on the request's headers
    label: str = ""
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> bool:
        return ((self.method == "*" or self.method == method) and re.search(self.path, path) is not None
                and (self.query is None or re.search(self.query, query) is not None)
                and (self.when is None or self.when(headers)))

    def take(self) -> bool:
        """Count one matching request; True if the fault acts on it."""
        self.seen += 1
        acts = self.seen >= self.nth and (self.times is None or self.seen < self.nth + self.times)
        self.fired += acts
        return acts

    def describe(self) -> str:
        return self.label or f"{type(self.action).__name__} on {self.method} {self.path}"


@dataclass
class Record:
    method: str
    path: str
    query: str
    started: float
    headers: dict[str, str] = field(default_factory=dict)
    websocket: bool = False
    fault: str | None = None
    status: int | str | None = None  # an HTTP status, or "reset" / "cut" / "dropped"
    body_bytes: int = 0

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query).get(name)
        return values[0] if values else None

    @property
    def watch(self) -> bool:
        return self.param("watch") in ("true", "1")


class _Dropped(Exception):
    pass


# -- the proxy ------------------------------------------------------------------------------------------
class FaultProxy:
    """Forwards to `upstream` (an http(s) URL). `flavor` shapes answered errors and what is kept:
    "kube" answers a Kubernetes Status; "s3" an S3 Error and keeps the Host header the client signed."""

    def __init__(self, upstream: str, flavor: Literal["kube", "s3"], upstream_ssl: ssl.SSLContext | None = None,
                 serving: ServingCert | None = None):
        self.upstream, self.flavor = upstream.rstrip("/"), flavor
        self.upstream_ssl, self.serving = upstream_ssl, serving
        self.port = 0
        self._faults: list[Fault] = []
        self._records: list[Record] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- from the test's thread ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.serving else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        started = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as e:  # noqa: BLE001 - handed to the starting thread
                failed.append(e)
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"fault-proxy-{self.flavor}", daemon=True)
        self._thread.start()
        started.wait(15)
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._thread = None

    def script(self, *faults: Fault) -> None:
        """Replace the faults; the records start afresh."""
        with self._lock:
            self._faults = list(faults)
            self._records = []

    def clear(self) -> None:
        self.script()

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def fired(self, fault: Fault) -> list[Record]:
        return [r for r in self.records if r.fault == fault.describe()]

    # -- on the proxy's loop -----------------------------------------------------------------------------
    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.upstream_ssl if self.upstream_ssl else False),
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"))
        app = web.Application(client_max_size=1 << 31)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0,
                           ssl_context=self.serving.server_context() if self.serving else None)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:  # handlers of connections a client left open
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def _match(self, request: web.Request) -> tuple[Record, Action | None]:
        rec = Record(request.method, request.rel_url.raw_path, request.rel_url.raw_query_string, time.monotonic(),
                     headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
                     websocket=request.headers.get("Upgrade", "").lower() == "websocket")
        action = None
        with self._lock:
            for f in self._faults:
                if f.matches(rec.method, rec.path, rec.query, request.headers) and f.take() and action is None:
                    action, rec.fault = f.action, f.describe()
            self._records.append(rec)
        return rec, action

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec, action = self._match(request)
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
        if isinstance(action, Answer):
            rec.status = action.status
            return self._answer(action)
        if isinstance(action, Reset) and not action.after_forward:
            await request.read()
            return self._reset(request, rec)
        if rec.websocket:
            return await self._relay_websocket(request, rec, action if isinstance(action, DropWebSocket) else None)
        return await self._forward(request, rec, action)

    def _answer(self, a: Answer) -> web.Response:
        headers = {"Retry-After": f"{a.retry_after:g}"} if a.retry_after is not None else {}
        reason = {409: "Conflict", 410: "Gone", 429: "TooManyRequests", 500: "InternalError",
                  502: "BadGateway", 503: "ServiceUnavailable", 504: "Timeout"}.get(a.status, "Failure")
        if self.flavor == "s3":
            code = {503: "SlowDown", 500: "InternalError", 409: "OperationAborted"}.get(a.status, reason)
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>injected by the fault proxy</Message></Error>").encode()
            return web.Response(status=a.status, body=body, headers={**headers, "Content-Type": "application/xml"})
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": f"injected by the fault proxy ({a.status})", "reason": reason, "code": a.status}
        return web.Response(status=a.status, body=json.dumps(status).encode(),
                            headers={**headers, "Content-Type": "application/json"})

    @staticmethod
    def _rst(transport: asyncio.BaseTransport | None) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox does; no TLS close_notify."""
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()  # type: ignore[attr-defined]

    def _reset(self, request: web.Request, rec: Record) -> web.StreamResponse:
        rec.status = "reset"
        self._rst(request.transport)
        raise asyncio.CancelledError  # aiohttp drops a handler cancelled with its connection gone

    def _upstream_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        if self.flavor == "s3":
            headers["Host"] = request.headers["Host"]  # SigV4 signed it as the client sent it
        return headers

    async def _forward(self, request: web.Request, rec: Record, action: Action | None) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        url = URL(self.upstream + request.rel_url.raw_path_qs, encoded=True)
        async with self._session.request(request.method, url, headers=self._upstream_headers(request),
                                         data=body if body or request.method in ("POST", "PUT", "PATCH") else None,
                                         allow_redirects=False) as up:
            if isinstance(action, Reset):  # after_forward: the upstream has acted; its answer is lost
                await up.read()
                return self._reset(request, rec)
            rec.status = up.status
            resp = web.StreamResponse(status=up.status, reason=up.reason)
            for k, v in up.headers.items():
                if k.lower() not in HOP_BY_HOP or k.lower() == "content-length":
                    resp.headers.add(k, v)
            await resp.prepare(request)
            try:
                return await self._pass_body(request, rec, up, resp, action if isinstance(action, Cut) else None)
            except ConnectionResetError:  # the client went away (a watch it stopped reading): nothing to say
                raise asyncio.CancelledError from None

    async def _pass_body(self, request: web.Request, rec: Record, up: aiohttp.ClientResponse,
                         resp: web.StreamResponse, cut: Cut | None) -> web.StreamResponse:
        cut_at = None if cut is None or cut.after_seconds is None else time.monotonic() + cut.after_seconds
        while True:
            try:
                timeout = None if cut_at is None else max(0.0, cut_at - time.monotonic())
                chunk = await asyncio.wait_for(up.content.readany(), timeout)
            except asyncio.TimeoutError:
                return self._cut(request, rec)
            if not chunk:
                break
            if cut is not None and cut.after_bytes is not None and rec.body_bytes + len(chunk) >= cut.after_bytes:
                part = chunk[: cut.after_bytes - rec.body_bytes]
                if part:
                    await resp.write(part)
                    rec.body_bytes += len(part)
                await asyncio.sleep(0.05)  # let those bytes reach the client before the reset
                return self._cut(request, rec)
            await resp.write(chunk)
            rec.body_bytes += len(chunk)
        await resp.write_eof()
        return resp

    def _cut(self, request: web.Request, rec: Record) -> web.StreamResponse:
        rec.status = "cut"
        self._rst(request.transport)
        raise asyncio.CancelledError

    async def _relay_websocket(self, request: web.Request, rec: Record,
                               drop: DropWebSocket | None) -> web.StreamResponse:
        assert self._session is not None
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        url = URL(self.upstream + request.rel_url.raw_path_qs, encoded=True)
        try:
            up = await self._session.ws_connect(url, protocols=offered, headers=self._upstream_headers(request),
                                                max_msg_size=0, compress=0, autoping=True)
        except aiohttp.WSServerHandshakeError as e:
            rec.status = e.status
            return web.Response(status=e.status, text=e.message)
        down = web.WebSocketResponse(protocols=[up.protocol] if up.protocol else (), max_msg_size=0,
                                     compress=False, autoping=True)
        await down.prepare(request)
        rec.status = 101
        frames, sizes = {"client": 0, "upstream": 0}, {"client": 0, "upstream": 0}
        dropping = "client" if drop is None or drop.from_client else "upstream"

        async def pump(src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
                       dst: aiohttp.ClientWebSocketResponse | web.WebSocketResponse, side: str) -> None:
            async for msg in src:
                if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    continue
                data = msg.data
                short = (drop is not None and side == dropping and drop.after_bytes is not None
                         and sizes[side] + len(data) >= drop.after_bytes)
                if short:
                    assert drop is not None and drop.after_bytes is not None
                    data = data[: drop.after_bytes - sizes[side]]
                if data:
                    await (dst.send_bytes(data) if isinstance(data, bytes) else dst.send_str(data))
                frames[side] += 1
                sizes[side] += len(data)
                rec.body_bytes += len(data)
                if short or (drop is not None and side == dropping and drop.after_frames is not None
                             and frames[side] >= drop.after_frames):
                    await asyncio.sleep(0.05)  # let what was passed on arrive before the drop
                    raise _Dropped

        to_up = asyncio.ensure_future(pump(down, up, "client"))
        to_down = asyncio.ensure_future(pump(up, down, "upstream"))
        try:
            done, _ = await asyncio.wait({to_up, to_down}, return_when=asyncio.FIRST_COMPLETED)
            if any(isinstance(t.exception(), _Dropped) for t in done if not t.cancelled()):
                rec.status = "dropped"
                self._rst(request.transport)
                await up.close()
                raise asyncio.CancelledError
            if to_down in done:  # the upstream closed: pass its close on
                await down.close(code=up.close_code or aiohttp.WSCloseCode.OK)
            else:  # the client closed
                await up.close()
            await asyncio.wait({to_up, to_down}, timeout=5)
        finally:
            for t in (to_up, to_down):
                t.cancel()
            if not up.closed:
                await up.close()
        return down


def kube_proxy(kubeconfig: Path, write_to: Path) -> FaultProxy:
    """A started proxy in front of the kubeconfig's API server (TLS both sides, the upstream checked
    against the kubeconfig's CA), and at write_to a copy of the kubeconfig that points at the proxy and
    trusts its CA; the same user (token) and context."""
    kc = yaml.safe_load(kubeconfig.read_text())
    context = next(c["context"] for c in kc["contexts"] if c["name"] == kc["current-context"])
    cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == context["cluster"])
    upstream_ssl = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    serving = make_serving_cert()
    proxy = FaultProxy(cluster["server"], "kube", upstream_ssl=upstream_ssl, serving=serving).start()
    cluster["server"] = proxy.url
    cluster["certificate-authority-data"] = base64.b64encode(serving.ca_pem).decode()
    write_to.write_text(yaml.safe_dump(kc))
    write_to.chmod(0o600)
    return proxy
