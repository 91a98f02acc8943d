"""Scenario parameters, with the full defaults and the ``--quick`` ones in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

SCENARIOS: tuple[str, ...] = ("connections", "fanout", "client_events", "many_channels")


@dataclass(slots=True, kw_only=True)
class BenchConfig:
    """Everything a scenario reads; built from the command line."""

    conn_counts: list[int] = field(default_factory=lambda: [1000, 5000, 10000])
    connect_concurrency: int = 200
    connect_timeout: float = 15.0
    # fan-out
    subscribers: int = 1000
    rate: float = 20.0  # publishes per second in the fixed-rate phase
    window: int = 16  # publishes in flight (not yet fully delivered) in the closed loop
    # client events
    pairs: int = 20
    ce_rate: float = 8.0  # pings per second per pair: under Pusher's 10/s client-event limit
    # many channels
    channels: int = 1000
    per_channel: int = 3
    mc_rate: float = 1000.0
    mc_window: int = 600
    # shared
    seconds: float = 10.0  # length of every measured phase
    drain: float = 5.0  # how long to wait for stragglers after a phase
    http_pool: int = 16  # keep-alive connections for publishing
    payload: int = 100  # padding bytes in every event's data
    scenario_timeout: float = 180.0
    workers: int = 1

    @classmethod
    def quick(cls) -> BenchConfig:
        """Small, short settings: a two-server run of every scenario in well under 3 minutes."""
        return cls(conn_counts=[1000, 5000], seconds=4.0, drain=3.0, pairs=10, scenario_timeout=60.0)
