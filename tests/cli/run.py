"""Run ``pusherpy`` commands in child processes from async tests: one-shot commands, and ``listen`` read line by
line while it runs. Waits have deadlines; the child's environment has no Pusher credentials but those a test
gives, so the credential rules are tested, not the machine's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

DEADLINE = 20.0
"""A command starts Python and makes a request or two: seconds on a busy 2-core machine, not twenty."""
_CREDENTIAL_PREFIXES = ("PUSHER", "REVERB", "BROADCAST_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CREDENTIAL_PREFIXES)}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def pusherpy(
    *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None, cwd: str | None = None
) -> Result:
    """Run ``python -m pusherpy ARGS`` to its end and return its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), DEADLINE)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"pusherpy {' '.join(args)} did not end within {DEADLINE:g} s") from None
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


class Listener:
    """A running ``pusherpy listen --json``: read its JSON lines, stop it with SIGINT as Ctrl-C does."""

    def __init__(self, process: asyncio.subprocess.Process, as_json: bool) -> None:
        self.process = process
        self.as_json = as_json
        self.seen: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), DEADLINE)
        if not line:
            status = await self.process.wait()
            raise AssertionError(f"listen ended with status {status}: {await self.stderr()}")
        message: dict[str, Any] = json.loads(line)
        self.seen.append(message)
        return message

    async def text_line(self, stream: str = "stdout") -> str:
        """The next line of a text-mode listener's stdout or stderr."""
        reader = self.process.stdout if stream == "stdout" else self.process.stderr
        assert reader is not None
        line = await asyncio.wait_for(reader.readline(), DEADLINE)
        if not line:
            raise AssertionError(f"listen closed its {stream}: status {await self.process.wait()}")
        return line.decode().rstrip("\n")

    async def until(self, event: str, channel: str | None = None) -> dict[str, Any]:
        """Read lines until one with this event (on this channel); return it."""
        while True:
            message = await self.next()
            if message.get("event") == event and (channel is None or message.get("channel") == channel):
                return message

    async def subscribed(self, *channels: str) -> None:
        waiting = set(channels)
        while waiting:
            message = await self.until("pusher_internal:subscription_succeeded")
            waiting.discard(message["channel"])

    async def ended(self) -> tuple[int, str]:
        """Wait for the process to end by itself, reading the rest of its lines into ``seen``; return its status
        and stderr."""
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), DEADLINE)
        if self.as_json:
            self.seen.extend(json.loads(line) for line in rest.splitlines())
        status = await asyncio.wait_for(self.process.wait(), DEADLINE)
        return status, await self.stderr()

    async def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: SIGINT, then its status and stderr."""
        self.process.send_signal(signal.SIGINT)
        return await self.ended()

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await asyncio.wait_for(self.process.stderr.read(), DEADLINE)).decode()


@asynccontextmanager
async def listening(*args: str, env: Mapping[str, str] | None = None, as_json: bool = True) -> AsyncIterator[Listener]:
    """Start ``pusherpy listen --json ARGS`` (without ``--json``: read it with ``text_line``); kill it at the end
    if the test left it running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        "listen",
        *(["--json"] if as_json else []),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
    )
    try:
        yield Listener(process, as_json)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class DroppingRelay:
    """A TCP relay on 127.0.0.1 (a free port) to a server's port; ``drop()`` cuts every connection through it at
    once, without a close frame, as a network failure or a restarting proxy does. New connections still go through.

    ``downstream`` keeps what the server sent (unmasked WebSocket frames: its pings and pongs can be counted there;
    what a client sends is masked, RFC 6455 §5.3).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.pipes: set[asyncio.Task[None]] = set()
        self.downstream = bytearray()

    async def __aenter__(self) -> DroppingRelay:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.drop()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for pipe in self.pipes:
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    def drop(self) -> None:
        for transport in self.transports:
            transport.abort()
        self.transports.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.transports.update((client_writer.transport, server_writer.transport))
        for reader, writer, record in (
            (client_reader, server_writer, None),
            (server_reader, client_writer, self.downstream),
        ):
            pipe = asyncio.ensure_future(self._pipe(reader, writer, record))
            self.pipes.add(pipe)
            pipe.add_done_callback(self.pipes.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray | None) -> None:
        try:
            while chunk := await reader.read(65536):
                if record is not None:
                    record += chunk
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()
