"""Where a publisher sends its requests and with which credentials: one frozen ``ClientConfig``.

Both clients build one from their constructor arguments, a ``http://key:secret@host:port/apps/ID`` URL or the
environment variables a Laravel app already has. Validation happens here, once, so a client never starts with a
config that would fail on its first request.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from pusherpy.envfile import read_env_file
from pusherpy.protocol.errors import ConfigError
from pusherpy.protocol.redact import redacted_url

DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_RETRIES: Final = 3
DEFAULT_RETRY_BACKOFF: Final = 0.1
DEFAULT_MAX_DATA_SIZE: Final = 10_240
"""Pusher's documented limit for one event's ``data`` (10 KB)."""

_APP_ID: Final = re.compile(r"\A[A-Za-z0-9_\-.]+\Z")
_PREFIXES: Final = ("PUSHER", "REVERB")
_PATH: Final = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything a publisher needs to reach one app.

    Attributes:
        app_id: the app id in ``/apps/{app_id}/...``.
        key: the app key (public).
        secret: the app secret; signs every request.
        scheme: ``http`` or ``https``.
        host: the API host.
        port: the API port.
        path: the path a proxy serves the API under (``/ws``): sent before ``/apps/...`` but not signed, as
            pusher-http-php's ``path`` option does (the server signs and checks ``/apps/...``).
        timeout: seconds allowed for one request (connect and answer); each retry gets its own.
        retries: how many times a failed request is sent again when that is safe (timeouts, connection errors,
            5xx, 429; see ``retry``); 0 turns retrying off.
        retry_backoff: the base of the exponential backoff between retries, in seconds (full jitter, 5 s cap).
        max_data_size: the largest event ``data`` sent, in UTF-8 bytes; ``None`` leaves the check to the server.
        encryption_master_key: the 32-byte master key of ``private-encrypted-`` channels, if any.
        scheme_defaulted: https was chosen because neither ``scheme`` nor ``ssl`` was given; a failed TLS
            handshake then says so and how to pick http.
    """

    app_id: str
    key: str
    secret: str = field(repr=False)
    scheme: str = "https"
    host: str = "api-mt1.pusher.com"
    port: int = 443
    path: str = ""
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    max_data_size: int | None = DEFAULT_MAX_DATA_SIZE
    encryption_master_key: bytes | None = field(default=None, repr=False)
    scheme_defaulted: bool = False

    def __post_init__(self) -> None:
        if not _APP_ID.match(self.app_id):
            raise ConfigError(f"app_id={self.app_id!r} must be letters, digits, '_', '-' or '.'")
        if not self.key or not self.secret:
            raise ConfigError("key and secret must be non-empty")
        if self.scheme not in ("http", "https"):
            raise ConfigError(f"scheme={self.scheme!r} must be 'http' or 'https'")
        if not self.host or "/" in self.host:
            raise ConfigError(f"host={self.host!r} must be a host name without a path")
        if self.path and (_PATH.fullmatch(self.path) is None):
            raise ConfigError(f"path={self.path!r} must be empty or a path such as '/ws', without a trailing '/'")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port={self.port!r} must be between 1 and 65535")
        if self.timeout <= 0:
            raise ConfigError(f"timeout={self.timeout!r} must be positive")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"retries={self.retries!r} must be an integer >= 0")
        if not self.retry_backoff >= 0:
            raise ConfigError(f"retry_backoff={self.retry_backoff!r} must be >= 0 seconds")
        if self.max_data_size is not None and self.max_data_size <= 0:
            raise ConfigError(f"max_data_size={self.max_data_size!r} must be positive or None")
        if self.encryption_master_key is not None and len(self.encryption_master_key) != 32:
            raise ConfigError("encryption_master_key must be 32 bytes")

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @classmethod
    def build(
        cls,
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
    ) -> ClientConfig:
        """Fill in the defaults the official SDKs use, then validate.

        ``scheme`` wins over ``ssl``; without either the scheme is https. Without a host the cluster's Pusher host
        is used (``api-{cluster}.pusher.com``, cluster ``mt1`` by default). The port defaults to 443 or 80.

        Raises:
            ConfigError: a value is invalid; the message names it.
        """
        scheme_defaulted = scheme is None and ssl is None
        if scheme is None:
            scheme = "http" if ssl is False else "https"
        scheme = scheme.lower()
        if host is None:
            host = f"api-{cluster or 'mt1'}.pusher.com"
        if port is None:
            port = 443 if scheme == "https" else 80
        return cls(
            app_id=str(app_id),
            key=key,
            secret=secret,
            scheme=scheme,
            host=host,
            port=port,
            path=path,
            timeout=timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            max_data_size=max_data_size,
            encryption_master_key=decode_master_key(encryption_master_key_base64),
            scheme_defaulted=scheme_defaulted,
        )

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
    ) -> ClientConfig:
        """Parse ``http(s)://key:secret@host[:port][/path]/apps/ID``, the form of ``PUSHER_URL``; a path before
        ``/apps/`` becomes ``path``.

        Raises:
            ConfigError: the URL lacks a part; the message shows the URL without its secret.
        """
        parts = urlsplit(url)
        shown = redacted_url(url)
        prefix, apps, app_id = parts.path.rstrip("/").rpartition("/apps/")
        if parts.scheme not in ("http", "https") or not parts.hostname or not apps or "/" in app_id:
            raise ConfigError(f"url={shown!r} must look like http(s)://key:secret@host[:port]/apps/ID")
        if not parts.username or not parts.password:
            raise ConfigError(f"url={shown!r} has no key:secret@ part")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"url={shown!r} has an invalid port") from None
        return cls.build(
            app_id,
            unquote(parts.username),
            unquote(parts.password),
            host=parts.hostname,
            port=port,
            path=prefix,
            scheme=parts.scheme,
            timeout=timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            max_data_size=max_data_size,
            encryption_master_key_base64=encryption_master_key_base64,
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
    ) -> ClientConfig:
        """Read ``PUSHERPY_URL``, or the variables a Laravel app's ``config/broadcasting.php`` reads, or
        ``PUSHER_URL``, in that order.

        ``PUSHERPY_URL`` (the ``PUSHER_URL=`` line ``pusherpy serve`` prints, under our own name) wins. Then
        ``BROADCAST_CONNECTION`` (or the older ``BROADCAST_DRIVER``) set to ``reverb`` or ``pusher`` picks the
        prefix; otherwise ``PUSHER_`` is used when ``PUSHER_APP_ID`` is set, then ``REVERB_``, then ``PUSHER_URL``.
        Per prefix: ``_APP_ID``, ``_APP_KEY``, ``_APP_SECRET``, ``_HOST``, ``_PORT``, ``_SCHEME``, plus
        ``PUSHER_APP_CLUSTER`` and the optional ``_ENCRYPTION_MASTER_KEY_BASE64``.

        ``env_file`` (else ``PUSHERPY_ENV_FILE``) is a ``.env`` read as Laravel reads it (``pusherpy/envfile.py``),
        under the environment, as the server reads it. This is the one place the publisher reads ``os.environ``,
        and only when no mapping is passed.

        Raises:
            ConfigError: a variable is missing or invalid, or the env file cannot be read; the message names it.
        """
        env = os.environ if environ is None else environ
        env_file = env_file if env_file is not None else (env.get("PUSHERPY_ENV_FILE") or None)
        if env_file is not None:
            env = {**read_env_file(env_file, env), **env}
        prefix = _pick_prefix(env)
        for url_variable in ("PUSHERPY_URL", "PUSHER_URL" if prefix is None else ""):
            if env.get(url_variable):
                try:
                    return cls.from_url(
                        env[url_variable],
                        timeout=timeout,
                        retries=retries,
                        retry_backoff=retry_backoff,
                        max_data_size=max_data_size,
                    )
                except ConfigError as exc:
                    raise ConfigError(f"{url_variable}: {exc}") from None
        if prefix is None:
            raise ConfigError(
                "set PUSHERPY_URL or PUSHER_URL (http://key:secret@host:port/apps/ID), "
                "or PUSHER_APP_ID/PUSHER_APP_KEY/PUSHER_APP_SECRET (or REVERB_*)"
            )
        values = {name: _required(env, f"{prefix}_APP_{name}") for name in ("ID", "KEY", "SECRET")}
        port_text = env.get(f"{prefix}_PORT") or None
        port = None
        if port_text is not None:
            try:
                port = int(port_text)
            except ValueError:
                raise ConfigError(f"{prefix}_PORT={port_text!r} is not an integer") from None
        scheme = env.get(f"{prefix}_SCHEME") or "https"
        if scheme.lower() not in ("http", "https"):
            raise ConfigError(f"{prefix}_SCHEME={scheme!r} must be http or https")
        try:
            return cls.build(
                values["ID"],
                values["KEY"],
                values["SECRET"],
                host=env.get(f"{prefix}_HOST") or None,
                port=port,
                scheme=scheme,
                cluster=(env.get("PUSHER_APP_CLUSTER") or None) if prefix == "PUSHER" else None,
                timeout=timeout,
                retries=retries,
                retry_backoff=retry_backoff,
                max_data_size=max_data_size,
                encryption_master_key_base64=env.get(f"{prefix}_ENCRYPTION_MASTER_KEY_BASE64") or None,
            )
        except ConfigError as exc:
            raise ConfigError(f"{prefix}_*: {exc}") from None


def _pick_prefix(env: Mapping[str, str]) -> str | None:
    driver = (env.get("BROADCAST_CONNECTION") or env.get("BROADCAST_DRIVER") or "").upper()
    if driver in _PREFIXES:
        return driver
    for prefix in _PREFIXES:
        if env.get(f"{prefix}_APP_ID"):
            return prefix
    return None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def decode_master_key(encoded: str | None) -> bytes | None:
    """Decode ``encryption_master_key_base64`` (32 bytes once decoded, as both official SDKs require).

    Raises:
        ConfigError: the value is not base64 or not 32 bytes.
    """
    if encoded is None:
        return None
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("encryption_master_key_base64 is not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"encryption_master_key_base64 decodes to {len(key)} bytes, not 32")
    return key
