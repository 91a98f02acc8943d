"""Turn the command line's server choices (``--target``, ``--vs``, ``--vs-url``, ``--soketi-cmd``) into Servers.

Every mistake here is the user's, so each ends the run with one line (SystemExit) before anything starts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.servers import ExternalServer, PusherpyCluster, PusherpyServer, Server, SetupError, Target
from bench.soketi import resolve_soketi
from bench.target_url import check_loopback, from_url

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "pusherpy-redis"
REDIS_CLUSTER = "pusherpy-redis-cluster"
TLS = "pusherpy-tls"
"""pusherpy serving wss:// and https:// with a certificate made for the run."""


def check_peer_flags(args: argparse.Namespace) -> None:
    """Refuse ``--vs-url``/``--soketi-cmd`` combinations that mean nothing; ``--soketi-cmd`` alone means --vs soketi."""
    if args.vs_url is not None:
        if args.soketi_cmd is not None:
            raise SystemExit("give --soketi-cmd (the bench starts soketi) or --vs-url (it already runs), not both")
        if args.vs not in (None, "soketi"):
            raise SystemExit(f"--vs-url is the server to compare with: give it instead of --vs {args.vs}")
    elif args.soketi_cmd is not None and "soketi" not in (args.target, args.vs):
        if args.vs is not None:
            raise SystemExit("--soketi-cmd starts soketi, but neither --target nor --vs is soketi")
        args.vs = "soketi"


def make_server(spec: str, args: argparse.Namespace, cpus: str | None, primary: bool) -> Server:
    """Turn a server spec (see --help) into something that can be prepared, started and stopped."""
    if spec in ("pusherpy", TLS):
        return PusherpyServer(args.python, cpus, args.startup_timeout, ROOT, tls=spec == TLS)
    if spec == "soketi":
        return resolve_soketi(args.soketi_cmd, cpus, args.startup_timeout, os.environ)
    kind, _, count = spec.partition(":")
    if kind in (CLUSTER, REDIS_CLUSTER):
        if count and not count.isdigit():
            raise SystemExit(f"{kind}:N needs a node count, got {spec!r}")
        shards = 3 if kind == REDIS_CLUSTER else 0
        return PusherpyCluster(int(count or 2), args.python, cpus, args.startup_timeout, ROOT, shards=shards)
    if spec.startswith(("http://", "ws://", "https://", "wss://")):
        return ExternalServer(_parse_url(spec, "--target" if primary else "--vs", None))
    if primary and ":" in spec:
        host, _, port = spec.rpartition(":")
        if not (args.app_id and args.app_key and args.app_secret):
            raise SystemExit("--target HOST:PORT needs --app-id, --app-key and --app-secret")
        if not port.isdigit():
            raise SystemExit(f"--target {spec}: the port is not a number")
        try:
            addr = check_loopback(host)
        except ValueError as exc:
            raise SystemExit(f"--target: {exc}") from None
        return ExternalServer(Target(spec, addr, int(port), args.app_id, args.app_key, args.app_secret, list(args.pid)))
    raise SystemExit(f"unknown server {spec!r} (see --help)")


def _parse_url(url: str, flag: str, name: str | None) -> Target:
    try:
        return from_url(url, name)
    except ValueError as exc:
        raise SystemExit(f"{flag}: {exc}") from None


def make_servers(args: argparse.Namespace, cpus: str | None) -> list[Server]:
    """Return the target and the peer, each prepared (installed if need be) so a failure costs no measuring."""
    check_peer_flags(args)
    try:
        servers = [make_server(args.target, args, cpus, True)]
        if args.vs_url is not None:
            servers.append(ExternalServer(_parse_url(args.vs_url, "--vs-url", args.vs)))
        elif args.vs:
            servers.append(make_server(args.vs, args, cpus, False))
        for server in servers:
            server.prepare()
    except SetupError as exc:
        raise SystemExit(str(exc)) from None
    return servers
