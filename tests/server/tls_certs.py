"""Certificates for the TLS tests, made with the ``openssl`` command: a throw-away CA and server certificates for
127.0.0.1 that it signs, each with a serial number the test chooses (so a test can tell which one a server sent)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

_LEAF_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
"""
_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


async def openssl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "openssl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


@dataclass(frozen=True)
class ServerPair:
    """A server certificate (PEM, the CA-signed leaf) and its key."""

    cert: Path
    key: Path
    serial: int


def self_signed(directory: Path) -> ServerPair:
    """A self-signed certificate for 127.0.0.1 and its key, made synchronously (for tests of the settings alone)."""
    cert, key = directory / "self-signed.pem", directory / "self-signed.key"
    subprocess.run(
        ["openssl", "req", "-x509", *_EC_KEY, "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-set_serial", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return ServerPair(cert, key, 1)


@dataclass(frozen=True)
class TestCa:
    """A CA made for one test; ``issue`` makes server certificates for 127.0.0.1 signed by it."""

    __test__ = False  # not a test class, for pytest

    directory: Path
    cert: Path
    key: Path

    @classmethod
    async def make(cls, directory: Path) -> TestCa:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "ca.pem", directory / "ca.key"
        await openssl(
            "req", "-x509", *_EC_KEY, "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=test CA"
        )
        (directory / "leaf.cnf").write_text(_LEAF_EXTENSIONS)
        return cls(directory, cert, key)

    async def issue(self, serial: int) -> ServerPair:
        """A certificate for 127.0.0.1 with this serial number, in ``server-SERIAL.pem`` / ``.key``."""
        cert, key = self.directory / f"server-{serial}.pem", self.directory / f"server-{serial}.key"
        request = self.directory / f"server-{serial}.csr"
        await openssl("req", *_EC_KEY, "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1")
        await openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-set_serial", str(serial), "-out", str(cert), "-days", "2", "-extfile", str(self.directory / "leaf.cnf"),
        )  # fmt: skip
        return ServerPair(cert, key, serial)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (and checks the host name, as a browser does)."""
        return ssl.create_default_context(cafile=str(self.cert))
