"""verify_webhook: typed events for a good webhook, a precise error for each way one can be bad."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from multidict import CIMultiDict

import pusherpy
import pusherpy.protocol.errors
import pusherpy.protocol.webhooks
import pusherpy.publisher.errors
import pusherpy.publisher.webhooks
from pusherpy.protocol import signing
from pusherpy.publisher import (
    Pusher,
    WebhookBatch,
    WebhookBodyInvalid,
    WebhookError,
    WebhookEvent,
    WebhookKeyMismatch,
    WebhookSignatureMismatch,
    WebhookTooOld,
    verify_webhook,
)

from .conftest import APP_ID, KEY, SECRET

NOW = 1_700_000_000.0


def webhook(events: list[dict[str, Any]], *, time_ms: int = int(NOW * 1000)) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"time_ms": time_ms, "events": events}).encode()
    headers = {"X-Pusher-Key": KEY, "X-Pusher-Signature": signing.sign_webhook(SECRET, body)}
    return headers, body


def verify(headers: Any, body: bytes | str, **kwargs: Any) -> WebhookBatch:
    return verify_webhook(headers, body=body, key=KEY, secret=SECRET, now=NOW, **kwargs)


def test_every_event_kind_is_parsed_into_typed_fields() -> None:
    headers, body = webhook(
        [
            {"name": "channel_occupied", "channel": "a"},
            {"name": "channel_vacated", "channel": "a"},
            {"name": "member_added", "channel": "presence-r", "user_id": "1"},
            {"name": "member_removed", "channel": "presence-r", "user_id": "1"},
            {
                "name": "client_event",
                "channel": "presence-r",
                "event": "client-x",
                "data": "{}",
                "socket_id": "1.2",
                "user_id": "1",
            },
            {"name": "cache_miss", "channel": "cache-a"},
            {"name": "subscription_count", "channel": "a", "subscription_count": 0},
        ]
    )
    batch = verify(headers, body)
    assert batch == WebhookBatch(
        time_ms=int(NOW * 1000),
        events=[
            WebhookEvent(name="channel_occupied", channel="a"),
            WebhookEvent(name="channel_vacated", channel="a"),
            WebhookEvent(name="member_added", channel="presence-r", user_id="1"),
            WebhookEvent(name="member_removed", channel="presence-r", user_id="1"),
            WebhookEvent(
                name="client_event", channel="presence-r", event="client-x", data="{}", socket_id="1.2", user_id="1"
            ),
            WebhookEvent(name="cache_miss", channel="cache-a"),
            WebhookEvent(name="subscription_count", channel="a", subscription_count=0),
        ],
    )


def test_headers_are_matched_case_insensitively_in_any_mapping() -> None:
    headers, body = webhook([])
    lower = {name.lower(): value for name, value in headers.items()}
    assert verify(lower, body).events == []
    assert verify(CIMultiDict(headers), body.decode()).events == []


def test_key_and_signature_can_be_passed_directly() -> None:
    headers, body = webhook([{"name": "channel_occupied", "channel": "a"}])
    batch = verify_webhook(
        headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body=body, key=KEY, secret=SECRET, now=NOW
    )
    assert batch.events[0].channel == "a"


def test_client_method_uses_its_own_credentials() -> None:
    headers, body = webhook([])
    assert Pusher(APP_ID, KEY, SECRET).verify_webhook(headers, body=body, now=NOW).time_ms == int(NOW * 1000)


def test_another_apps_key_is_rejected() -> None:
    headers, body = webhook([])
    headers["X-Pusher-Key"] = "other"
    with pytest.raises(WebhookKeyMismatch):
        verify(headers, body)


def test_missing_headers_are_rejected() -> None:
    headers, body = webhook([])
    with pytest.raises(WebhookKeyMismatch, match="X-Pusher-Key"):
        verify({"X-Pusher-Signature": headers["X-Pusher-Signature"]}, body)
    with pytest.raises(WebhookSignatureMismatch, match="X-Pusher-Signature"):
        verify({"X-Pusher-Key": KEY}, body)


def test_a_changed_body_fails_the_signature() -> None:
    headers, body = webhook([{"name": "channel_occupied", "channel": "a"}])
    with pytest.raises(WebhookSignatureMismatch):
        verify(headers, body.replace(b'"a"', b'"b"'))


def test_a_signature_under_another_secret_fails() -> None:
    headers, body = webhook([])
    headers["X-Pusher-Signature"] = signing.sign_webhook("other-secret", body)
    with pytest.raises(WebhookSignatureMismatch):
        verify(headers, body)


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_time_ms_more_than_300_s_away_is_stale(offset_s: int) -> None:
    headers, body = webhook([], time_ms=int((NOW + offset_s) * 1000))
    with pytest.raises(WebhookTooOld):
        verify(headers, body)
    assert verify(headers, body, max_age=400).events == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"events": []}',
        b'{"time_ms": "1", "events": []}',
        b'{"time_ms": 1700000000000, "events": {}}',
        b'{"time_ms": 1700000000000, "events": [1]}',
        b'{"time_ms": 1700000000000, "events": [{"name": "x"}]}',
        b'{"time_ms": 1700000000000, "events": [{"name": "x", "channel": "c", "subscription_count": "3"}]}',
        b'{"time_ms": 1700000000000, "events": [{"name": "x", "channel": "c", "socket_id": []}]}',
    ],
)
def test_signed_but_malformed_bodies_are_rejected(body: bytes) -> None:
    headers = {"X-Pusher-Key": KEY, "X-Pusher-Signature": signing.sign_webhook(SECRET, body)}
    with pytest.raises(WebhookBodyInvalid):
        verify(headers, body)


def test_errors_are_value_errors_under_one_base() -> None:
    for error in (WebhookKeyMismatch, WebhookSignatureMismatch, WebhookTooOld, WebhookBodyInvalid):
        assert issubclass(error, WebhookError)
        assert issubclass(error, ValueError)


def test_uses_the_system_clock_by_default() -> None:
    headers, body = webhook([], time_ms=int(time.time() * 1000))
    assert verify_webhook(headers, body=body, key=KEY, secret=SECRET).events == []


def test_the_types_headers_and_parser_are_the_protocol_s_re_exported() -> None:
    protocol = pusherpy.protocol.webhooks
    assert pusherpy.WebhookEvent is WebhookEvent is protocol.WebhookEvent
    assert pusherpy.WebhookBatch is WebhookBatch is protocol.WebhookBatch
    assert pusherpy.publisher.webhooks.KEY_HEADER == protocol.KEY_HEADER == "X-Pusher-Key"
    assert pusherpy.publisher.webhooks.SIGNATURE_HEADER == protocol.SIGNATURE_HEADER == "X-Pusher-Signature"
    headers, body = webhook([{"name": "member_added", "channel": "presence-r", "user_id": "1"}])
    assert pusherpy.publisher.webhooks.parse_webhook_body(body) == protocol.parse_batch(body) == verify(headers, body)


def test_the_webhook_errors_are_one_tree_shared_with_the_protocol() -> None:
    protocol = pusherpy.protocol.errors
    assert WebhookBodyInvalid is pusherpy.publisher.errors.WebhookBodyInvalid is protocol.WebhookBodyInvalid
    assert WebhookError is pusherpy.WebhookError is protocol.WebhookError
    assert issubclass(WebhookError, pusherpy.PusherpyError)
