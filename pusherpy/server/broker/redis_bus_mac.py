"""Bus messages carry an HMAC: only a node that holds an app's bus key can put that app's events on other nodes.

Anyone who can ``PUBLISH`` on the Redis that nodes share could otherwise write a bus message by hand and deliver
any event to any channel, private and presence ones included. So every message on the bus is the hex HMAC-SHA256
of its bytes under its app's bus key, then the bytes (``redis_messages.encode``, UTF-8): one HMAC per message sent,
one per message received, over the bytes Redis carries, compared in constant time.

An app's bus key is derived from ``cluster_secret`` when it is set, else from the app's own secret: the nodes of one
deployment agree without configuration, a node serving only some of the apps still exchanges their events with the
others, and knowing one app's secret (which already lets its holder publish to it through the HTTP API) forges
nothing for another app. Heartbeats carry nothing to act on (only their sender reads them, as proof that its
subscription is alive) and are not signed. What the MAC does not cover: a message captured on the bus can be
published again (it is authentic), and the shared state in Redis keys is trusted as it is; Redis ACLs are the
defence there (docs/scale-out.md, "Securing Redis").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from ...protocol import codec
from ...protocol.apps import AppConfig
from .redis_messages import BadBusMessage, BusMessage, HeartbeatMessage, decode, encode

_LABEL: Final = b"pusherpy bus key v1"
"""Domain separation: a bus key is never the secret it comes from, nor usable as anything else."""
MAC_LENGTH: Final = 2 * hashlib.sha256().digest_size
"""Hex digits of the MAC at the head of every bus message. ASCII, so a node of an older pusherpy (which reads the
bus as text) finds a malformed message, not bytes it cannot decode."""
_UNSIGNED: Final = b"0" * MAC_LENGTH
"""The MAC field of a heartbeat."""


class ForgedBusMessage(BadBusMessage):
    """A bus message without a valid MAC: signed with another key (another ``cluster_secret``, another secret for
    the app) or by someone who has none."""


def bus_key(app: AppConfig, cluster_secret: str | None) -> bytes:
    """The key of one app's bus messages: from ``cluster_secret`` when set, else from the app's secret."""
    source = ["cluster_secret", cluster_secret] if cluster_secret else ["app_secret", app.secret]
    material = codec.dumps([app.id, *source]).encode("utf-8", "surrogatepass")
    return hmac.digest(_LABEL, material, "sha256")


class BusMac:
    """Signs outgoing bus messages and checks incoming ones, with each app's bus key.

    Args:
        apps: the apps this node serves; messages about others are ignored (this node has no sockets for them).
        cluster_secret: the deployment's secret, if configured.
    """

    __slots__ = ("_keys", "_cluster_secret")

    def __init__(self, apps: Iterable[AppConfig], cluster_secret: str | None) -> None:
        self._cluster_secret = cluster_secret
        self._keys = {app.id: bus_key(app, cluster_secret) for app in apps}

    def serve(self, apps: Iterable[AppConfig]) -> None:
        """Sign and check the messages of ``apps`` from now on (apps read anew from ``apps_source``)."""
        self._keys = {app.id: bus_key(app, self._cluster_secret) for app in apps}

    def __repr__(self) -> str:
        return f"BusMac(apps={sorted(self._keys)})"

    def seal(self, message: BusMessage) -> bytes:
        """The bytes to publish: the message's MAC, then the message (``encode``) in UTF-8."""
        data = encode(message).encode()
        if isinstance(message, HeartbeatMessage):
            return _UNSIGNED + data
        return hmac.digest(self._keys[message.app_id], data, "sha256").hex().encode() + data

    def open(self, raw: bytes) -> BusMessage | None:
        """The message ``seal`` made, once its MAC is checked; None for an app this node does not serve.

        The header is read first (for the app, whose key checks the MAC); nothing is acted on before the check.

        Raises:
            ForgedBusMessage: the MAC is missing or wrong.
            BadBusMessage: not a bus message at all.
        """
        data = memoryview(raw)[MAC_LENGTH:]  # no copy of the message
        try:
            message = decode(str(data, "utf-8"))
        except UnicodeDecodeError:
            raise BadBusMessage("not UTF-8") from None
        if isinstance(message, HeartbeatMessage):
            return message
        key = self._keys.get(message.app_id)
        if key is None:
            return None
        if not hmac.compare_digest(hmac.digest(key, data, "sha256").hex().encode(), raw[:MAC_LENGTH]):
            raise ForgedBusMessage(f"no valid MAC for app {message.app_id[:40]!r}")
        return message
