"""The path a proxy serves pusherpy under (``path_prefix``; Laravel's ``REVERB_SERVER_PATH``): the one rule that
recognises it, used by every route, and the paths a publisher may have signed behind it.

With ``path_prefix = "/ws"`` every route answers at ``/ws/app/{key}``, ``/ws/apps/{id}/...``, ``/ws/up`` and
``/ws/metrics``, and at the same paths without the prefix: a proxy that forwards the path as it came and one that
strips the prefix both work, without pusherpy being told which.

Which path is signed depends on the publisher, not on the proxy. pusher-http-php, configured with its ``path``
option, sends ``{path}/apps/{id}/events`` but signs ``/apps/{id}/events`` (``Pusher::post`` signs ``base_path``;
``path`` only goes into Guzzle's ``base_uri``); pusher-http-node and pusher-http-python have no such option, and
users who put the prefix in the host get the same: the prefix is sent, not signed. A publisher that signs the path
it sends (soketi verifies that one) signs ``{prefix}/apps/{id}/events``. Both are accepted, whether or not the
prefix reached pusherpy: the signature still needs the app's secret.
"""

from __future__ import annotations

import re
from typing import Final

from ..protocol.errors import ConfigError

PATH_PREFIX_MAX_LENGTH: Final = 100
_ROUTE_NAMES: Final = frozenset({"app", "apps", "users", "up", "metrics", "console"})
"""First segments the prefix may not have: the routes it is stripped from would become ambiguous."""
_PATH_PREFIX: Final = re.compile(r"(?:/(?!\.\.?(?:/|\Z))[A-Za-z0-9._~-]+)*")
"""Segments of unreserved characters (RFC 3986 §2.3), none of them ``.`` or ``..``: nothing to percent-decode, so
the prefix reads the same in the raw target, in aiohttp's decoded path, and in the publisher's signed string."""


def check_path_prefix(name: str, prefix: str) -> None:
    """Refuse a prefix that no request path could start with as written.

    Raises:
        ConfigError: names ``name``, the value, and the form expected (``/ws``, ``/pusher/v1``).
    """
    if len(prefix) > PATH_PREFIX_MAX_LENGTH:
        raise ConfigError(f"{name}={prefix[:20]!r}...: at most {PATH_PREFIX_MAX_LENGTH} characters")
    if _PATH_PREFIX.fullmatch(prefix) is None:
        raise ConfigError(
            f"{name}={prefix!r} must be empty or a path such as '/ws' or '/pusher/v1': a leading '/', no trailing "
            "'/', and letters, digits, '.', '_', '~' or '-' between the slashes"
        )
    first = prefix[1:].partition("/")[0]
    if first in _ROUTE_NAMES:
        raise ConfigError(f"{name}={prefix!r} must not start with /{first}, which is one of pusherpy's own routes")


def unprefixed(target: str, prefix: str) -> str:
    """``target`` (a path, with or without its query) without a leading ``prefix``; unchanged when it has none.

    Only whole segments match: with ``/ws``, ``/ws/apps/1`` becomes ``/apps/1`` and ``/ws`` becomes ``/``, but
    ``/wss/apps/1`` stays as it is.
    """
    if not prefix or not target.startswith(prefix):
        return target
    rest = target[len(prefix) :]
    if not rest or rest[0] in "?#":
        return "/" + rest
    return rest if rest[0] == "/" else target


def signed_paths(path: str, prefix: str) -> tuple[str, ...]:
    """The paths a publisher may have signed for a request that arrived at ``path`` (decoded, no query): without
    the prefix first (what the official SDKs sign), then with it."""
    bare = unprefixed(path, prefix)
    return (bare, prefix + bare) if prefix else (bare,)
