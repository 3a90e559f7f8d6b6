"""The adapters' retry policy, through the fault proxy, against small upstreams of our own (fast layer).

The Kubernetes adapter talks to a fake API server that serves `postgresql` resources (list, watch with
resourceVersions, create, patch) and an exec that can end without a Status; the S3 adapter talks to
moto's server. The sandbox layer (tests/apply/test_faults.py) does the same with the real CLI.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from urllib.parse import parse_qs

import boto3
import pytest
from aiohttp import web

from pgrestore.adapters import kube as kube_adapter
from pgrestore.adapters import s3 as s3_adapter
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.errors import KubernetesError, S3Error, StepTimeout, Unreachable

from .proxy import Answer, Cut, Fault, FaultProxy, Reset

PG = "/apis/acid.zalan.do/v1/namespaces/ns/postgresqls"


class FakeApiServer:
    """Just enough of kube-apiserver for the adapter's postgresql calls and an exec."""

    def __init__(self) -> None:
        self.rv, self.pg, self.events = 1, None, []  # events: (rv, type, object)
        self.creates = self.patches = 0
        self.exec_status = True
        self.loop = asyncio.new_event_loop()
        self.changed: asyncio.Condition | None = None
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/kube-system", self._namespace)
        app.router.add_get(PG, self._list_or_watch)
        app.router.add_post(PG, self._create)
        app.router.add_patch(PG + "/{name}", self._patch)
        app.router.add_get("/api/v1/namespaces/ns/pods/{pod}/exec", self._exec)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    def set_pg(self, obj: dict | None) -> None:
        """Change the object (from the test's thread): a new resourceVersion and a watch event."""
        async def change() -> None:
            assert self.changed is not None
            async with self.changed:
                self.rv += 1
                kind = "DELETED" if obj is None else ("ADDED" if self.pg is None else "MODIFIED")
                if obj is not None:
                    obj["metadata"]["resourceVersion"] = str(self.rv)
                self.pg = obj
                self.events.append((self.rv, kind, obj or {"metadata": {"name": "db"}}))
                self.changed.notify_all()
        asyncio.run_coroutine_threadsafe(change(), self.loop).result(5)

    async def _namespace(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "Namespace", "apiVersion": "v1",
                                  "metadata": {"name": "kube-system", "uid": "uid-1"}})

    async def _list_or_watch(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            return web.json_response({"apiVersion": "acid.zalan.do/v1", "kind": "postgresqlList",
                                      "metadata": {"resourceVersion": str(self.rv)},
                                      "items": [self.pg] if self.pg else []})
        since = int(request.query["resourceVersion"])
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        deadline = time.monotonic() + int(request.query.get("timeoutSeconds", "5"))
        assert self.changed is not None
        try:
            while time.monotonic() < deadline:
                for rv, kind, obj in [e for e in self.events if e[0] > since]:
                    await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                    since = rv
                async with self.changed:
                    try:
                        await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

    async def _create(self, request: web.Request) -> web.Response:
        self.creates += 1
        body = await request.json()
        body["metadata"]["uid"] = f"uid-{self.creates}"
        return web.json_response(body, status=201)

    async def _patch(self, request: web.Request) -> web.Response:
        self.patches += 1
        return web.json_response({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                                  "metadata": {"name": request.match_info["name"]}, "spec": await request.json()})

    async def _exec(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        await ws.send_bytes(b"\x01hello\n")
        if self.exec_status:
            await ws.send_bytes(b'\x03{"metadata": {}, "status": "Success"}')
        await ws.close()
        return ws


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(kube_adapter, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(kube_adapter, "BACKOFF_CAP", 0.05)


@pytest.fixture(scope="module")
def api():
    return FakeApiServer()


@pytest.fixture(scope="module")
def proxy(api):
    p = FaultProxy(f"http://127.0.0.1:{api.port}", "kube").start()
    yield p
    p.stop()


@pytest.fixture
def kube(proxy, tmp_path) -> Kube:
    proxy.clear()
    config = tmp_path / "kubeconfig"
    config.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{proxy.url}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    return Kube(str(config))


def statuses(proxy: FaultProxy) -> list:
    return [r.status for r in proxy.records]


def test_a_read_is_retried_on_503_429_and_a_reset(kube, proxy):
    ns = "^/api/v1/namespaces/kube-system$"
    proxy.script(Fault("GET", ns, Answer(503)), Fault("GET", ns, Answer(429, retry_after=0.2), nth=2),
                 Fault("GET", ns, Reset(), nth=3))
    assert kube.cluster_identity()["kube_system_uid"] == "uid-1"
    assert statuses(proxy) == [503, 429, "reset", 200]
    assert proxy.records[2].started - proxy.records[1].started >= 0.2, "Retry-After"


def test_a_read_gives_up_after_five_attempts(kube, proxy):
    proxy.script(Fault("GET", "kube-system", Answer(500), times=None))
    with pytest.raises(KubernetesError, match=r"answered 500 .*\(tried 5 times\)"):
        kube.cluster_identity()
    assert statuses(proxy) == [500] * 5


def test_an_absolute_patch_is_sent_again_after_its_answer_was_lost(kube, proxy, api):
    before = api.patches
    proxy.script(Fault("PATCH", PG + "/db$", Reset(after_forward=True)))
    kube.set_instances("ns", "db", 3)
    assert statuses(proxy) == ["reset", 200] and api.patches == before + 2


def test_a_create_is_never_sent_again_once_it_may_have_landed(kube, proxy, api):
    before = api.creates
    proxy.script(Fault("POST", PG + "$", Reset(after_forward=True)))
    body = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": "db", "namespace": "ns"},
            "spec": {}}
    with pytest.raises(Unreachable):
        kube.create_postgresql(body)
    assert statuses(proxy) == ["reset"] and api.creates == before + 1


def test_a_create_is_sent_again_after_429_or_a_500_is_not(kube, proxy, api):
    body = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": "db", "namespace": "ns"},
            "spec": {}}
    proxy.script(Fault("POST", PG + "$", Answer(429)))
    kube.create_postgresql(body)
    assert statuses(proxy) == [429, 201]
    proxy.script(Fault("POST", PG + "$", Answer(500)))
    with pytest.raises(KubernetesError, match="answered 500"):
        kube.create_postgresql(body)
    assert statuses(proxy) == [500]


def _pg(status: str) -> dict:
    return {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "db", "namespace": "ns", "uid": "u"}, "status": {"PostgresClusterStatus": status}}


def _later(fn, delay: float = 0.3) -> threading.Thread:
    t = threading.Timer(delay, fn)
    t.start()
    return t


def running(pg: dict | None) -> bool:
    return pg is not None and pg["status"]["PostgresClusterStatus"] == "Running"


def test_a_watch_cut_mid_event_resumes_from_its_resource_version(kube, proxy, api):
    api.set_pg(_pg("Creating"))
    proxy.script(Fault("GET", PG + "$", Cut(after_bytes=20), query="watch=true"),
                 Fault("GET", PG + "$", Answer(500), nth=2, query="watch=true"))
    _later(lambda: api.set_pg(_pg("Running")))
    kube.wait_postgresql("ns", "db", running, "db Running", timeout=10)
    watches = [r for r in proxy.records if r.watch]
    assert [w.status for w in watches[:3]] == ["cut", 500, 200]
    assert len({w.param("resourceVersion") for w in watches[:3]}) == 1, "resumed from the same version"
    lists = [r for r in proxy.records if not r.watch]
    assert len(lists) == 2, "listed once at the start and once after the event, never after a break"


def test_a_watch_answered_410_lists_afresh(kube, proxy, api):
    api.set_pg(_pg("Creating"))
    proxy.script(Fault("GET", PG + "$", Answer(410), query="watch=true"))
    _later(lambda: api.set_pg(_pg("Running")))
    kube.wait_postgresql("ns", "db", running, "db Running", timeout=10)
    assert [(r.watch, r.status) for r in proxy.records][:3] == [(False, 200), (True, 410), (False, 200)]


def test_a_watch_that_keeps_breaking_fails_the_wait(kube, proxy, api):
    api.set_pg(_pg("Creating"))
    proxy.script(Fault("GET", PG + "$", Answer(503), query="watch=true", times=None))
    with pytest.raises(KubernetesError, match=r"answered 503 .*\(tried 5 times\)"):
        kube.wait_postgresql("ns", "db", running, "db Running", timeout=10)


def test_a_wait_still_ends_at_its_deadline(kube, proxy, api):
    api.set_pg(_pg("Creating"))
    t = time.monotonic()
    with pytest.raises(StepTimeout):
        kube.wait_postgresql("ns", "db", running, "db Running", timeout=1.5)
    assert time.monotonic() - t < 5


def test_an_exec_that_ends_without_its_status_is_an_error(kube, proxy, api):
    assert kube.exec("ns", "p", "c", ["true"]).returncode == 0
    api.exec_status = False
    try:
        with pytest.raises(KubernetesError, match="dropped before the command reported how it ended"):
            kube.exec("ns", "p", "c", ["true"])
    finally:
        api.exec_status = True


# -- S3 ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_s3():
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proxy = FaultProxy(f"http://{host}:{port}", "s3").start()
    s3 = S3(proxy.url, "key", "secret")
    s3.client.create_bucket(Bucket="backups")
    yield s3, proxy
    proxy.stop()
    server.stop()


def test_a_read_reset_mid_stream_resumes_with_range_and_if_match(moto_s3, monkeypatch):
    monkeypatch.setattr(s3_adapter, "_backoff", lambda attempt: 0.01)
    s3, proxy = moto_s3
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    s3.client.put_object(Bucket="backups", Key="dump.psql", Body=data)
    etag = s3.head("backups", "dump.psql").etag
    proxy.script(Fault("GET", "/backups/dump.psql$", Cut(after_bytes=1_500_000)),
                 Fault("GET", "/backups/dump.psql$", Cut(after_bytes=10), nth=2))
    assert b"".join(s3.stream("backups", "dump.psql")) == data
    first, second, third = proxy.records
    assert [r.status for r in proxy.records] == ["cut", "cut", 206]
    assert second.headers["Range"] == third.headers["Range"] == "bytes=1441792-"  # 22 pieces of 64 KiB
    assert third.headers["If-Match"] == f'"{etag}"'


def test_a_resumed_read_of_a_changed_object_is_refused(moto_s3, monkeypatch):
    s3, proxy = moto_s3
    s3.client.put_object(Bucket="backups", Key="moving.psql", Body=b"x" * 300_000)

    def replace(attempt: int) -> float:
        s3.client.put_object(Bucket="backups", Key="moving.psql", Body=b"y" * 300_000)
        return 0.0
    monkeypatch.setattr(s3_adapter, "_backoff", replace)
    proxy.script(Fault("GET", "/backups/moving.psql$", Cut(after_bytes=200_000)))
    with pytest.raises(S3Error, match="changed since it was planned"):
        b"".join(s3.stream("backups", "moving.psql"))


def test_a_read_that_keeps_breaking_fails(moto_s3, monkeypatch):
    monkeypatch.setattr(s3_adapter, "_backoff", lambda attempt: 0.0)
    s3, proxy = moto_s3
    s3.client.put_object(Bucket="backups", Key="flaky.psql", Body=b"z" * 300_000)
    proxy.script(Fault("GET", "/backups/flaky.psql$", Cut(after_bytes=10), times=None))
    with pytest.raises(S3Error, match="broke 5 times in a row"):
        b"".join(s3.stream("backups", "flaky.psql"))


def test_a_ranged_read_is_read_again(moto_s3, monkeypatch):
    monkeypatch.setattr(s3_adapter, "_backoff", lambda attempt: 0.0)
    s3, proxy = moto_s3
    s3.client.put_object(Bucket="backups", Key="tail.psql", Body=b"0123456789" * 100)
    proxy.script(Fault("GET", "/backups/tail.psql$", Cut(after_bytes=5)))
    assert s3.read_range("backups", "tail.psql", 990, 999) == b"0123456789"
    assert [r.status for r in proxy.records] == ["cut", 206]


# -- the multipart writer: parts sent while the next fills -------------------------------------------------
def _uploads(s3) -> list[str]:
    return [u["Key"] for u in s3.client.list_multipart_uploads(Bucket="backups").get("Uploads", [])]


def test_a_stream_written_in_pieces_arrives_whole_with_its_parts_in_order(moto_s3):
    """More parts than are sent at once, written in pieces that do not line up with them: the object is
    the bytes in the order written (a part sent early must not land out of place)."""
    s3, proxy = moto_s3
    part = s3_adapter.MultipartWriter.PART
    data = b"".join(bytes([i]) * 700_000 for i in range(40))  # 28 MB: 6 parts, 3 at a time
    writer = s3.writer("backups", "pieces.psql")
    for start in range(0, len(data), 333_333):
        writer.write(data[start:start + 333_333])
    obj = writer.close()
    assert obj.size == len(data)
    assert b"".join(s3.stream("backups", "pieces.psql")) == data
    numbers = [int(parse_qs(r.query)["partNumber"][0]) for r in proxy.records
               if r.method == "PUT" and "pieces.psql" in r.path and "partNumber" in r.query]
    assert sorted(numbers) == list(range(1, -(-len(data) // part) + 1))


def test_a_part_refused_mid_stream_fails_the_write_and_abort_leaves_no_object(moto_s3):
    s3, proxy = moto_s3
    proxy.script(Fault("PUT", "/backups/refused.psql$", Answer(403), query=r"(^|&)partNumber=2(&|$)"))
    writer = s3.writer("backups", "refused.psql")
    with pytest.raises(S3Error, match="upload part 2 of s3://backups/refused.psql"):
        for _ in range(40):
            writer.write(b"x" * 1_000_000)
        writer.close()
    writer.abort()
    with pytest.raises(S3Error, match="not found"):
        s3.head("backups", "refused.psql")
    assert "refused.psql" not in _uploads(s3)


# -- server-side copy (pin-backup) -------------------------------------------------------------------------
def test_a_copy_up_to_5_gib_is_one_copyobject_and_lands_whole(moto_s3):
    """A 20 MB backup uploaded as the backup job does (boto3 upload_fileobj: multipart from 8 MiB), then
    pinned: one CopyObject (not 3 UploadPartCopy), and the copy reads back whole."""
    s3, proxy = moto_s3
    data = bytes(range(256)) * 80_000
    backup_job = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="key",
                              aws_secret_access_key="secret", region_name="us-east-1")
    backup_job.upload_fileobj(io.BytesIO(data), "backups", "big.psql")
    planned = s3.head("backups", "big.psql").etag
    copied = s3.copy("backups", source="big.psql", target="pinned/big.psql", if_match=planned)
    assert copied.size == len(data) and b"".join(s3.stream("backups", "pinned/big.psql")) == data
    puts = [r for r in proxy.records if r.method == "PUT" and "pinned/big.psql" in r.path]
    assert len(puts) == 1 and "partNumber" not in puts[0].query  # one CopyObject, not 3 UploadPartCopy


def test_a_copy_over_the_threshold_goes_in_parts_and_lands_whole(moto_s3, monkeypatch):
    s3, proxy = moto_s3
    mib = 1024 * 1024
    monkeypatch.setattr(s3_adapter, "COPY_CONFIG", s3_adapter.TransferConfig(
        multipart_threshold=8 * mib, multipart_chunksize=5 * mib, max_concurrency=4))  # 5 GiB, 1 GiB scaled
    data = b"".join(bytes([i]) * mib for i in range(12))
    s3.client.put_object(Bucket="backups", Key="huge.psql", Body=data)
    s3.copy("backups", source="huge.psql", target="pinned/huge.psql", if_match=s3.head("backups", "huge.psql").etag)
    assert b"".join(s3.stream("backups", "pinned/huge.psql")) == data
    assert sum(1 for r in proxy.records if "pinned/huge.psql" in r.path and "partNumber" in r.query) == 3


def test_a_copy_of_a_backup_that_changed_since_the_plan_is_refused(moto_s3):
    s3, _ = moto_s3
    s3.client.put_object(Bucket="backups", Key="changed.psql", Body=b"planned")
    planned = s3.head("backups", "changed.psql").etag
    s3.client.put_object(Bucket="backups", Key="changed.psql", Body=b"replaced by a later backup run")
    with pytest.raises(S3Error, match="changed since it was planned"):
        s3.copy("backups", source="changed.psql", target="pinned/changed.psql", if_match=planned)
    with pytest.raises(S3Error, match="not found"):
        s3.head("backups", "pinned/changed.psql")
