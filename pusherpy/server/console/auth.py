"""Who may use the console: the session cookie, the CSRF token, where a request may come from, login attempts.

A session is ``<expiry>.<nonce>.<mac>`` with the MAC keyed by a key derived from ``console_password``: every
worker and node configured with the same password accepts it (nothing is stored server-side), and changing the
password ends every session. The CSRF token is a MAC of the session, so it needs no storage either and a page of
one session cannot be used to post in another.

Without a password (allowed on a loopback bind only, ``exposure.check_exposure``) there is no login, but the same
rules stop another web site from using the console through the browser: a POST needs a same-origin ``Origin`` (or
``Referer``) and the ``X-Pusherpy-CSRF`` header, which no cross-site form can send and a cross-site ``fetch`` cannot
send without a CORS preflight the console never answers; and the ``Host`` must be a loopback name, so a DNS
rebinding page (its own name resolved to 127.0.0.1) is refused.

Nothing here performs I/O or reads a clock: ``now`` is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from ...protocol.ratelimit import RateWindow
from ..exposure import is_loopback

COOKIE_NAME: Final = "pusherpy_console"
CSRF_HEADER: Final = "X-Pusherpy-CSRF"
SESSION_SECONDS: Final = 12 * 3600
"""How long a login lasts."""
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
LOGIN_ATTEMPTS_PER_CLIENT: Final = 2
"""Login attempts answered per second from one client address: guessing stays slow, a person never waits."""
LOGIN_ATTEMPTS_PER_SECOND: Final = 10
"""Login attempts answered per second from all clients together (a guesser with many addresses)."""
LOGIN_CLIENTS_REMEMBERED: Final = 1024
"""Client addresses whose attempts are counted at once; the least recently seen is forgotten past it."""


@dataclass(slots=True)
class ConsoleAuth:
    """The console's keys, derived once from ``console_password`` (empty: no login; loopback only)."""

    password: str = field(repr=False)
    _key: bytes = field(init=False, repr=False)
    _attempts: RateWindow = field(init=False, repr=False)
    _client_attempts: OrderedDict[str, RateWindow] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = hmac.new(b"pusherpy console session v1", self.password.encode(), hashlib.sha256).digest()
        self._attempts = RateWindow(LOGIN_ATTEMPTS_PER_SECOND)
        self._client_attempts = OrderedDict()

    @property
    def needs_login(self) -> bool:
        return bool(self.password)

    def attempt_allowed(self, client: str, now: float) -> bool:
        """Count one login attempt from ``client`` (its address); False when that client, or all clients together,
        tried too often this second (answer 429, check nothing). One guesser does not lock others out."""
        window = self._client_attempts.pop(client, None) or RateWindow(LOGIN_ATTEMPTS_PER_CLIENT)
        self._client_attempts[client] = window
        if len(self._client_attempts) > LOGIN_CLIENTS_REMEMBERED:
            self._client_attempts.popitem(last=False)
        return window.allow(now) and self._attempts.allow(now)

    def password_matches(self, presented: str) -> bool:
        """Compare in constant time (both sides hashed first, so the length is not revealed either)."""
        given = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(given, hashlib.sha256(self.password.encode()).digest())

    def new_session(self, now: float) -> str:
        """A fresh cookie value, valid for ``SESSION_SECONDS``."""
        body = f"{int(now) + SESSION_SECONDS}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac('session', body)}"

    def session_valid(self, value: str | None, now: float) -> bool:
        """Whether a cookie value is one of ours (signed with this password's key) and not expired."""
        if not self.needs_login:
            return True
        if not value or len(value) > 200:
            return False
        body, _, mac = value.rpartition(".")
        expiry = body.partition(".")[0]
        if not hmac.compare_digest(mac.encode(), self._mac("session", body).encode()):
            return False
        return expiry.isdigit() and int(expiry) > now

    def csrf_token(self, session: str | None) -> str:
        """The token a page of this session sends with each POST."""
        return self._mac("csrf", session or "")

    def csrf_valid(self, session: str | None, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), self.csrf_token(session).encode()
        )

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """Whether a POST says it comes from a page of this server: its ``Origin``, else its ``Referer``, names the
    host the request was sent to (``host``: the ``Host`` header); a browser always sends one of them on a POST.

    The port is compared when ``Host`` has one: a proxy may pass on the name alone (nginx's ``$host``). The scheme
    is not compared: behind a TLS proxy the page is https while the request reaching pusherpy may be plain http;
    a page of another site has another host name either way.
    """
    source = headers.get("Origin") or headers.get("Referer")
    if not source or source == "null":
        return False
    try:
        origin = urlsplit(source)
        origin_port = origin.port or _DEFAULT_PORTS.get(origin.scheme)
        target = urlsplit(f"//{host}")
        target_name, target_port = target.hostname, target.port
    except ValueError:
        return False
    if origin.hostname is None or origin.hostname != target_name:
        return False
    return target_port is None or target_port == origin_port


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine (its port left out): what a console without a password
    insists on, against DNS rebinding."""
    name = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    return bool(name) and is_loopback(name)
