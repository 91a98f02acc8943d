"""What the server lets other machines see: the dev app and ``/metrics`` are for loopback unless configured.

A server bound to a loopback address (``127.0.0.1``, ``::1``, ``localhost``) is reachable from this machine only,
so there the built-in dev app (whose secret is printed and published) and an open ``/metrics`` are conveniences.
On any other bind (``0.0.0.0``, ``::``, a LAN or public address, a host name) they would be a hole, so:

- the dev app is refused at start-up unless ``allow_dev_app`` says it is meant (``check_exposure``);
- the debug console (``console = true``) is refused at start-up without a ``console_password``;
- ``/metrics`` is refused unless it asks for a ``metrics_token``, is moved to its own listener (``metrics_port``),
  or ``metrics_public`` says it is meant (``metrics_refusal``). A ``metrics_token`` applies on any bind.

Both rules live here so the start-up banner, the settings check and the handlers agree.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from typing import TYPE_CHECKING, Final

from ..protocol.errors import ConfigError
from .http_head import Refusal

if TYPE_CHECKING:
    from .settings import Settings

_TOKEN: Final = re.compile(r"[\x21-\x7e]+")
"""What a metrics token may hold: visible ASCII, which every client sends in a header unchanged."""
_REAL_APP: Final = (
    "configure your own app (--app-id/--app-key/--app-secret, PUSHERPY_APP_ID/PUSHERPY_APP_KEY/PUSHERPY_APP_SECRET, "
    "or [[apps]] in a --config TOML file)"
)


def is_loopback(host: str) -> bool:
    """True when ``host`` is an address only this machine can reach (``127.0.0.0/8``, ``::1``, ``localhost``).

    Any other name counts as reachable: what it resolves to is not known here, and may change.
    """
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_exposure(settings: Settings) -> None:
    """Refuse to serve the dev app where other machines can reach it, unless ``allow_dev_app`` is set, the debug
    console there without a password, and a ``metrics_token`` no scraper could send.

    Raises:
        ConfigError: one line that says how to configure a real app, or how to allow the dev app; or what is wrong
            with the token (never the token itself).
    """
    if settings.metrics_token and not _TOKEN.fullmatch(settings.metrics_token):
        raise ConfigError(
            "metrics_token must be printable ASCII without spaces: it is sent in an HTTP header "
            "(Authorization: Bearer <metrics_token>)"
        )
    if settings.console and not settings.console_password and not is_loopback(settings.host):
        raise ConfigError(
            f"the debug console is not served without a password on host {settings.host!r}, which other machines "
            "can reach: set console_password (PUSHERPY_CONSOLE_PASSWORD), or bind to 127.0.0.1"
        )
    if settings.uses_dev_app and not settings.allow_dev_app and not is_loopback(settings.host):
        raise ConfigError(
            f"the built-in dev app, whose secret is public, is not served on host {settings.host!r}, which other "
            f"machines can reach: {_REAL_APP}; or, to serve it anyway, pass --allow-dev-app "
            "(PUSHERPY_ALLOW_DEV_APP=true, allow_dev_app = true)"
        )


def metrics_refusal(settings: Settings, authorization: str | None, *, own_listener: bool) -> Refusal | None:
    """Decide whether a ``GET /metrics`` is answered; None when it is, else the refusal to answer with.

    Args:
        settings: ``host``, ``metrics_token``, ``metrics_port``, ``metrics_public``.
        authorization: the request's ``Authorization`` header, if any.
        own_listener: the request came to the ``metrics_port`` listener, not to the main ``port``.
    """
    if settings.metrics_port is not None and not own_listener:
        return Refusal(status=404, message="/metrics is served on the metrics listener (metrics_port), not here")
    if settings.metrics_token:
        if _bearer_matches(authorization, settings.metrics_token):
            return None
        return Refusal(
            status=401,
            message="/metrics needs the header Authorization: Bearer <metrics_token>",
            headers=(("WWW-Authenticate", 'Bearer realm="pusherpy metrics"'),),
        )
    if own_listener or settings.metrics_public or is_loopback(settings.host):
        return None
    return Refusal(
        status=403,
        message=(
            f"/metrics is not public on host {settings.host}, which other machines can reach: set metrics_token "
            "(then send Authorization: Bearer <token>), serve it on its own metrics_host/metrics_port, "
            "or set metrics_public = true"
        ),
    )


def _bearer_matches(authorization: str | None, token: str) -> bool:
    """Compare the bearer token in constant time (the scheme's case does not matter, RFC 7235 §2.1)."""
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # surrogatepass: a header aiohttp could not decode as UTF-8 still compares (and fails), never raises.
    return hmac.compare_digest(presented.strip().encode("utf-8", "surrogatepass"), token.encode())
