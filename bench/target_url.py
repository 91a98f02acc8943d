"""Read an already running server's address and app credentials from one URL, refusing anything ambiguous.

The form is the one Pusher's server libraries take (``PUSHER_URL``): ``http://KEY:SECRET@HOST:PORT/apps/ID``,
plus the bench's own ``?pid=PID`` (repeatable; CPU and RSS are read from /proc) and ``?name=NAME`` (the table's
column). Only loopback hosts: the bench never sends traffic off the host. Error messages never repeat the URL,
since it holds the app secret.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, unquote, urlsplit

from bench.servers import Target

URL_FORM = "http://KEY:SECRET@127.0.0.1:PORT/apps/ID"


def check_loopback(host: str) -> str:
    """Return ``host`` as an IP address if it is loopback (``localhost`` counts), else raise ValueError."""
    addr = "127.0.0.1" if host == "localhost" else host
    try:
        loopback = ipaddress.ip_address(addr).is_loopback
    except ValueError:
        raise ValueError(f"{host} is not an IP address: the bench only talks to loopback (127.0.0.1)") from None
    if not loopback:
        raise ValueError(f"{host} is not a loopback address: the bench only talks to 127.0.0.1")
    return addr


def from_url(url: str, default_name: str | None = None) -> Target:
    """Parse ``http://KEY:SECRET@HOST:PORT/apps/ID[?pid=PID&name=NAME]`` (``ws://`` is taken as ``http://``).

    The table names the server ``NAME``, else ``default_name``, else ``HOST:PORT``. Raises ValueError with a
    one-line reason (without the secret) for anything else.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # a port that is not a number in 0-65535, a malformed IPv6 host
        raise ValueError(f"bad port or host ({exc}); expected {URL_FORM}") from None
    if parts.scheme not in ("http", "ws"):
        why = "plain http:// only (loopback needs no TLS)" if parts.scheme in ("https", "wss") else "not http://"
        raise ValueError(f"{parts.scheme or 'no'} scheme: {why}; expected {URL_FORM}")
    if not parts.username or not parts.password:
        raise ValueError(f"no KEY:SECRET before the host; expected {URL_FORM}")
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2 or segments[0] != "apps" or not segments[1]:
        raise ValueError(f"the path must be /apps/ID; expected {URL_FORM}")
    if not parts.hostname:
        raise ValueError(f"no host; expected {URL_FORM}")
    host = check_loopback(parts.hostname)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"pid", "name"})
    if unknown:
        raise ValueError(f"unknown query parameter(s) {', '.join(unknown)}: only pid= and name=")
    pids = []
    for pid in query.get("pid", []):
        if not pid.isdigit() or int(pid) < 1:
            raise ValueError(f"pid={pid!r} is not a process id")
        pids.append(int(pid))
    port = port or 80
    name = query.get("name", [default_name or f"{host}:{port}"])[0]
    return Target(name, host, port, unquote(segments[1]), unquote(parts.username), unquote(parts.password), pids)
