"""A small keep-alive connection pool on ``http.client``, so the sync client needs no third-party HTTP library.

Thread safety: each request checks a connection out of the pool under a lock and returns it when the response has
been read, so one ``Pusher`` can be shared by threads; at most ``max_idle`` idle connections are kept. A request
that fails because the server closed an idle keep-alive connection (the usual race with server idle timeouts) is
retried once on a fresh connection (the server never read it); any other failure is reported: whether to send
again is the client's decision (``retry``), which knows whether the request is safe to repeat.

An https connection is opened in two steps, TCP then TLS, so a handshake that fails or stalls is reported as such
(with the caller's ``tls_hint``): the usual cause is a plain http server, which answers a TLS ClientHello with an
HTTP 400 (an SSL error at once) or, if it waits for a complete request head, with nothing until the timeout.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from typing import Final

from .errors import ConnectionFailed, Timeout, tls_reason

_STALE_CONNECTION_ERRORS: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _HandshakeFailed(Exception):
    """The TCP connection opened but TLS did not: ``error`` is the handshake's own failure (a timeout included)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _HTTPSConnection(http.client.HTTPSConnection):
    """An ``HTTPSConnection`` that tells a failed TLS handshake apart from a failed TCP connect."""

    def __init__(self, host: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        try:
            self.sock = self._tls.wrap_socket(self.sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError:
            raise  # TLS works; the certificate is the problem, and the error says which
        except OSError as exc:  # SSLError, a timeout, or a reset: no TLS answer from the server
            raise _HandshakeFailed(exc) from exc


class ConnectionPool:
    """Keep-alive HTTP(S) connections to one host.

    Args:
        scheme: ``http`` or ``https``.
        host: the server's host name.
        port: the server's port.
        timeout: seconds for connecting and for each socket read.
        max_idle: how many idle connections to keep for reuse.
        ssl_context: the TLS settings for https; the system defaults when None.
        tls_hint: what to tell the user when an https connection does not complete TLS (see ``not_tls_hint``).
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        timeout: float,
        *,
        max_idle: int = 4,
        ssl_context: ssl.SSLContext | None = None,
        tls_hint: str = "",
    ) -> None:
        self._scheme = scheme
        self._host = host
        self._port = port
        self._timeout = timeout
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._tls_hint = tls_hint
        self._url = f"{scheme}://{host}:{port}"
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return _HTTPSConnection(self._host, self._port, self._timeout, context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def request(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        """Send one request and return ``(status, body, Retry-After header or None)``.

        Raises:
            Timeout: no answer (or, for https, no TLS handshake) within the timeout.
            ConnectionFailed: the server could not be reached, did not complete TLS, or broke the connection.
        """
        connection, reused = self._checkout()
        try:
            try:
                return self._send(connection, method, target, body, headers)
            except _STALE_CONNECTION_ERRORS:
                if not reused:
                    raise
                connection.close()
                connection = self._new_connection()
                return self._send(connection, method, target, body, headers)
        except _HandshakeFailed as failed:
            connection.close()
            if isinstance(failed.error, TimeoutError):
                message = f"{method} {self._url} did not complete TLS within {self._timeout:g} s: {self._tls_hint}"
                raise Timeout(message, retryable=False) from None
            message = f"{method} {self._url} did not complete TLS ({tls_reason(failed.error)}): {self._tls_hint}"
            raise ConnectionFailed(message, retryable=False) from failed.error
        except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
            connection.close()
            raise Timeout(f"{method} {self._url}: no answer within {self._timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:  # sending again would meet the same certificate
            connection.close()
            raise ConnectionFailed(f"{method} {self._url}: {type(exc).__name__}: {exc}", retryable=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ConnectionFailed(f"{method} {self._url}: {type(exc).__name__}: {exc}") from exc

    def _send(
        self, connection: http.client.HTTPConnection, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, str | None]:
        connection.request(method, target, body=body if method != "GET" else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        return response.status, data, response.getheader("Retry-After")

    def close(self) -> None:
        """Close the idle connections. The pool stays usable: a later request opens a new connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
