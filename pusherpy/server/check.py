"""``pusherpy serve --check``: would ``pusherpy serve`` start with these settings, and what would it run?

A deploy script or an administrator runs it before a restart, so a typo does not take a working server down. The
settings are loaded exactly as ``serve`` loads them (by the caller: a ``ConfigError`` is already the first named
problem); then what ``serve`` would meet at start is tried, each check independent of the others so that every
problem is reported at once: the port (and the metrics port) can be bound, Redis answers PING (the TLS
certificate and key were loaded with the settings). What would run is printed without secrets: app ids and keys,
the Redis URL redacted.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Final

from ..protocol.errors import ConfigError
from ..protocol.redact import redacted_url
from .accept import listen
from .fdlimit import LOW, connections_allowed, file_limits
from .settings import Settings

REDIS_TIMEOUT: Final = 3.0
"""Seconds Redis has to accept the connection and answer PING."""


@dataclass(slots=True)
class Report:
    """What ``check`` found: lines describing what would run, and the named problems that stop it."""

    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Worth knowing, not a reason to refuse (a low open-files limit)."""


def check(settings: Settings) -> Report:
    """Try what ``pusherpy serve`` would need at start, without serving. Never raises for a problem found."""
    report = Report()
    report.summary.append(f"would serve http://{settings.host}:{settings.port} (WebSocket and HTTP API)")
    if settings.apps_source:
        _check_apps_source(report, settings.apps_source)
    else:
        report.summary.append("apps:")
        report.summary.extend(f"  id={app.id} key={app.key}" for app in settings.apps)
    if settings.uses_dev_app:
        report.notes.append("no app configured: the built-in dev app (its secret is public) would be served")
    _check_port(report, "port", settings.host, settings.port)
    if settings.metrics_port is not None:
        report.summary.append(f"metrics on http://{settings.metrics_host}:{settings.metrics_port}")
        _check_port(report, "metrics_port", settings.metrics_host, settings.metrics_port)
    if settings.redis_url:
        _check_redis(report, settings.redis_url, cluster=settings.redis_cluster)
    else:
        report.summary.append("redis: none (a single node)")
    _tls_summary(report, settings)
    _check_file_limit(report)
    return report


def _check_port(report: Report, name: str, host: str, port: int) -> None:
    """Bind (and close) the address as the server binds it: same options, so "in use" means what it would."""

    async def bind() -> None:
        for sock in await listen(host, port, backlog=1, reuse_address=None, reuse_port=None):
            sock.close()

    try:
        asyncio.run(bind())
    except OSError as error:  # listen() words it for a log: the errno's own words are enough here
        detail = os.strerror(error.errno) if error.errno else str(error)
        report.problems.append(f"{name}: cannot bind {host}:{port}: {detail}")


def _check_redis(report: Report, url: str, *, cluster: bool) -> None:
    shown = redacted_url(url)
    report.summary.append(f"redis: {shown}" + (" (a Redis Cluster node)" if cluster else ""))
    try:
        from redis import Redis
        from redis.exceptions import RedisError
    except ImportError:
        report.problems.append("redis: the redis package is not installed (pip install 'pusherpy[redis]')")
        return
    client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)
    try:
        client.ping()  # a Cluster node answers PING as a single server does
    except (RedisError, OSError) as error:
        report.problems.append(f"redis: {shown} does not answer PING: {error}")
    finally:
        client.close()


def _check_apps_source(report: Report, url: str) -> None:
    """Read the apps as the server would at start: reachable, the table there, every row parsed."""
    from .apps_store import AppsSourceError, app_from_row, open_store

    store = open_store(url)  # load_settings already refused a bad URL or a missing driver
    report.summary.append(f"apps: read from {store.shown}")

    async def read() -> None:
        try:
            rows = await store.load()
        finally:
            await store.close()
        for row in rows:
            try:
                app = app_from_row(row)
            except ConfigError as error:
                report.problems.append(f"apps_source: {error}")
            else:
                report.summary.append(f"  id={app.id} key={app.key}" + ("" if app.enabled else " (disabled)"))

    try:
        asyncio.run(read())
    except AppsSourceError as error:
        report.problems.append(f"apps_source: {error}")


def _tls_summary(report: Report, settings: Settings) -> None:
    """``load_settings`` already loaded the pair (``tls.server_context``: files, PEM, no passphrase, matching key),
    so a bad one is the ConfigError before any check; here it is only said what will be served."""
    if settings.tls_cert is not None:
        report.summary.append(f"tls: certificate {settings.tls_cert}, key {settings.tls_key} (they load and match)")


def _check_file_limit(report: Report) -> None:
    """The open-files limit serve would raise itself to (the hard limit), and a note when it is low."""
    limits = file_limits()
    if limits is None:
        return
    _soft, hard = limits
    if hard is None:
        report.summary.append("open files: unlimited")
        return
    report.summary.append(f"open files: {hard} (about {connections_allowed(hard)} connections)")
    if hard < LOW:
        report.notes.append(f"the open-files hard limit {hard} is low: LimitNOFILE=1048576 in a systemd unit")


def run_check(settings: Settings) -> int:
    """Print the report (what would run on stdout, each problem on its own stderr line); the exit status."""
    import sys

    report = check(settings)
    print("\n".join(report.summary), flush=True)
    for note in report.notes:
        print(f"note: {note}", flush=True)
    for problem in report.problems:
        print(f"pusherpy: problem: {problem}", file=sys.stderr, flush=True)
    if report.problems:
        count = len(report.problems)
        print(f"pusherpy serve --check: {count} problem{'s' if count > 1 else ''}", file=sys.stderr, flush=True)
        return 1
    print("pusherpy serve --check: OK", flush=True)
    return 0
