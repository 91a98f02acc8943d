"""What ``Pusher`` and ``AsyncPusher`` share: construction, and every method that needs no network.

The two clients differ only in how a request travels (http.client or aiohttp), so the constructors, the signing
of auth responses and webhook verification are written once here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pusherpy.protocol.errors import ConfigError, PublishError

from .api import ApiRequest, ApiRequests
from .authorization import ChannelAuth, UserAuth, authenticate_user, authorize_channel, check_channel
from .config import DEFAULT_MAX_DATA_SIZE, DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT, ClientConfig
from .crypto import shared_secret
from .errors import InvalidArgument
from .retry import RetryPolicy
from .webhooks import DEFAULT_MAX_AGE, WebhookBatch, verify_webhook


class ClientBase:
    """Construction and the offline half of the publisher API; see ``Pusher`` for the arguments."""

    config: ClientConfig
    _requests: ApiRequests
    _retry: RetryPolicy

    def __init__(
        self,
        app_id: str | int,
        key: str,
        secret: str,
        *,
        host: str | None = None,
        port: int | None = None,
        path: str = "",
        scheme: str | None = None,
        ssl: bool | None = None,
        cluster: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_data_size: int | None = DEFAULT_MAX_DATA_SIZE,
        encryption_master_key_base64: str | None = None,
    ) -> None:
        config = ClientConfig.build(
            app_id,
            key,
            secret,
            host=host,
            port=port,
            path=path,
            scheme=scheme,
            ssl=ssl,
            cluster=cluster,
            timeout=timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            max_data_size=max_data_size,
            encryption_master_key_base64=encryption_master_key_base64,
        )
        self._setup(config)

    def _setup(self, config: ClientConfig) -> None:
        """Store the config; subclasses extend this to create their transport."""
        self.config = config
        self._requests = ApiRequests(config)
        self._retry = RetryPolicy(config.retries, config.retry_backoff)

    def _retry_delay(self, request: ApiRequest, error: PublishError, retry: int) -> float | None:
        """Return how long to wait before sending ``request`` again after ``error``, or None to raise it."""
        if not request.retry_safe:
            return None
        return self._retry.delay(error, retry)

    @classmethod
    def from_config(cls, config: ClientConfig) -> Self:
        """Build a client from a ready ``ClientConfig``."""
        client = cls.__new__(cls)
        client._setup(config)
        return client

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_data_size: int | None = DEFAULT_MAX_DATA_SIZE,
        encryption_master_key_base64: str | None = None,
    ) -> Self:
        """Build a client from ``http(s)://key:secret@host[:port]/apps/ID``.

        Raises:
            ConfigError: the URL is incomplete.
        """
        return cls.from_config(
            ClientConfig.from_url(
                url,
                timeout=timeout,
                retries=retries,
                retry_backoff=retry_backoff,
                max_data_size=max_data_size,
                encryption_master_key_base64=encryption_master_key_base64,
            )
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_data_size: int | None = DEFAULT_MAX_DATA_SIZE,
    ) -> Self:
        """Build a client from ``PUSHERPY_URL``/``PUSHER_URL`` or a Laravel app's variables (``PUSHER_APP_ID``… or
        ``REVERB_APP_ID``…), from ``environ`` (``os.environ`` when None) over ``env_file`` (a ``.env``).

        See ``ClientConfig.from_env`` for the variables and their precedence.

        Raises:
            ConfigError: a variable is missing or invalid, or the env file cannot be read; the message names it.
        """
        return cls.from_config(
            ClientConfig.from_env(
                environ,
                env_file=env_file,
                timeout=timeout,
                retries=retries,
                retry_backoff=retry_backoff,
                max_data_size=max_data_size,
            )
        )

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def key(self) -> str:
        return self.config.key

    def __repr__(self) -> str:
        # Never show the secret.
        return f"{type(self).__name__}(app_id={self.app_id!r}, key={self.key!r}, url={self.config.base_url!r})"

    @staticmethod
    def _now() -> int:
        return int(time.time())

    # -- offline ------------------------------------------------------------------------------------------------

    def authorize_channel(
        self,
        socket_id: str,
        channel: str,
        user_data: Mapping[str, Any] | None = None,
        *,
        resume_after: int | None = None,
    ) -> ChannelAuth:
        """Return the body an auth endpoint answers pusher-js with for a private, presence or encrypted channel.

        ``{auth}`` for private channels, ``{auth, channel_data}`` for presence channels (``user_data`` is the
        member, ``{"user_id": ..., "user_info": {...}}``), ``{auth, shared_secret}`` for encrypted channels.
        Check that the user may join the channel before calling this.

        ``resume_after``: the last serial the page saw on a history channel; pusherpy then replays the events after
        it (or sends ``pusherpy:resume_failed``). It is signed into ``channel_data``: ``{"resume_after": N}`` for
        private and encrypted channels (the official SDKs' custom-data form), one more key of the member object
        for presence channels.

        Raises:
            InvalidArgument: bad socket id or channel name, missing/unexpected ``user_data``, or a
                ``resume_after`` that is not a positive integer.
            ConfigError: an encrypted channel without an encryption master key.
        """
        return authorize_channel(
            self.config.key,
            self.config.secret,
            socket_id,
            channel,
            user_data,
            master_key=self.config.encryption_master_key,
            resume_after=resume_after,
        )

    def authenticate_user(self, socket_id: str, user_data: Mapping[str, Any]) -> UserAuth:
        """Return ``{auth, user_data}`` for pusher-js's user authentication (``pusher:signin``).

        Raises:
            InvalidArgument: bad socket id, or ``user_data`` without a valid string ``id``.
        """
        return authenticate_user(self.config.key, self.config.secret, socket_id, user_data)

    def verify_webhook(
        self,
        headers_or_key: Mapping[str, str] | str,
        signature: str | None = None,
        *,
        body: bytes | str,
        max_age: float = DEFAULT_MAX_AGE,
        now: float | None = None,
    ) -> WebhookBatch:
        """Verify a webhook sent to this app and return its events; see ``pusherpy.publisher.verify_webhook``.

        Raises:
            WebhookError: a subclass saying why the webhook must be rejected.
        """
        return verify_webhook(
            headers_or_key,
            signature,
            body=body,
            key=self.config.key,
            secret=self.config.secret,
            max_age=max_age,
            now=now,
        )

    def channel_shared_secret(self, channel: str) -> bytes:
        """Return the 32-byte key of an encrypted channel (what ``shared_secret`` carries, base64-encoded).

        Raises:
            InvalidArgument: the channel is not a valid ``private-encrypted-`` name.
            ConfigError: no encryption master key was given.
        """
        check_channel(channel)
        if not channel.startswith("private-encrypted-"):
            raise InvalidArgument(f"{channel!r} is not a private-encrypted- channel")
        master_key = self.config.encryption_master_key
        if master_key is None:
            raise ConfigError(f"{channel!r} is encrypted: pass encryption_master_key_base64 to the client")
        return shared_secret(channel, master_key)
