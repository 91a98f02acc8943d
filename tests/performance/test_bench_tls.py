"""``python -m bench --target pusherpy-tls --vs pusherpy``: the same scenarios over wss:// and https:// and plain,
in one run, as a user runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.performance.test_bench_soketi import bench


def test_pusherpy_tls_is_measured_over_tls_beside_plain_pusherpy(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    small = ["--scenarios", "connections,fanout", "--connections", "20", "--subscribers", "20", "--seconds", "1"]
    servers_args = ["--target", "pusherpy-tls", "--vs", "pusherpy", "--no-pin", "--json", str(out)]
    run = bench(*servers_args, *small, env={**os.environ})
    assert run.returncode == 0, run.stderr
    servers = json.loads(out.read_text())["servers"]
    assert (servers["pusherpy-tls"]["info"]["tls"], servers["pusherpy"]["info"]["tls"]) == (True, False)
    for name, server in servers.items():
        metrics = {key: metric["value"] for key, metric in server["metrics"].items()}
        assert server["failures"] == [], name
        # every socket connected (over wss:// when tls) and every published event (over https://) arrived
        assert (metrics["connections.20.errors"], metrics["fanout.socket_errors"]) == (0, 0), name
        assert metrics["fanout.closed.deliveries_per_s"] > 0 and metrics["fanout.closed.lost_pct"] == 0, name
