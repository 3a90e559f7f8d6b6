"""The node agent's kubelet API: exec over a TLS websocket (v4/v5.channel.k8s.io).

The apiserver forwards `pods/exec` here. Frames carry a leading channel byte:
0 stdin, 1 stdout, 2 stderr, 3 a JSON Status with the exit code, and in v5, 255 with
byte 0 to close stdin. A real CSM kubelet (< 1.30) speaks only v4, where stdin cannot be
closed; `exec-protocol v4` makes the sandbox behave the same.

In a Spilo pod the command runs against that cluster's real PostgreSQL: psql, pg_dumpall,
bash -c "…" and patronictl all find it through the libpq environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
import time
from pathlib import Path

from aiohttp import WSMsgType, web
from kubernetes import client

from . import podfs, registry, settings
from .kube import Api, meta, name_of, namespace_of, status_of, uid_of
from .paths import StateDir
from .pgserver import PgServer, pg_bin
from .procs import piped

log = logging.getLogger("sandbox.exec")

V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
CHUNK = 256 * 1024
STALL_POLL = 0.5  # how often a stalled exec looks whether its client is still there


def exec_protocols(state: StateDir) -> tuple[str, ...]:
    try:
        forced = state.exec_protocol.read_text().strip()
    except FileNotFoundError:
        forced = "auto"
    return (V4,) if forced == "v4" else (V5, V4)


def _status(rc: int | None, message: str = "") -> bytes:
    if rc == 0:
        body = {"metadata": {}, "status": "Success"}
    else:
        body = {"metadata": {}, "status": "Failure",
                "message": message or f"command terminated with non-zero exit code: exit status {rc}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}
    return bytes([ERROR]) + json.dumps(body).encode()


class ExecServer:
    def __init__(self, api: Api, state: StateDir):
        self.api, self.state = api, state
        self.shims = state.root / "shims"
        self._write_shims()

    def _write_shims(self) -> None:
        self.shims.mkdir(exist_ok=True)
        pkg_parent = Path(__file__).resolve().parent.parent
        shim = self.shims / "patronictl"
        shim.write_text(
            f"#!/bin/sh\nPYTHONPATH={pkg_parent}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"exec {sys.executable} -m pgrestore_sandbox.patronictl \"$@\"\n")
        shim.chmod(0o755)
        tar = self.shims / "tar"  # a client pod's `tar -C /…` works on its root folder (sandbox/podfs.py)
        tar.write_text(
            f"#!/bin/sh\nPYTHONPATH={pkg_parent}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"exec {sys.executable} -m pgrestore_sandbox.podfs \"$@\"\n")
        tar.chmod(0o755)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/exec/{ns}/{pod}/{container}", self.handle_exec)
        app.router.add_post("/exec/{ns}/{pod}/{container}", self.handle_exec)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.handle_logs)
        app.router.add_get("/healthz", self.handle_healthz)
        return app

    async def handle_healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def handle_logs(self, request: web.Request) -> web.Response:
        m = request.match_info
        kept = self.state.pod_log(m["ns"], m["pod"], m["container"])
        if kept.exists():  # a backup job's pod: what its program wrote
            return web.Response(text=kept.read_text())
        return web.Response(text=f"pgrestore sandbox: container {m['container']} of {m['ns']}/{m['pod']}\n")

    async def handle_exec(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        argv = request.query.getall("command", [])
        want_stdin = request.query.get("input") in ("1", "true")
        log.info("exec %s/%s %s: %s", m["ns"], m["pod"], m["container"], request.query_string[:200])
        try:
            pod = await asyncio.to_thread(self.api.core.read_namespaced_pod, m["pod"], m["ns"])
        except client.ApiException as e:
            return web.Response(status=e.status, text=f"pod {m['ns']}/{m['pod']}: {e.reason}")
        ws = web.WebSocketResponse(protocols=exec_protocols(self.state), max_msg_size=0,
                                   autoping=True, compress=False)
        await ws.prepare(request)
        v5 = ws.ws_protocol == V5
        try:
            if why := await self._stalled(pod, request):
                log.info("exec into %s not run: %s", name_of(pod), why)
                if not _client_gone(request):
                    await ws.send_bytes(_status(126, why))
                return ws
            env, cwd = await asyncio.to_thread(self._context, pod)
            await self._run(ws, argv, want_stdin, v5, env, cwd, self._rate(pod))
        except Exception as e:  # noqa: BLE001 - report to the client like a kubelet would
            log.exception("exec in %s/%s failed", m["ns"], m["pod"])
            if not ws.closed:
                await ws.send_bytes(_status(126, f"sandbox exec failed: {e}"))
        finally:
            await ws.close()
        return ws

    async def _stalled(self, pod: client.V1Pod, request: web.Request) -> str | None:
        """The exec-stall drill: say nothing for a while. Then why the command cannot run (None: it can).

        A kubelet resolves the pod's container when the request comes and has the runtime exec in that
        container (kubernetes pkg/kubelet/kubelet_pods.go GetExec: findContainer, then the runtime's GetExec
        by container ID, else `container not found (%q)`): if the pod is gone or was replaced (a new uid)
        when the stall ends, the command never starts. (It was looked up by name here
        once: a restore given up at its deadline in one test then replayed the part of its dump still
        buffered in the API server into the next test's cluster, two minutes on.) A client that went away meanwhile is
        seen only if the API server has closed our connection: it cannot while its copy of the client's
        stdin waits for us to read, exactly as in front of a real kubelet."""
        stall = settings.load(self.state).exec_stall_seconds
        if stall <= 0 or (meta(pod).labels or {}).get("application") != "spilo":
            return None
        log.info("exec into %s stalls for %.0fs (drill)", meta(pod).name, stall)
        until = time.monotonic() + stall
        while time.monotonic() < until and not _client_gone(request):
            await asyncio.sleep(min(STALL_POLL, max(0.0, until - time.monotonic())))
        if _client_gone(request):
            return "the client went away during the stall"
        try:
            now = await asyncio.to_thread(self.api.core.read_namespaced_pod, name_of(pod), namespace_of(pod))
        except client.ApiException as e:
            if e.status != 404:
                raise
            now = None
        if now is None or uid_of(now) != uid_of(pod):  # a terminating pod's container still runs: it may exec
            return f'container not found ("{request.match_info["container"]}"): pod {name_of(pod)} is gone'
        return None

    def _rate(self, pod: client.V1Pod) -> float:
        """The exec-rate drill (settings.exec_bytes_per_second), for Spilo pods only; 0: unlimited."""
        if (meta(pod).labels or {}).get("application") != "spilo":
            return 0.0
        return max(0.0, settings.load(self.state).exec_bytes_per_second)

    async def _run(self, ws, argv, want_stdin, v5, env, cwd, rate: float = 0.0) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd)
        except (FileNotFoundError, PermissionError, IndexError) as e:
            await ws.send_bytes(_status(127, f"OCI runtime exec failed: {e}"))
            return
        pumps = [asyncio.create_task(_pump_out(ws, piped(proc.stdout), STDOUT, rate)),
                 asyncio.create_task(_pump_out(ws, piped(proc.stderr), STDERR, rate))]
        feeder = asyncio.create_task(_pump_in(ws, proc, v5, rate)) if want_stdin else None
        rc = await proc.wait()
        await asyncio.gather(*pumps)
        if feeder:
            feeder.cancel()
        await ws.send_bytes(_status(rc))

    def _context(self, pod: client.V1Pod) -> tuple[dict, str]:
        labels = meta(pod).labels or {}
        env = {"PATH": f"{self.shims}:{Path(pg_bin('psql')).parent}:/usr/local/bin:/usr/bin:/bin",
               "LANG": "C.UTF-8", "HOSTNAME": name_of(pod)}
        home = self.state.root / "homes" / namespace_of(pod) / name_of(pod)
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
        cluster = labels.get("cluster-name") if labels.get("application") == "spilo" else None
        if cluster:
            entry = registry.load(self.state.clusters).get(registry.cluster_key(namespace_of(pod), cluster))
            if entry is None:
                raise RuntimeError(f"no database server for {cluster}")
            env.update(self._spilo_env(pod, cluster, entry))
        else:
            root = podfs.root_for(self.state, namespace_of(pod), labels.get("app.kubernetes.io/name", name_of(pod)))
            root.mkdir(parents=True, exist_ok=True)
            env["SANDBOX_POD_ROOT"] = str(root)
        return env, str(home)

    def _spilo_env(self, pod: client.V1Pod, cluster: str, entry: dict) -> dict:
        env = PgServer(Path(entry["datadir"]), entry["port"]).env()
        if name_of(pod) != entry["leader"]:
            # Only the member holding Patroni's leader key is writable; the others are standbys.
            env["PGOPTIONS"] = "-c default_transaction_read_only=on"
        members = self.api.core.list_namespaced_pod(
            namespace_of(pod), label_selector=f"application=spilo,cluster-name={cluster}").items
        env["PATRONI_CLUSTER"] = cluster
        live = sorted((p for p in members if not meta(p).deletion_timestamp), key=name_of)
        env["PATRONI_MEMBERS_JSON"] = json.dumps([_member(p, entry) for p in live])
        return env


def _member(pod: client.V1Pod, entry: dict) -> dict:
    """One row of `patronictl list`, from Patroni's facts (the DCS), not from pod labels."""
    leads = name_of(pod) == entry["leader"]
    ready = any(c.type == "Ready" and c.status == "True" for c in status_of(pod).conditions or [])
    if status_of(pod).phase != "Running":
        state = "stopped"
    elif ready:
        state = "running"
    else:
        state = "starting" if leads else "creating replica"
    return {"Member": name_of(pod), "Host": status_of(pod).pod_ip or "", "Role": "Leader" if leads else "Replica",
            "State": state, "TL": entry.get("timeline", 1)}


def _client_gone(request: web.Request) -> bool:
    """The connection to the API server closed (it closes it when the client does)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _slice(rate: float) -> int:
    """How much to pass at a time under the rate drill: a tenth of a second's worth."""
    return max(1, int(rate / 10)) if rate > 0 else CHUNK


async def _pump_out(ws: web.WebSocketResponse, stream: asyncio.StreamReader, channel: int, rate: float = 0.0) -> None:
    while chunk := await stream.read(_slice(rate)):
        await ws.send_bytes(bytes([channel]) + chunk)
        if rate > 0:
            await asyncio.sleep(len(chunk) / rate)


async def _pump_in(ws: web.WebSocketResponse, proc: asyncio.subprocess.Process, v5: bool, rate: float = 0.0) -> None:
    stdin = piped(proc.stdin)  # fed only when the exec asked for stdin
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data:
                channel, data = msg.data[0], msg.data[1:]
            elif msg.type == WSMsgType.TEXT and msg.data:
                # Clients that write str send text frames: the channel is the first character.
                channel, data = ord(msg.data[0]), msg.data[1:].encode()
            else:
                continue
            if channel == STDIN and data:
                step = _slice(rate) if rate > 0 else len(data)
                for i in range(0, len(data), step):
                    stdin.write(data[i:i + step])
                    await stdin.drain()
                    if rate > 0:
                        await asyncio.sleep(min(step, len(data) - i) / rate)
            elif v5 and channel == CLOSE and data[:1] == bytes([STDIN]):
                stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command exited before reading all its input
    finally:
        if not stdin.is_closing():
            stdin.close()


async def serve(server: ExecServer, port: int, pki: Path, stop_event) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "node.crt", pki / "node.key")
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx)
    await site.start()
    while not stop_event.is_set():
        await asyncio.sleep(0.5)
    await runner.cleanup()
