"""A one-second rate window: the counting behind every "at most N per second" rule.

Nothing here performs I/O or reads a clock: ``now`` is an argument.
"""

from __future__ import annotations


class RateWindow:
    """Counts events in a one-second window that opens at its first event.

    A window that opens at the first event, not on a whole second, never lets ``2 * limit`` events through in a
    moment that straddles a second boundary.

    Args:
        limit: events allowed per window; 0 or less means no limit.
    """

    __slots__ = ("limit", "opened_at", "allowed", "refused")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.opened_at = float("-inf")
        self.allowed = 0
        self.refused = 0
        """Events refused in the current window; lets a caller tell a burst from sustained abuse."""

    def allow(self, now: float) -> bool:
        """Count one event at ``now`` (seconds); False when it is over the limit (it is counted as refused)."""
        if self.limit <= 0:
            return True
        if now - self.opened_at >= 1.0:
            self.opened_at, self.allowed, self.refused = now, 0, 0
        if self.allowed >= self.limit:
            self.refused += 1
            return False
        self.allowed += 1
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until the current window closes (when a refused caller may try again)."""
        return max(0.0, self.opened_at + 1.0 - now)
