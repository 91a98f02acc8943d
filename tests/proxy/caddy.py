"""A real Caddy of the test's own (never the system service), running the Caddyfile recipe of docs/proxy.md.

Global options keep it to the test: no admin endpoint, no automatic certificates or port-80 redirects (the
recipe's own ``tls`` line gives it the test's pair), its data and logs inside the test's directory.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.proxy.recipes import PUSHERPY_ADDRESS, filled, free_port, installed, proxy_running, recipe
from tests.server.tls_certs import ServerPair

_GLOBAL = """\
{
	admin off
	auto_https off
	skip_install_trust
}
"""


def caddyfile(port: int, upstream_port: int, pair: ServerPair) -> str:
    """The doc's recipe with this test's address, certificate and pusherpy in place of the ones users edit."""
    site = filled(
        recipe("caddyfile"),
        {
            "example.com {": f"https://127.0.0.1:{port} {{",
            "# tls /etc/ssl/example.com/fullchain.pem /etc/ssl/example.com/privkey.pem": f"tls {pair.cert} {pair.key}",
        },
    )
    assert site.count(PUSHERPY_ADDRESS) == 2, site  # the /ws/* and /apps/* handlers
    return _GLOBAL + site.replace(PUSHERPY_ADDRESS, f"127.0.0.1:{upstream_port}")


@contextmanager
def running_caddy(directory: Path, upstream_port: int, pair: ServerPair) -> Iterator[int]:
    """Start ``caddy run`` with the recipe; yield its port once it accepts connections."""
    binary = installed("caddy", "caddy")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "Caddyfile"
    config.write_text(caddyfile(port, upstream_port, pair))
    env = {**os.environ, "HOME": str(directory), "XDG_DATA_HOME": str(directory), "XDG_CONFIG_HOME": str(directory)}
    log = directory / "caddy.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=log_file, stderr=subprocess.STDOUT, text=True, env=env, cwd=directory,
        )  # fmt: skip
    with proxy_running(process, port, log):
        yield port
