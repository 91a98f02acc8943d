"""Real clusters for the scale-out tests: Redis (one ``redis-server``, or a 3-shard Redis Cluster of them) and
several ``pusherpy serve`` processes.

Each node is started as a user would (``python -m pusherpy serve --port 0 --config cluster.toml``) and found by
the "pusherpy listening on http://127.0.0.1:PORT" line it prints. A ``Node`` has what ``tests.helpers``'
``connect``/``trigger``/``api_request`` need from a server (``app``, ``http_url``, ``ws_url``), so the same DSL talks
to every node. Waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from pusherpy.protocol.apps import AppConfig
from tests.helpers import PusherClient, make_app, post_endpoint

MAIN_APP = make_app(enable_subscription_count=True)
"""id 4242: subscription_count on, webhooks to the cluster's receiver."""
QUOTA_APP = make_app(id="4343", key="quota-key", secret="quota-secret", max_connections=3)
SMALL_ROOM_APP = make_app(id="4444", key="small-room-key", secret="small-room-secret", max_presence_members=2)
KEPT_SIZE = 20
"""Events the main app keeps per ``*kept-*`` and ``rewound-*`` channel (its history rules)."""
REWIND = 3
"""The latest events a new subscriber of a ``rewound-*`` channel gets first."""
BUS_SHARDS = 8
"""Sharded bus channels on a Redis Cluster (fewer than the default 16, to keep the tests' Redis small)."""
HEARTBEAT_SECONDS = 0.5
TTL_SECONDS = 3.0  # a node starved of CPU for 2 s on a loaded CI machine must not look dead
START_DEADLINE = 15.0
LISTENING = re.compile(r"pusherpy listening on http://127\.0\.0\.1:(\d+)")
_STARTED: list[asyncio.subprocess.Process] = []


@atexit.register
def _kill_leftovers() -> None:
    """Never leave a redis-server or node running, even when a test run is cut short before teardown."""
    for process in _STARTED:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


def free_port() -> int:
    """A port that was free a moment ago (redis-server cannot bind port 0 and report it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


async def drain(client: PusherClient, within: float = 0.4) -> list[dict[str, Any]]:
    """Everything a client has received, waiting ``within`` seconds for more (to check what did *not* arrive)."""
    messages, client.backlog = list(client.backlog), []
    deadline = time.monotonic() + within
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            messages.append(await client.receive(remaining))
        except TimeoutError:
            break
    return messages


def named(messages: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [message for message in messages if message["event"] == event]


async def dump_keys(clients: list[Redis], prefix: str) -> dict[str, Any]:
    """Every key of the deployment with this prefix (not of one whose prefix merely starts with it), with its
    contents: a string, a hash as a dict, a set or sorted set as a sorted list."""
    found: dict[str, Any] = {}
    for client in clients:
        async for key in client.scan_iter(match=f"*{prefix}*"):
            if f"{prefix}-" in key:
                continue
            kind = await client.type(key)
            if kind == "hash":
                found[key] = await client.hgetall(key)
            elif kind == "set":
                found[key] = sorted(await client.smembers(key))
            elif kind == "zset":
                found[key] = sorted(await client.zrange(key, 0, -1))
            elif kind == "stream":
                found[key] = [fields for _, fields in await client.xrange(key)]
            else:
                found[key] = await client.get(key)
    return found


class RedisServer:
    """A throwaway ``redis-server`` without persistence: a restart loses every key, as a crash would."""

    is_cluster = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def options(self) -> list[str]:
        """More ``redis-server`` options (TLS, users), for subclasses."""
        return []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            *self.options(),
            stdout=asyncio.subprocess.PIPE,
        )
        _STARTED.append(self.process)
        assert self.process.stdout is not None
        await _read_until(self.process.stdout, re.compile("Ready to accept connections"), "redis-server start")

    async def kill(self) -> None:
        """Crash it: SIGKILL, no goodbye to clients."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Make it unreachable without closing any connection (SIGSTOP)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> Redis:
        return Redis.from_url(self.url, decode_responses=True)

    async def dump(self, prefix: str) -> dict[str, Any]:
        """Every key pusherpy keeps under ``prefix``, with its contents."""
        client = self.client()
        try:
            return await dump_keys([client], prefix)
        finally:
            await client.aclose()


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisClusterServer:
    """A throwaway 3-primary Redis Cluster without persistence (each shard forgets its keys when restarted, but keeps
    its slots: ``nodes.conf``), with ``replicas`` replicas per primary. Offers ``RedisServer``'s methods, which act on
    every shard."""

    is_cluster = True
    shard_count = 3

    def __init__(self, workdir: Path, *, replicas: int = 0) -> None:
        self.workdir = workdir
        self.replicas = replicas
        # A replica takes over 2 s after its primary fails; without replicas, a shard may be down for 5 s before Redis
        # declares the whole cluster down.
        self.node_timeout_ms = 2000 if replicas else 5000
        self.ports = [free_cluster_port() for _ in range(self.shard_count * (1 + replicas))]
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.created = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    @property
    def port(self) -> int:
        """The port a node is pointed at (any primary would do)."""
        return self.ports[0]

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        """A shard's process while any runs (what the fixtures' teardown checks)."""
        return next(iter(self.processes.values()), None)

    def shard_options(self, port: int) -> list[str]:
        """More ``redis-server`` options for the shard on ``port`` (TLS), for subclasses."""
        return []

    def create_command(self) -> list[str]:
        """``redis-cli`` options and the shard addresses that join the shards into one cluster."""
        return [f"127.0.0.1:{port}" for port in self.ports]

    async def start_shard(self, port: int) -> None:
        directory = self.workdir / f"shard-{port}"
        directory.mkdir(exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            *self.shard_options(port),
            stdout=asyncio.subprocess.PIPE,
        )
        _STARTED.append(process)
        self.processes[port] = process
        assert process.stdout is not None
        await _read_until(process.stdout, re.compile("Ready to accept connections"), f"redis cluster shard {port}")

    async def start(self) -> None:
        """Start every shard; the first time, join them into one cluster. Returns once the cluster serves."""
        await asyncio.gather(*(self.start_shard(port) for port in self.ports if port not in self.processes))
        if not self.created:
            create = await asyncio.create_subprocess_exec(
                "redis-cli",
                "--cluster",
                "create",
                *self.create_command(),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await create.communicate()
            assert create.returncode == 0, output.decode()
            self.created = True
        await self.wait_ready()

    async def wait_ready(self) -> None:
        async def ok() -> bool:
            for port in self.processes:
                client = Redis(host="127.0.0.1", port=port, decode_responses=True)
                try:
                    if (await client.execute_command("CLUSTER INFO")).get("cluster_state") != "ok":
                        return False
                    replication = await client.info("replication")
                    if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                        return False  # a replica that never synced could not take over
                except OSError:
                    return False
                except Exception:  # noqa: BLE001 - not ready yet, in whatever form redis-py reports it
                    return False
                finally:
                    await client.aclose()
            return True

        await eventually(ok, timeout=START_DEADLINE, what="the Redis Cluster reporting cluster_state:ok")

    async def kill_shard(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        await process.wait()

    async def kill(self) -> None:
        for port in list(self.processes):
            await self.kill_shard(port)

    def pause(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)

    def client(self) -> RedisCluster:
        """A cluster client that starts from a running shard (the nodes were pointed at the first one, which a test
        may have killed)."""
        port = next(iter(self.processes), self.ports[0])
        return RedisCluster(host="127.0.0.1", port=port, decode_responses=True)

    @staticmethod
    def bus_channels(prefix: str) -> list[str]:
        """The sharded bus channels pusherpy nodes with this prefix use (``BUS_SHARDS`` of them)."""
        return [f"{{{prefix}:bus:{index}}}" for index in range(BUS_SHARDS)]

    async def shard_subscriptions(self, prefix: str) -> dict[str, int]:
        """Every running shard's sharded subscriptions under ``prefix``: channel -> subscribers. Checks on the way
        that no shard has a classic pub/sub subscription at all."""
        found: dict[str, int] = {}
        for port in self.processes:
            shard = self.shard_client(port)
            try:
                assert await shard.execute_command("PUBSUB CHANNELS") == []
                for channel in await shard.execute_command("PUBSUB SHARDCHANNELS", f"{{{prefix}:*"):
                    [(_, subscribers)] = await shard.pubsub_shardnumsub(channel)
                    found[channel] = found.get(channel, 0) + int(subscribers)
            finally:
                await shard.aclose()
        return found

    def shard_client(self, port: int) -> Redis:
        return Redis(host="127.0.0.1", port=port, decode_responses=True)

    async def dump(self, prefix: str) -> dict[str, Any]:
        """Every key pusherpy keeps under ``prefix`` on any running shard, with its contents."""
        clients = [self.shard_client(port) for port in self.processes]
        try:
            return await dump_keys(clients, prefix)
        finally:
            for client in clients:
                await client.aclose()


@dataclass
class Node:
    """One ``pusherpy serve`` process."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    apps: tuple[AppConfig, ...] = (MAIN_APP, QUOTA_APP, SMALL_ROOM_APP)
    host: str = "127.0.0.1"

    @property
    def app(self) -> AppConfig:
        return self.apps[0]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, key: str | None = None, **query: str) -> str:
        params = {"protocol": "7", "client": "js", "version": "8.4.0", **query}
        return f"ws://{self.host}:{self.port}/app/{key or self.app.key}?" + "&".join(
            f"{k}={v}" for k, v in params.items()
        )

    async def health(self) -> int:
        async with aiohttp.ClientSession() as session, session.get(self.http_url + "/up") as response:
            return response.status

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


@dataclass
class WebhookReceiver:
    """Collects the webhook events the nodes send (every request's ``events``)."""

    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def count(self, name: str, channel: str, user_id: str | None = None) -> int:
        return sum(
            1
            for event in self.events
            if event["name"] == name and event["channel"] == channel and event.get("user_id") == user_id
        )

    async def handle(self, request: web.Request) -> web.Response:
        self.events.extend((await request.json())["events"])
        return web.json_response({})


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    async with post_endpoint("/hooks", receiver.handle) as url:
        receiver.url = url
        yield receiver


def cluster_config(
    redis_url: str, prefix: str, webhook_url: str, *, redis_cluster: bool = False, history: str = ""
) -> str:
    """The nodes' TOML; ``history``: more ``[[apps.history]]`` rules for the main app, ahead of the usual ones."""
    sharding = f"redis_cluster = true\nredis_bus_shards = {BUS_SHARDS}" if redis_cluster else ""
    return f"""
{sharding}
redis_url = "{redis_url}"
redis_prefix = "{prefix}"
node_heartbeat_seconds = {HEARTBEAT_SECONDS}
node_ttl_seconds = {TTL_SECONDS}
webhook_delay_seconds = 0.1
webhook_batch_interval = 0.05
shutdown_timeout = 2

[[apps]]
id = "{MAIN_APP.id}"
key = "{MAIN_APP.key}"
secret = "{MAIN_APP.secret}"
enable_subscription_count = true

[[apps.webhooks]]
url = "{webhook_url}"
{history}

[[apps.history]]
channels = "*kept-*"
size = {KEPT_SIZE}
ttl_seconds = 600

[[apps.history]]
channels = "rewound-*"
size = {KEPT_SIZE}
ttl_seconds = 600
rewind = {REWIND}

[[apps]]
id = "{QUOTA_APP.id}"
key = "{QUOTA_APP.key}"
secret = "{QUOTA_APP.secret}"
max_connections = {QUOTA_APP.max_connections}

[[apps]]
id = "{SMALL_ROOM_APP.id}"
key = "{SMALL_ROOM_APP.key}"
secret = "{SMALL_ROOM_APP.secret}"
max_presence_members = {SMALL_ROOM_APP.max_presence_members}
"""


async def _read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str], what: str) -> re.Match[str]:
    deadline = time.monotonic() + START_DEADLINE
    seen: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{what}: no {pattern.pattern!r} in time; got {seen[-5:]}")
        line = (await asyncio.wait_for(stream.readline(), remaining)).decode()
        if not line:
            raise AssertionError(f"{what}: the process exited; got {seen[-5:]}")
        match = pattern.search(line)
        if match:
            return match
        seen.append(line)


@dataclass
class Cluster:
    redis: RedisServer | RedisClusterServer
    webhooks: WebhookReceiver
    prefix: str
    config: Path
    workdir: Path
    nodes: list[Node] = field(default_factory=list)
    started: int = 0
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def start_node(self, *, env: dict[str, str] | None = None, config: Path | None = None) -> Node:
        name = f"node{self.started}"
        self.started += 1
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the cluster
        self.stack.callback(log.close)
        args = ["--config", str(config or self.config)] if env is None else []
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pusherpy",
            "serve",
            "--port",
            "0",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
        _STARTED.append(process)
        assert process.stdout is not None
        try:
            match = await _read_until(process.stdout, LISTENING, f"{name} start")
        except AssertionError as error:
            log.flush()
            raise AssertionError(f"{error}; its log: {(self.workdir / f'{name}.log').read_text()[-2000:]}") from None
        node = Node(name, process, int(match.group(1)))
        self.nodes.append(node)
        self.stack.push_async_callback(node.stop)
        return node

    async def wait_all_healthy(self, timeout: float = 8.0) -> None:
        async def all_ok() -> bool:
            return all([await node.health() == 200 for node in self.nodes if node.process.returncode is None])

        await eventually(all_ok, timeout=timeout, what="every node reporting /up 200")


@asynccontextmanager
async def running_cluster(
    workdir: Path,
    nodes: int = 3,
    *,
    redis_cluster: bool = False,
    replicas: int = 0,
    redis: RedisServer | RedisClusterServer | None = None,
    history: str = "",
) -> AsyncIterator[Cluster]:
    """A fresh Redis (``redis_cluster``: a 3-shard Redis Cluster, with ``replicas`` per primary; or ``redis``, not
    started yet) and ``nodes`` pusherpy processes on it, started in parallel (``history``: see ``cluster_config``)."""
    async with AsyncExitStack() as stack:
        if redis is None:
            redis = RedisClusterServer(workdir, replicas=replicas) if redis_cluster else RedisServer(workdir)
        redis_cluster = redis.is_cluster
        await redis.start()

        async def stop_redis() -> None:
            if redis.process is not None:
                redis.resume()
                await redis.kill()

        stack.push_async_callback(stop_redis)
        receiver = await stack.enter_async_context(webhook_receiver())
        config = workdir / "cluster.toml"
        prefix = f"test-{secrets.token_hex(4)}"
        config.write_text(cluster_config(redis.url, prefix, receiver.url, redis_cluster=redis_cluster, history=history))
        cluster = Cluster(redis, receiver, prefix, config, workdir)
        await stack.enter_async_context(cluster.stack)
        await asyncio.gather(*(cluster.start_node() for _ in range(nodes)))
        cluster.nodes.sort(key=lambda node: node.name)
        yield cluster
