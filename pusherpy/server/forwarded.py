"""Who the client is behind a proxy: ``trusted_proxies`` decides whether ``Forwarded`` (RFC 7239),
``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed, and ``client_address`` is the one rule that reads them.

Anyone can send those headers, so they are read only when the TCP peer is a trusted proxy, and then only as far
back as trusted proxies reach: the chain of addresses is walked from the right (the hop nearest pusherpy) and the
first address that is not a trusted proxy is the client. Everything to its left was written by the client or by
proxies nobody vouches for. With no trusted proxies (the default) the headers are ignored. ``Forwarded`` wins over
the ``X-Forwarded-*`` pair when a request has both. Nothing here performs I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..protocol.errors import ConfigError

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})


def check_trusted_proxies(name: str, entries: tuple[str, ...]) -> None:
    """Refuse an entry that is not an IP address or a network in CIDR form (``10.0.0.0/8``, ``::1``).

    Raises:
        ConfigError: names ``name`` and the entry.
    """
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"{name}: {entry!r} is not an IP address or network (write 10.0.0.1, 10.0.0.0/8 or ::1)"
            ) from None


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """The client as pusherpy believes it: its address (None when unknown), and the scheme it used to reach the
    first proxy (None when no trusted proxy said)."""

    ip: str | None
    scheme: str | None = None


class TrustedProxies:
    """The proxies whose forwarding headers are believed (``Settings.trusted_proxies``, already validated)."""

    __slots__ = ("_networks",)

    def __init__(self, entries: tuple[str, ...]) -> None:
        self._networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: _Address | None) -> bool:
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def client_address(self, peer: str | None, headers: Mapping[str, str]) -> ClientAddress:
        """The client of a request that arrived from ``peer`` with ``headers`` (looked up by lower-case name)."""
        if not self._networks or not self.trusts(_parse_address(peer)):
            return ClientAddress(peer)
        hops = _forwarded(headers) if "forwarded" in headers else _x_forwarded(headers)
        client = ClientAddress(peer)
        for hop in reversed(hops):
            address = _parse_address(hop.ip)
            if address is None:  # "unknown", an obfuscated name: the chain cannot be followed past it
                return ClientAddress(client.ip, hop.scheme or client.scheme)
            client = ClientAddress(str(address), hop.scheme)
            if not self.trusts(address):
                return client
        return client


def _forwarded(headers: Mapping[str, str]) -> list[ClientAddress]:
    """The hops of ``Forwarded: for=1.2.3.4;proto=https, for="[2001:db8::1]:4711"`` (RFC 7239 §4), in order."""
    hops = []
    for element in headers["forwarded"].split(","):
        pairs = (pair.partition("=") for pair in element.split(";"))
        params = {name.strip().lower(): value.strip().strip('"') for name, _, value in pairs}
        scheme = params.get("proto", "").lower()
        hops.append(ClientAddress(params.get("for"), scheme if scheme in _SCHEMES else None))
    return hops


def _x_forwarded(headers: Mapping[str, str]) -> list[ClientAddress]:
    """The hops of ``X-Forwarded-For``, each with its ``X-Forwarded-Proto`` entry when both list every hop, else
    with the proto of the proxy nearest pusherpy (the right-most one)."""
    addresses = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
    schemes = [part.strip().lower() for part in headers.get("x-forwarded-proto", "").split(",") if part.strip()]
    schemes = [scheme if scheme in _SCHEMES else "" for scheme in schemes]
    if len(schemes) != len(addresses):
        schemes = [schemes[-1] if schemes else ""] * len(addresses)
    return [ClientAddress(address, scheme or None) for address, scheme in zip(addresses, schemes, strict=True)]


def _parse_address(text: str | None) -> _Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]`` or ``[::1]:5678``."""
    if not text:
        return None
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
