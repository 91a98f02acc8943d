"""When a failed HTTP API call is sent again, and after how long: one policy for both clients.

Why retry at all: a publish that meets a restarting server, a dropped keep-alive connection or a rate limit would
otherwise be lost unless every caller wrote its own loop. Why it is safe: a request is retried only when sending
it twice cannot deliver twice. GETs change nothing; ``POST /events`` and ``/batch_events`` are retried only when
every event carries an ``idempotency_key`` (the clients add one per call when the caller gave none), so the server
drops the copy. Other POSTs, and 4xx answers other than 429, are never retried.

Nothing here performs I/O or reads a clock: the clients sleep for the delay this module returns. The jitter's
random source is a parameter so a test can pin it.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from typing import Final

from pusherpy.protocol.errors import PublishError
from pusherpy.protocol.idempotency import idempotency_key_problem

from .config import DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF
from .errors import InvalidArgument

MAX_RETRY_DELAY: Final = 5.0
"""The longest wait before one retry, in seconds; a ``Retry-After`` above it is not waited for (the error is
raised at once, with ``retry_after``, for the caller to schedule)."""


def check_idempotency_key(key: object) -> str:
    """Return ``key`` when the server would take it (``idempotency_key_problem``, the one rule); raise
    ``InvalidArgument`` otherwise, before anything is sent."""
    problem = idempotency_key_problem(key)
    if problem is not None:
        raise InvalidArgument(f"{problem}, not {key!r}"[:300])
    assert isinstance(key, str)
    return key


def new_idempotency_key() -> str:
    """Return a fresh random key (22 URL-safe characters, 128 bits)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a client retries.

    Args:
        retries: how many times a failed request is sent again (0 turns retrying off).
        backoff: the base delay in seconds; retry ``n`` (from 0) waits a random time in
            ``[0, min(MAX_RETRY_DELAY, backoff * 2**n)]`` ("full jitter"), or the server's ``Retry-After`` when
            that is longer.
    """

    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_RETRY_BACKOFF

    def delay(self, error: PublishError, retry: int, rng: random.Random | None = None) -> float | None:
        """Return how long to wait before retry number ``retry`` (0 for the first) after ``error``, or None when
        the error must be raised: retries used up, an error that sending again cannot fix, or a ``Retry-After``
        longer than ``MAX_RETRY_DELAY``.

        The caller checks first that the request itself is safe to send twice.
        """
        if retry >= self.retries or not getattr(error, "retryable", False):
            return None
        ceiling = min(MAX_RETRY_DELAY, self.backoff * 2**retry)
        wait = (rng or _RANDOM).uniform(0, ceiling)
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > MAX_RETRY_DELAY:
                return None
            wait = max(wait, retry_after)
        return wait


_RANDOM: Final = random.Random()
