"""The chat's access rules: bearer tokens for the API, and conversation channels for their members only.

Conversation 1 ("Team room") has Alice, Bob and Carol; conversation 2 ("Alice & Bob") has only Alice and Bob.
"""

from __future__ import annotations

import json

import aiohttp

from examples.chat.launcher import ChatStack
from tests.example.support import ChatUser, listener, logged_in

SOCKET_ID = "1234.5678"


async def test_login_with_a_wrong_password_gets_401(chat: ChatStack) -> None:
    async with aiohttp.ClientSession() as session:
        anonymous = ChatUser(session, chat.url, "alice")
        status, body = await anonymous.call("POST", "api/login", json_body={"username": "alice", "password": "nope"})
    assert (status, body) == (401, {"error": "wrong username or password"})


async def test_login_returns_a_token_that_identifies_the_user(chat: ChatStack) -> None:
    async with logged_in(chat, "bob") as bob:
        status, me = await bob.call("GET", "api/me")
    assert (status, me) == (200, {"id": "bob", "name": "Bob", "avatar": "/avatars/bob.svg"})


async def test_the_api_without_a_token_or_with_a_forged_one_gets_401(chat: ChatStack) -> None:
    async with aiohttp.ClientSession() as session:
        anonymous = ChatUser(session, chat.url, "nobody")
        assert (await anonymous.call("GET", "api/conversations/1/messages"))[0] == 401
        forged = ChatUser(session, chat.url, "alice", token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.forged")
        assert (await forged.call("GET", "api/conversations/1/messages"))[0] == 401
        assert (await forged.call("POST", "api/conversations/1/messages", json_body={"content": "hi"}))[0] == 401


async def test_a_user_sees_only_the_conversations_they_are_a_member_of(chat: ChatStack) -> None:
    async with logged_in(chat, "carol") as carol:
        status, conversations = await carol.call("GET", "api/conversations")
    assert status == 200
    assert [(c["id"], c["title"]) for c in conversations] == [(1, "Team room")]
    assert [m["id"] for m in conversations[0]["members"]] == ["alice", "bob", "carol"]


async def test_a_non_member_gets_403_on_the_messages_api(chat: ChatStack) -> None:
    async with logged_in(chat, "carol") as carol:
        read = await carol.call("GET", "api/conversations/2/messages")
        write = await carol.call("POST", "api/conversations/2/messages", json_body={"content": "let me in"})
    assert read == (403, {"error": "you are not a member of this conversation"})
    assert write == (403, {"error": "you are not a member of this conversation"})


async def test_a_non_member_gets_403_on_the_private_and_the_presence_channel(chat: ChatStack) -> None:
    async with logged_in(chat, "carol") as carol:
        private = await carol.authorize(SOCKET_ID, "private-conversation.2")
        presence = await carol.authorize(SOCKET_ID, "presence-conversation.2.presence")
    assert private[0] == 403
    assert presence[0] == 403


async def test_channel_auth_without_a_token_gets_401(chat: ChatStack) -> None:
    async with aiohttp.ClientSession() as session:
        anonymous = ChatUser(session, chat.url, "nobody")
        status, _ = await anonymous.authorize(SOCKET_ID, "private-conversation.1")
    assert status == 401


async def test_channels_of_unknown_or_malformed_conversations_are_refused(chat: ChatStack) -> None:
    async with logged_in(chat, "alice") as alice:
        assert (await alice.authorize(SOCKET_ID, "private-conversation.99"))[0] == 403
        assert (await alice.authorize(SOCKET_ID, "private-conversation.abc"))[0] == 403
        assert (await alice.authorize(SOCKET_ID, "private-somebody-else"))[0] == 403


async def test_a_member_joins_presence_with_id_name_and_avatar(chat: ChatStack) -> None:
    async with logged_in(chat, "alice") as alice:
        status, body = await alice.authorize(SOCKET_ID, "presence-conversation.2.presence")
    assert status == 200
    assert json.loads(body["channel_data"]) == {
        "user_id": "alice",
        "user_info": {"id": "alice", "name": "Alice", "avatar": "/avatars/alice.svg"},
    }


async def test_a_members_signature_is_accepted_by_pusherpy(chat: ChatStack) -> None:
    async with logged_in(chat, "bob") as bob, listener(chat) as socket:
        await socket.subscribe(bob, "private-conversation.2")
        await socket.subscribe(bob, "presence-conversation.2.presence")
