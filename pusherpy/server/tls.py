"""Serving ``wss://`` and ``https://`` on the one port: the TLS context new connections get, and its reload.

``server_context`` loads ``tls_cert`` (the certificate, then its chain, in one PEM file) and ``tls_key`` into a
context that speaks TLS 1.2 or newer and offers ALPN ``http/1.1`` only (a WebSocket upgrade is an HTTP/1.1 request).
A connection's context is chosen when it is accepted (``accept.py`` passes ``TlsCertificates.context`` to
``loop.connect_accepted_socket``), so a reload (on SIGHUP, as a certificate renewal asks) builds a new context and
replaces the reference: connections already open keep the session they negotiated, new handshakes get the new
pair, and a pair that does not load is logged as one line while the old context stays in use.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Final, NoReturn

from ..protocol.errors import ConfigError

logger = logging.getLogger(__name__)

ALPN_PROTOCOLS: Final = ("http/1.1",)


class _EncryptedKey(Exception):
    """Raised by the password callback: pusherpy cannot prompt for a passphrase (it runs unattended)."""


def _no_passphrase() -> NoReturn:
    raise _EncryptedKey


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for the certificate chain in ``cert`` and the private key in ``key`` (PEM files).

    Raises:
        ConfigError: a file is missing or unreadable, is not PEM, is encrypted, or the key does not match the
            certificate; the message names the setting and the file.
    """
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not Path(path).is_file():
            raise ConfigError(f"{name}={path!r} is not a file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(list(ALPN_PROTOCOLS))
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigError(f"tls_key={key!r} is encrypted: give pusherpy the key without a passphrase") from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"tls_key={key!r} is not the key of the certificate in tls_cert={cert!r}") from None
        raise ConfigError(
            f"cannot load tls_cert={cert!r} with tls_key={key!r} (PEM files: the certificate and its chain, "
            f"then the key): {error.reason or error}"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read tls_cert={cert!r} or tls_key={key!r}: {error.strerror or error}") from None
    return context


class TlsCertificates:
    """The context of a listener's new connections; ``reload`` replaces it with one read again from the files.

    Args:
        cert: the ``tls_cert`` path.
        key: the ``tls_key`` path.

    Raises:
        ConfigError: the pair does not load (see ``server_context``).
    """

    __slots__ = ("cert", "key", "context")

    def __init__(self, cert: str, key: str) -> None:
        self.cert = cert
        self.key = key
        self.context = server_context(cert, key)

    def reload(self) -> bool:
        """Load the files again; on success new handshakes use them, else the old context stays (logged once).

        Returns:
            True when the new pair is in use.
        """
        try:
            context = server_context(self.cert, self.key)
        except ConfigError as error:
            logger.error("TLS certificate not reloaded, still serving the previous one: %s", error)
            return False
        self.context = context
        logger.info("TLS certificate reloaded from %s: new connections use it", self.cert)
        return True
