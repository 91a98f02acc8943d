"""Idempotent publishing, sans I/O: the ``idempotency_key`` rule, a claim's answer, and the bounded memory of keys
seen by one process.

A publisher that retries a trigger (after a timeout, a reset connection, a 5xx) cannot know whether the first
attempt was delivered; sending the same ``idempotency_key`` again lets the server answer the retry 200 without
delivering the event a second time. The first publish with a key *claims* it for the app's
``idempotency_window_seconds``; a repeat within the window is told the first one's reply when that is known.
Nothing here reads a clock: callers pass ``now`` (monotonic seconds).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

MAX_KEY_LENGTH: Final = 128
_KEY: Final = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_KEY_LENGTH}}}")
MAX_KEYS_PER_APP: Final = 100_000
"""Keys one process remembers per app (the oldest are dropped past it): publishers choose the keys, so without a
cap a client could grow the memory without bound. At 128 characters a key, about 30 MB per app at worst."""


def idempotency_key_problem(value: object) -> str | None:
    """Why ``value`` is not a valid ``idempotency_key`` (None when it is): a string of 1 to 128 characters of
    ``A-Z a-z 0-9 _ . : -``, which is safe in a Redis key and in a log line."""
    if not isinstance(value, str):
        return "idempotency_key must be a string"
    if _KEY.fullmatch(value) is None:
        return f"idempotency_key must be 1 to {MAX_KEY_LENGTH} characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'"
    return None


@dataclass(frozen=True, slots=True)
class PublishClaim:
    """The answer to claiming a key: the first publish with it (deliver, then settle), or a repeat (do not deliver).

    Attributes:
        first: this publish holds the key and must deliver the event.
        reply: for a repeat, the first publish's reply as it was settled (JSON text); None while the first is still
            being published, or when its reply was never stored.
    """

    first: bool
    reply: str | None = None


FIRST: Final = PublishClaim(first=True)


@dataclass(slots=True)
class _Seen:
    expires: float
    reply: str | None


class KeyMemory:
    """The keys claimed in this process, per app: each until its window ends, at most ``cap`` per app.

    Keys are kept in claim order; with one window per app that is also expiry order, so expired keys are dropped
    from the front as new ones come, and past ``cap`` the oldest key goes first (a very old repeat is then
    delivered again: the cap trades that for bounded memory).
    """

    def __init__(self, cap: int = MAX_KEYS_PER_APP) -> None:
        self.cap = max(1, cap)
        self._apps: dict[str, OrderedDict[str, _Seen]] = {}

    def claim(self, app_id: str, key: str, window: float, now: float) -> PublishClaim:
        """Claim ``key`` for ``window`` seconds: ``FIRST`` unless it was claimed within its window."""
        keys = self._apps.setdefault(app_id, OrderedDict())
        self._expire(keys, now)
        seen = keys.get(key)
        if seen is not None and seen.expires > now:
            return PublishClaim(first=False, reply=seen.reply)
        keys.pop(key, None)
        while len(keys) >= self.cap:
            keys.popitem(last=False)
        keys[key] = _Seen(now + window, None)
        return FIRST

    def settle(self, app_id: str, key: str, reply: str) -> None:
        """Store the first publish's reply for the repeats (nothing when the claim is gone: expired or dropped)."""
        keys = self._apps.get(app_id)
        seen = keys.get(key) if keys is not None else None
        if seen is not None:
            seen.reply = reply

    def release(self, app_id: str, key: str) -> None:
        """Forget a claim whose publish failed, so that a retry with the same key is delivered."""
        keys = self._apps.get(app_id)
        if keys is not None:
            keys.pop(key, None)

    def sizes(self) -> dict[str, int]:
        """Keys remembered per app (expired ones may linger until the app's next claim)."""
        return {app_id: len(keys) for app_id, keys in self._apps.items()}

    @staticmethod
    def _expire(keys: OrderedDict[str, _Seen], now: float) -> None:
        while keys:
            oldest = next(iter(keys.values()))
            if oldest.expires > now:
                return
            keys.popitem(last=False)
