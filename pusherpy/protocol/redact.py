"""Secrets kept out of what is shown: URLs with their credentials hidden, and reprs that leave secrets out.

Every log line, error message and ``repr`` that shows a configured URL (a Redis URL, a webhook URL, a publisher's
``PUSHER_URL``) shows ``redacted_url(url)``, so what counts as a credential is decided here once: the password of
the userinfo (or the whole userinfo when it is one word: often a token), and every value of the query string
(Redis takes ``?password=``, webhook receivers often a ``?token=``). The scheme, host, port and path stay, so a
reader can still tell which endpoint is meant. Nothing here performs I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any, Final
from urllib.parse import urlsplit

HIDDEN: Final = "***"


def redacted_url(url: str) -> str:
    """Return ``url`` with the credentials hidden: ``redis://user:***@host:6379/0``, ``https://host/hook?token=***``.

    A URL that cannot be read (a bad IPv6 literal, a port that is not a number, as when a password holds an
    unescaped ``/``) is hidden whole, but for its scheme: any part of it might be the secret.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number: a password with a "/" or "?" in it
    except ValueError:
        scheme, separator, _ = url.partition("://")
        return f"{scheme}://{HIDDEN}" if separator else HIDDEN
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        userinfo = f"{user}:{HIDDEN}" if colon else HIDDEN
    shown = f"{parts.scheme}:" if parts.scheme else ""
    if parts.netloc or url.startswith(f"{shown}//"):  # keeps the empty authority of unix:///path
        shown += f"//{userinfo}{at}{hostport}"
    shown += parts.path
    if parts.query:
        shown += "?" + "&".join(_redacted_pair(pair) for pair in parts.query.split("&"))
    return shown  # the fragment never reaches a server: left out


def _redacted_pair(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    if equals:
        return f"{name}={HIDDEN}"
    return HIDDEN if pair else pair  # a bare value may be the token itself


def redacted_repr(instance: Any, *, urls: Collection[str], headers: Collection[str] = ()) -> str:
    """The dataclass ``repr`` of ``instance`` with the fields named in ``urls`` shown redacted.

    Fields named in ``headers`` hold ``(name, value)`` pairs (extra request headers, often an API key): their names
    are shown, their values hidden. Fields declared with ``repr=False`` (secrets) are left out, as the generated
    ``repr`` does.
    """
    shown = []
    for declared in dataclasses.fields(instance):
        if not declared.repr:
            continue
        value = getattr(instance, declared.name)
        if declared.name in urls and isinstance(value, str):
            value = redacted_url(value)
        elif declared.name in headers:
            value = tuple(f"{name}: {HIDDEN}" for name, _ in value)
        shown.append(f"{declared.name}={value!r}")
    return f"{type(instance).__qualname__}({', '.join(shown)})"
