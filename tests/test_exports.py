"""The public surface is explicit: pin it, so a name is never added or removed by accident."""

from __future__ import annotations

import pusherpy
import pusherpy.publisher


def test_top_level_exports_are_pinned() -> None:
    assert sorted(pusherpy.__all__) == sorted(
        [
            "ApiError", "AsyncPusher", "AuthenticationError", "BadRequest", "BroadcastAuth", "ChannelRules",
            "ConfigError", "ConnectionFailed", "ErrorCode", "Forbidden", "InvalidState", "NotFound",
            "PayloadTooLarge", "ProtocolError", "PublishError", "Pusher", "PusherpyError", "ReplyStream", "Timeout",
            "TooManyRequests", "WebhookBatch", "WebhookError", "WebhookEvent", "__version__",
            "broadcasting_routes", "verify_webhook",
        ]
    )  # fmt: skip


def test_every_exported_name_exists_and_the_library_names_are_the_publisher_s() -> None:
    for name in pusherpy.__all__:
        assert hasattr(pusherpy, name), name
    assert pusherpy.Pusher is pusherpy.publisher.Pusher
    assert pusherpy.AsyncPusher is pusherpy.publisher.AsyncPusher
    assert issubclass(pusherpy.TooManyRequests, pusherpy.PublishError)
