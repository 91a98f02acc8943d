"""A real nginx of the test's own (never the system service), running the recipe of docs/proxy.md.

The recipe goes in the ``http`` context of a main configuration written to the test's directory, with every path
nginx writes (pid, logs, temporary files) inside that directory, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.proxy.recipes import PUSHERPY_ADDRESS, filled, free_port, installed, proxy_running, recipe
from tests.server.tls_certs import ServerPair

_MAIN = """\
{user}worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/pusherpy.conf;
}}
"""


def nginx_config(port: int, upstream_port: int, pair: ServerPair) -> str:
    """The doc's recipe with this test's port, certificate and pusherpy in place of the ones users edit."""
    return filled(
        recipe("nginx"),
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "/etc/letsencrypt/live/example.com/fullchain.pem": str(pair.cert),
            "/etc/letsencrypt/live/example.com/privkey.pem": str(pair.key),
            f"server {PUSHERPY_ADDRESS};": f"server 127.0.0.1:{upstream_port};",
        },
    )


@contextmanager
def running_nginx(directory: Path, upstream_port: int, pair: ServerPair) -> Iterator[int]:
    """Start ``nginx`` in the foreground with the recipe; yield its port once it accepts connections."""
    binary = installed("nginx", "nginx")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (directory / "pusherpy.conf").write_text(nginx_config(port, upstream_port, pair))
    # As root, nginx's workers would switch to "nobody", who cannot enter the test's private directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(_MAIN.format(user=user, directory=directory))
    command = [binary, "-c", str(main), "-p", str(directory), "-e", "stderr", "-g", "daemon off;"]
    with (directory / "stderr.log").open("w") as output:  # what nginx says before it reads error_log
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    with proxy_running(process, port, directory / "stderr.log", directory / "error.log"):
        yield port
