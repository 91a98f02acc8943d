"""``redacted_url``: what a log line, an error or a ``repr`` shows of a configured URL. The credentials go (the
userinfo's password, a lone userinfo word, every query value); what says which endpoint is meant stays."""

from __future__ import annotations

import pytest

from pusherpy.protocol.redact import redacted_url

SHOWN = [
    ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://pusherpy:s3cret@redis.internal:6380/2", "rediss://pusherpy:***@redis.internal:6380/2"),
    ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=***"),
    ("unix:///run/redis.sock?password=s3cret&db=1", "unix:///run/redis.sock?password=***&db=***"),
    ("unix://:s3cret@/run/redis.sock", "unix://:***@/run/redis.sock"),
    ("https://user:s3cret@hooks.example.com/pusher", "https://user:***@hooks.example.com/pusher"),
    ("https://s3cret@hooks.example.com/pusher", "https://***@hooks.example.com/pusher"),
    ("https://hooks.example.com/pusher?token=s3cret", "https://hooks.example.com/pusher?token=***"),
    ("https://hooks.example.com/pusher?s3cret", "https://hooks.example.com/pusher?***"),
    ("https://hooks.example.com/pusher#s3cret", "https://hooks.example.com/pusher"),
    ("https://user:pa@ss@hooks.example.com/", "https://user:***@hooks.example.com/"),
    ("http://[::1]:8000/hooks", "http://[::1]:8000/hooks"),
    ("http://127.0.0.1:8000/pusher/webhooks", "http://127.0.0.1:8000/pusher/webhooks"),
]


@pytest.mark.parametrize(("url", "shown"), SHOWN, ids=[url for url, _ in SHOWN])
def test_credentials_are_hidden_and_the_endpoint_stays_readable(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3c/ret@127.0.0.1:6379/0",  # an unescaped "/" ends the host early: "s3c" reads as a port
        "redis://:s3c?ret@127.0.0.1:6379/0",
        "http://[::1:s3cret@host/",
    ],
)
def test_a_url_that_cannot_be_read_is_hidden_whole_but_for_its_scheme(url: str) -> None:
    shown = redacted_url(url)
    assert "s3c" not in shown
    assert shown.endswith("://***")
