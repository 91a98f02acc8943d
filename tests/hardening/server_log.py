"""``assert_no_bug_logged(caplog)``: proof that a client's bytes, however hostile, never reached the log as a bug.

The servers of these tests run in the test's process, so their log records (pusherpy's, aiohttp's and the event
loop's own ``asyncio`` errors, where an exception escaping a protocol callback lands) are all in ``caplog``.
"""

from __future__ import annotations

import logging

import pytest


def assert_no_bug_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing at ERROR or above and no traceback at any level: bad input is the client's fault, not a bug."""
    for record in caplog.records:
        text = record.getMessage()
        assert record.levelno < logging.ERROR, f"{record.name} logged {record.levelname}: {text[:300]}"
        assert record.exc_info is None, f"{record.name} logged a traceback: {text[:300]}"
        assert "Traceback" not in text, f"{record.name} logged a traceback: {text[:300]}"
