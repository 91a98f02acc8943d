"""Pusher and AsyncPusher against a real HTTP server that verifies every signature and records each request.

Every test taking ``client`` runs with both clients (the blocking one in a worker thread).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator

import pytest

from pusherpy.protocol.errors import ConfigError, InvalidState
from pusherpy.publisher import (
    AsyncPusher,
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    DataTooLarge,
    Forbidden,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PublishError,
    Pusher,
    ServerError,
    Timeout,
    TooManyRequests,
    UnexpectedStatus,
    decrypt,
)

from .conftest import APP_ID, KEY, MASTER_KEY_B64, SECRET, EitherClient, RecordingServer

MASTER_KEY = base64.b64decode(MASTER_KEY_B64)
GENERATED_KEY = re.compile(r"[A-Za-z0-9_-]{22}")


class TestTrigger:
    async def test_trigger_posts_signed_event_with_json_encoded_data(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        assert await client.call("trigger", "my-channel", "my-event", {"message": "hi"}) == {}
        (request,) = recording_server.requests
        assert (request.method, request.path) == ("POST", f"/apps/{APP_ID}/events")
        assert request.headers["Content-Type"] == "application/json"
        body = request.json
        assert GENERATED_KEY.fullmatch(body.pop("idempotency_key"))  # added because the client retries
        assert body == {"name": "my-event", "channels": ["my-channel"], "data": '{"message":"hi"}'}

    async def test_string_data_passes_through_unchanged(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call("trigger", ["a", "b"], "e", '{"already": "encoded"}')
        assert recording_server.requests[0].json["data"] == '{"already": "encoded"}'
        assert recording_server.requests[0].json["channels"] == ["a", "b"]

    async def test_socket_id_and_info_are_sent_and_the_answer_returned(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        answer = {"channels": {"presence-x": {"user_count": 2, "subscription_count": 3}}}
        recording_server.reply(200, answer)
        result = await client.call(
            "trigger", "presence-x", "e", "d", socket_id="1.2", info=["user_count", "subscription_count"]
        )
        assert result == answer
        body = recording_server.requests[0].json
        assert body["socket_id"] == "1.2"
        assert body["info"] == "user_count,subscription_count"

    async def test_more_than_100_channels_is_refused_before_sending(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        with pytest.raises(InvalidArgument, match="at most 100"):
            await client.call("trigger", [f"c{i}" for i in range(101)], "e", "d")
        await client.call("trigger", [f"c{i}" for i in range(100)], "e", "d")
        assert len(recording_server.requests) == 1

    @pytest.mark.parametrize(
        ("channels", "event", "match"),
        [
            ("bad channel", "e", "channel"),
            ("c" * 201, "e", "longer than 200"),
            ("ok", "", "event name"),
            ("ok", "e" * 201, "longer than 200"),
            ([], "e", "at least one channel"),
            ({"a": 1}, "e", "string or a list"),
        ],
    )
    async def test_invalid_arguments_raise_value_errors_with_the_reason(
        self, client: EitherClient, recording_server: RecordingServer, channels: object, event: str, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            await client.call("trigger", channels, event, "d")
        assert recording_server.requests == []

    async def test_bad_socket_id_is_refused(self, client: EitherClient) -> None:
        with pytest.raises(InvalidArgument, match="socket_id"):
            await client.call("trigger", "c", "e", "d", socket_id="abc")

    async def test_data_over_the_limit_raises_data_too_large_before_sending(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call("trigger", "c", "e", "x" * 10_240)
        with pytest.raises(DataTooLarge, match="10241 bytes"):
            await client.call("trigger", "c", "e", "x" * 10_241)
        with pytest.raises(DataTooLarge):
            await client.call("trigger", "c", "e", "é" * 5_121)  # counted in UTF-8 bytes
        assert len(recording_server.requests) == 1

    async def test_size_limit_is_configurable(self, recording_server: RecordingServer) -> None:
        with recording_server.pusher(max_data_size=100) as small:
            with pytest.raises(DataTooLarge):
                small.trigger("c", "e", "x" * 101)
        with recording_server.pusher(max_data_size=None) as unlimited:
            await asyncio.to_thread(unlimited.trigger, "c", "e", "x" * 50_000)
        assert len(recording_server.requests) == 1

    async def test_unserializable_data_is_an_invalid_argument(self, client: EitherClient) -> None:
        with pytest.raises(InvalidArgument, match="JSON"):
            await client.call("trigger", "c", "e", {"when": object()})

    async def test_encrypted_channel_data_decrypts_with_the_channel_key(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call("trigger", "private-encrypted-chat", "e", {"secret": "plans"})
        data = recording_server.requests[0].json["data"]
        assert set(json.loads(data)) == {"nonce", "ciphertext"}
        assert json.loads(decrypt("private-encrypted-chat", data, MASTER_KEY)) == {"secret": "plans"}

    async def test_encrypted_channel_must_be_alone(self, client: EitherClient) -> None:
        with pytest.raises(InvalidArgument, match="only channel"):
            await client.call("trigger", ["private-encrypted-a", "public"], "e", "d")

    async def test_encrypted_channel_without_master_key_is_a_config_error(
        self, recording_server: RecordingServer
    ) -> None:
        with recording_server.pusher() as pusher, pytest.raises(ConfigError, match="encryption_master_key"):
            pusher.trigger("private-encrypted-a", "e", "d")


class TestOtherEndpoints:
    async def test_trigger_batch_encodes_each_event(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call(
            "trigger_batch",
            [
                {"channel": "a", "name": "e1", "data": {"n": 1}},
                {"channel": "b", "name": "e2", "data": "raw", "socket_id": "1.1", "info": ["subscription_count"]},
                {"channel": "private-encrypted-c", "name": "e3", "data": "hidden"},
            ],
        )
        (request,) = recording_server.requests
        assert request.path == f"/apps/{APP_ID}/batch_events"
        first, second, third = request.json["batch"]
        keys = {first.pop("idempotency_key"), second.pop("idempotency_key"), third.pop("idempotency_key")}
        assert len(keys) == 3 and all(GENERATED_KEY.fullmatch(key) for key in keys)
        assert first == {"channel": "a", "name": "e1", "data": '{"n":1}'}
        assert second == {"channel": "b", "name": "e2", "data": "raw", "socket_id": "1.1", "info": "subscription_count"}
        assert decrypt("private-encrypted-c", third["data"], MASTER_KEY) == "hidden"

    async def test_batch_limits(self, client: EitherClient) -> None:
        with pytest.raises(InvalidArgument, match="at most 10"):
            await client.call("trigger_batch", [{"channel": "a", "name": "e", "data": "d"}] * 11)
        with pytest.raises(InvalidArgument, match="non-empty"):
            await client.call("trigger_batch", [])
        with pytest.raises(InvalidArgument, match=r"batch\[0\]"):
            await client.call("trigger_batch", [{"channel": "a", "data": "d"}])

    async def test_channels_info_sends_prefix_and_attributes_in_the_signed_query(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(200, {"channels": {"presence-a": {"user_count": 1}}})
        result = await client.call("channels_info", prefix="presence-", attributes=["user_count"])
        assert result == {"channels": {"presence-a": {"user_count": 1}}}
        (request,) = recording_server.requests
        assert (request.method, request.path, request.body) == ("GET", f"/apps/{APP_ID}/channels", b"")
        assert request.query["filter_by_prefix"] == "presence-"
        assert request.query["info"] == "user_count"

    async def test_channel_info_and_users_info(self, client: EitherClient, recording_server: RecordingServer) -> None:
        recording_server.reply(200, {"occupied": True, "subscription_count": 4})
        recording_server.reply(200, {"users": [{"id": "1"}]})
        assert await client.call("channel_info", "private-a", ["subscription_count"]) == {
            "occupied": True,
            "subscription_count": 4,
        }
        assert await client.call("users_info", "presence-room") == {"users": [{"id": "1"}]}
        first, second = recording_server.requests
        assert first.path == f"/apps/{APP_ID}/channels/private-a"
        assert first.query["info"] == "subscription_count"
        assert second.path == f"/apps/{APP_ID}/channels/presence-room/users"

    async def test_users_info_needs_a_presence_channel(self, client: EitherClient) -> None:
        with pytest.raises(InvalidArgument, match="presence"):
            await client.call("users_info", "private-a")

    async def test_send_to_user_triggers_the_server_to_user_channel(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call("send_to_user", "user-1", "notice", {"n": 1})
        body = recording_server.requests[0].json
        assert GENERATED_KEY.fullmatch(body.pop("idempotency_key"))
        assert body == {
            "name": "notice",
            "channels": ["#server-to-user-user-1"],
            "data": '{"n":1}',
        }
        with pytest.raises(InvalidArgument, match="user id"):
            await client.call("send_to_user", "bad id", "notice", {})

    async def test_terminate_user_connections_posts_under_the_app(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        await client.call("terminate_user_connections", "user-1")
        (request,) = recording_server.requests
        assert (request.method, request.path) == ("POST", f"/apps/{APP_ID}/users/user-1/terminate_connections")
        assert request.json == {}


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (400, BadRequest),
            (401, AuthenticationError),
            (403, Forbidden),
            (404, NotFound),
            (413, PayloadTooLarge),
            (422, BadRequest),
            (429, TooManyRequests),
            (500, ServerError),
            (503, ServerError),
            (418, UnexpectedStatus),
        ],
    )
    async def test_error_status_raises_typed_error_with_server_message(
        self, client: EitherClient, recording_server: RecordingServer, status: int, error: type[PublishError]
    ) -> None:
        for _attempt in range(4):  # the first send and the 3 retries a 429 or 5xx gets
            recording_server.reply(status, {"error": "the server says no"})
        with pytest.raises(error) as caught:
            await client.call("trigger", "c", "e", "d")
        assert len(recording_server.requests) == (4 if status == 429 or status >= 500 else 1)
        assert caught.value.status == status
        assert caught.value.message == "the server says no"  # type: ignore[attr-defined]
        assert isinstance(caught.value, PublishError)
        assert "the server says no" in str(caught.value)

    async def test_non_json_error_body_is_kept_as_text(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        for _attempt in range(4):
            recording_server.reply(502, "<html>Bad gateway</html>")
        with pytest.raises(ServerError, match="Bad gateway"):
            await client.call("channels_info")

    async def test_success_without_json_is_an_unexpected_status(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(200, "not json")
        with pytest.raises(UnexpectedStatus):
            await client.call("channels_info")

    async def test_a_refusal_sent_with_status_200_is_raised_as_that_refusal(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        # soketi 1.6 answers a bad signature with 200 and this body: read as a success, a refused publish looks sent
        recording_server.reply(200, {"error": "The secret authentication failed", "code": 401})
        with pytest.raises(AuthenticationError, match="The secret authentication failed") as caught:
            await client.call("trigger", "c", "e", "d")
        assert caught.value.status == 401

    async def test_a_success_that_merely_has_an_error_field_is_a_success(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(200, {"channels": {}, "error": "a field of some other meaning", "code": "x"})
        assert await client.call("channels_info") == {
            "channels": {},
            "error": "a field of some other meaning",
            "code": "x",
        }

    async def test_wrong_secret_gets_authentication_error(self, recording_server: RecordingServer) -> None:
        with Pusher(APP_ID, KEY, "wrong", host="127.0.0.1", port=recording_server.port, ssl=False) as pusher:
            with pytest.raises(AuthenticationError, match="auth_signature"):
                await asyncio.to_thread(pusher.trigger, "c", "e", "d")


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def hanging_up_port() -> AsyncIterator[int]:
    """A port that accepts connections and closes them at once."""

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


class TestTransportFailures:
    async def test_sync_timeout(self, silent_port: int) -> None:
        with Pusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=silent_port, ssl=False, timeout=0.2) as pusher:
            with pytest.raises(Timeout) as caught:
                await asyncio.to_thread(pusher.trigger, "c", "e", "d")
        assert caught.value.status == 0

    async def test_async_timeout(self, silent_port: int) -> None:
        async with AsyncPusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=silent_port, ssl=False, timeout=0.2) as p:
            with pytest.raises(Timeout):
                await p.trigger("c", "e", "d")

    async def test_sync_connection_failure(self, hanging_up_port: int) -> None:
        with Pusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=hanging_up_port, ssl=False) as pusher:
            with pytest.raises(ConnectionFailed) as caught:
                await asyncio.to_thread(pusher.trigger, "c", "e", "d")
        assert caught.value.status == 0
        assert isinstance(caught.value, PublishError)

    async def test_async_connection_failure(self, hanging_up_port: int) -> None:
        async with AsyncPusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=hanging_up_port, ssl=False) as p:
            with pytest.raises(ConnectionFailed):
                await p.trigger("c", "e", "d")


class TestConnections:
    async def test_sync_client_reuses_one_keep_alive_connection(self, recording_server: RecordingServer) -> None:
        with recording_server.pusher() as pusher:
            for _ in range(5):
                await asyncio.to_thread(pusher.trigger, "c", "e", "d")
        assert len({request.peer_port for request in recording_server.requests}) == 1

    async def test_sync_client_can_be_shared_by_threads(self, recording_server: RecordingServer) -> None:
        recording_server.delay = 0.01
        with recording_server.pusher() as pusher:
            await asyncio.gather(*(asyncio.to_thread(pusher.trigger, "c", "e", str(n)) for n in range(20)))
        assert sorted(int(request.json["data"]) for request in recording_server.requests) == list(range(20))

    async def test_sync_client_recovers_when_the_server_closed_an_idle_connection(
        self, recording_server: RecordingServer
    ) -> None:
        with recording_server.pusher() as pusher:
            await asyncio.to_thread(pusher.trigger, "c", "e", "1")
            # The server drops the idle keep-alive connection, as servers do after their idle timeout.
            transport = recording_server.requests[0].transport
            assert transport is not None
            transport.close()
            await asyncio.to_thread(pusher.trigger, "c", "e", "2")
        first, second = recording_server.requests
        assert [first.json["data"], second.json["data"]] == ["1", "2"]
        assert first.peer_port != second.peer_port

    async def test_async_client_reuses_one_connection_and_closes_its_session(
        self, recording_server: RecordingServer
    ) -> None:
        pusher = recording_server.async_pusher()
        async with pusher:
            for _ in range(5):
                await pusher.trigger("c", "e", "d")
        assert len({request.peer_port for request in recording_server.requests}) == 1
        with pytest.raises(InvalidState):
            await pusher.trigger("c", "e", "d")


def test_repr_never_shows_the_secret() -> None:
    assert SECRET not in repr(Pusher(APP_ID, KEY, SECRET))
