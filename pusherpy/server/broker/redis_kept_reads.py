"""Reads of a kept channel's stream on behalf of one request: what a joining subscriber is replayed, and the history
API's pages. Both are decided by the pure ``protocol.history`` functions from what the stream holds."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from redis.exceptions import RedisError

from ...protocol.history import HistoryJoin, HistoryPage, HistoryRule, page, plan_join
from .base import HistoryUnavailable
from .redis_kept import KeptChannels
from .redis_store import OUTAGE_ERRORS
from .sequencer import Key

logger = logging.getLogger(__name__)


async def kept_join(kept: KeptChannels, key: Key, rule: HistoryRule, resume_after: int | None) -> HistoryJoin | None:
    """What a new subscriber of a kept channel gets first, decided by ``plan_join`` from what the stream holds; the
    caller registers the subscriber before its next ``await``. None while Redis is unreachable or refuses the read:
    the subscriber then gets no position, as on a channel that keeps nothing."""
    if not kept.healthy:
        return None
    try:
        if resume_after is not None:
            read = await kept.join_read(key, rule, after=resume_after, limit=rule.size)
        else:
            limit = rule.rewind or (rule.size if rule.rewind_seconds > 0 else 0)
            read = await kept.join_read(key, rule, after=None, limit=limit, max_age_seconds=rule.rewind_seconds)
    except OUTAGE_ERRORS as error:
        kept.outage(error)
        return None
    except RedisError as error:
        logger.warning("could not read the history of %s (%s): subscribed without a position", key[1], error)
        return None
    plan = plan_join(read.page.record(), rule, resume_after, time.time())
    return HistoryJoin(read.position, plan.replay + tuple(d.text for d in read.caught_up), plan.failed)


async def kept_page(kept: KeptChannels, key: Key, rule: HistoryRule, after: int | None, limit: int) -> HistoryPage:
    """The history API's answer from the stream, decided by ``page``.

    Raises:
        HistoryUnavailable: Redis cannot be reached.
    """
    if not kept.healthy:
        raise HistoryUnavailable
    try:
        found = await kept.history.read(*key, after=after, limit=limit, ttl_seconds=rule.ttl_seconds)
    except (*OUTAGE_ERRORS, RedisError):
        raise HistoryUnavailable from None
    if not found.exists:
        return page(None, after, limit)
    # The page read holds the events asked for; the stream's oldest is reported as it is.
    return replace(page(found.record(), after, limit), oldest=found.oldest)
