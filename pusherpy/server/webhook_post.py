"""One delivery attempt of a webhook batch to one endpoint: stamped, signed, sent with the endpoint's own headers and
timeout, never redirected; the outcome as an ``Attempt``, and what the console log shows of it.

``time_ms`` is stamped, and the body signed, at each attempt, so receivers' 5-minute freshness checks pass even after
retries. The endpoint's extra ``headers`` go first and the sender's own (content type, key, signature) last: the
settings refuse extra headers of those names (``protocol.webhooks.header_problem``), and these win regardless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from ..protocol import signing
from ..protocol.apps import AppConfig, WebhookTarget
from ..protocol.console import LogEntry, LogKind, preview_of
from ..protocol.webhooks import KEY_HEADER, SIGNATURE_HEADER, WebhookBatch, WebhookEvent, encode_batch
from .broker.base import now_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """What one POST came to."""

    status: int | None
    """The receiver's HTTP status; None when it never answered (refused, reset, timed out)."""
    problem: str | None
    """None when the receiver took the batch (2xx); else what went wrong, fit for a log line."""
    body: bytes
    """The signed body that was sent."""
    location: str = ""
    """Where a redirect pointed (redirects are not followed)."""


async def post_batch(
    session: aiohttp.ClientSession, app: AppConfig, target: WebhookTarget, events: Sequence[WebhookEvent]
) -> Attempt:
    """POST one batch once to ``target``, within its ``timeout_seconds``."""
    body = encode_batch(WebhookBatch(time_ms=now_ms(), events=list(events)))
    headers = {
        **dict(target.headers),
        "Content-Type": "application/json",
        KEY_HEADER: app.key,
        SIGNATURE_HEADER: signing.sign_webhook(app.secret, body),
    }
    timeout = aiohttp.ClientTimeout(total=target.timeout_seconds)
    try:
        # A redirect is not followed: it would take the signed body, or a GET without it, to wherever the receiver
        # (or whoever answers in its name) points, credentials of the URL and extra headers included.
        async with session.post(
            target.url, data=body, headers=headers, allow_redirects=False, timeout=timeout
        ) as response:
            status = response.status
            if 200 <= status < 300:
                return Attempt(status=status, problem=None, body=body)
            if 300 <= status < 400:
                location = response.headers.get("Location", "")
                return Attempt(
                    status=status, problem=f"HTTP {status}: redirects are not followed", body=body, location=location
                )
            return Attempt(status=status, problem=f"HTTP {status}", body=body)
    except TimeoutError:
        return Attempt(status=None, problem=f"no answer within {target.timeout_seconds:g} s", body=body)
    except aiohttp.ClientError as error:
        return Attempt(status=None, problem=type(error).__name__, body=body)


def log_entry(
    kind: LogKind, app_id: str, shown_url: str, events: Sequence[WebhookEvent], outcome: str, attempt: Attempt | None
) -> LogEntry:
    """The console entry of a delivery, a retry or a give-up: the URL as logs show it (no credentials; the extra
    headers never appear), the events' names, their channel when they share one, the outcome, and for an attempt
    the receiver's status and the body sent (its size and a preview)."""
    channels = {event.channel for event in events}
    return LogEntry(
        kind=kind,
        app_id=app_id,
        at_ms=now_ms(),
        channel=channels.pop() if len(channels) == 1 else "",
        event=",".join(sorted({event.name for event in events})),
        size=None if attempt is None else len(attempt.body),
        preview="" if attempt is None else preview_of(attempt.body.decode()),
        code=None if attempt is None else attempt.status,
        message=f"{shown_url}: {len(events)} events, {outcome}",
    )
