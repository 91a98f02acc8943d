"""The public names of pusherpy.publisher, pinned; and the package's independence from the server."""

from __future__ import annotations

import subprocess
import sys

import pusherpy.publisher as publisher

EXPECTED = {
    "AsyncPusher",
    "AuthResponse",
    "AuthenticationError",
    "BadRequest",
    "BroadcastAuth",
    "ChannelAuth",
    "ChannelHistory",
    "ChannelInfo",
    "ChannelRules",
    "ChannelsInfo",
    "ClientConfig",
    "ConnectionFailed",
    "DataTooLarge",
    "Forbidden",
    "HistoryEvent",
    "HistoryGone",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PublishError",
    "Pusher",
    "ReplyStream",
    "ResolvedRule",
    "ServerError",
    "Timeout",
    "TooManyRequests",
    "UnexpectedStatus",
    "UserAuth",
    "UsersInfo",
    "WebhookBatch",
    "WebhookBodyInvalid",
    "WebhookError",
    "WebhookEvent",
    "WebhookKeyMismatch",
    "WebhookSignatureMismatch",
    "WebhookTooOld",
    "auth_handlers",
    "bearer_token",
    "broadcasting_routes",
    "decrypt",
    "errors",
    "shared_secret",
    "strip_auth_prefix",
    "verify_webhook",
}


def test_all_is_pinned_and_every_name_exists() -> None:
    assert set(publisher.__all__) == EXPECTED
    for name in publisher.__all__:
        assert getattr(publisher, name) is not None


def test_publish_errors_share_the_protocol_base() -> None:
    from pusherpy.protocol.errors import PublishError

    for name in (
        "BadRequest",
        "AuthenticationError",
        "Forbidden",
        "NotFound",
        "HistoryGone",
        "PayloadTooLarge",
        "TooManyRequests",
        "ServerError",
        "UnexpectedStatus",
        "ConnectionFailed",
        "Timeout",
    ):
        assert issubclass(getattr(publisher, name), PublishError)
    assert issubclass(publisher.InvalidArgument, ValueError)


def test_publisher_never_imports_the_server() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pusherpy.server' or name.startswith('pusherpy.server.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pusherpy.publisher.sync_client, pusherpy.publisher.async_client, pusherpy.publisher.auth_aiohttp\n"
        "import pusherpy.publisher.stream, pusherpy.publisher.webhooks\n"
        "assert not [m for m in sys.modules if m.startswith('pusherpy.server')]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
