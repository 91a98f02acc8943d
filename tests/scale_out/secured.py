"""Redis as production runs it, for the scale-out tests: TLS with a certificate the test makes, and ACL users.

``Tls.make`` creates a throwaway CA and a certificate for 127.0.0.1 with the ``openssl`` command. The TLS servers keep
their plain port for the test's own inspection and add a TLS port; the URL the nodes get is the TLS one, with the CA
in its query (``rediss://127.0.0.1:PORT/0?ssl_ca_certs=/path/ca.pem``), as a user would write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.scale_out.cluster import RedisClusterServer, RedisServer, free_cluster_port, free_port
from tests.server.tls_certs import openssl

_LEAF_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class Tls:
    """A CA and the certificate (for 127.0.0.1) it signed; also the shards' own on their TLS cluster bus."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    async def make(cls, directory: Path) -> Tls:
        directory.mkdir(exist_ok=True)
        ca, ca_key = directory / "ca.pem", directory / "ca.key"
        cert, key, request = directory / "redis.pem", directory / "redis.key", directory / "redis.csr"
        (directory / "leaf.cnf").write_text(_LEAF_EXTENSIONS)
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        await openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=CA")
        await openssl("req", *ec, "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1")
        await openssl(
            "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(directory / "leaf.cnf"),
        )  # fmt: skip
        return cls(ca, cert, key)

    def options(self, tls_port: int) -> list[str]:
        """``redis-server`` options: TLS on ``tls_port`` with this certificate; clients need no certificate."""
        return [
            "--tls-port", str(tls_port), "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
            "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no",
        ]  # fmt: skip


class TlsRedisServer(RedisServer):
    """A ``redis-server`` that also speaks TLS; ``url`` is the TLS one."""

    def __init__(self, workdir: Path, tls: Tls) -> None:
        super().__init__(workdir)
        self.tls = tls
        self.tls_port = free_port()

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0?ssl_ca_certs={self.tls.ca}"

    def options(self) -> list[str]:
        return self.tls.options(self.tls_port)


class TlsRedisClusterServer(RedisClusterServer):
    """A 3-shard Redis Cluster that also speaks TLS, its cluster bus included (``tls-cluster``): a client connected
    over TLS is given the shards' TLS ports (plain clients, the plain ones); ``url`` is the first shard's TLS one."""

    def __init__(self, workdir: Path, tls: Tls) -> None:
        super().__init__(workdir)
        self.tls = tls
        self.tls_ports = {port: free_cluster_port() for port in self.ports}

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_ports[self.ports[0]]}?ssl_ca_certs={self.tls.ca}"

    def shard_options(self, port: int) -> list[str]:
        return [*self.tls.options(self.tls_ports[port]), "--tls-cluster", "yes"]

    def create_command(self) -> list[str]:
        return ["--tls", "--cacert", str(self.tls.ca), *(f"127.0.0.1:{self.tls_ports[p]}" for p in self.ports)]


class AclRedisServer(RedisServer):
    """A ``redis-server`` with one more user, given as ``redis-server --user`` takes it (a line of ACL rules)."""

    def __init__(self, workdir: Path, user: list[str]) -> None:
        super().__init__(workdir)
        self.user = user

    def options(self) -> list[str]:
        return ["--user", *self.user]


class AclRedisClusterServer(RedisClusterServer):
    """A 3-shard Redis Cluster whose every shard has one more user."""

    def __init__(self, workdir: Path, user: list[str]) -> None:
        super().__init__(workdir)
        self.user = user

    def shard_options(self, port: int) -> list[str]:
        return ["--user", *self.user]
