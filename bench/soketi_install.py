"""Install the pinned soketi from the npm registry into a cache directory, once, and check it can run natively.

Why this exists: ``python -m bench --vs soketi`` must work on any machine with Node.js and npm, without a soketi
the user installed by hand. Why the override: soketi 1.6.1 pins uWebSockets.js to a GitHub tarball, which many
networks (and every registry-only mirror) cannot reach; the npm package
``@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0`` ships the same library's native builds for Node 16, 18 and
20 (ABI 93, 108, 115) on Linux, macOS and Windows, built against an old glibc. Its loader quietly falls back to a
slow JavaScript implementation when the native file does not load, so ``_check_native`` loads that file directly:
a soketi without it would not be the soketi people deploy, and the comparison would be unfair to it.

Everything goes to ``<cache>/soketi-<version>``: built under a temporary name beside it and renamed into place
only after the native check, so an interrupted or failed install never looks installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.servers import SetupError

SOKETI_VERSION = "1.6.1"
UWS_OVERRIDE = "npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0"
CACHE_ENV = "BENCH_CACHE_DIR"
"""Overrides the cache base directory (default ``$XDG_CACHE_HOME/pusherpy-bench`` or ``~/.cache/pusherpy-bench``).
Not ``PUSHERPY_*``: pusherpy refuses unknown ``PUSHERPY_`` variables, and the bench passes its environment on."""
INSTALL_TIMEOUT = 600.0
INSTEAD = (
    "or start soketi yourself and pass --soketi-cmd CMD (we start it) "
    "or --vs-url http://KEY:SECRET@127.0.0.1:PORT/apps/ID (already running)"
)

# Loads uWebSockets.js's native file for this Node exactly as its loader would name it; prints the file, or why not.
_NATIVE_CHECK_JS = """
const path = require('path');
const soketi = path.join(process.cwd(), 'node_modules', '@soketi', 'soketi');
const dir = path.dirname(require.resolve('uWebSockets.js/package.json', {paths: [soketi]}));
const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
try { require(path.join(dir, 'binaries', name)); console.log(name); }
catch (e) { console.log(`${name} (Node ${process.version}): ${String(e.message).split('\\n')[0]}`); process.exit(3); }
"""


def cache_root(environ: Mapping[str, str]) -> Path:
    """Return the bench's cache base directory per ``BENCH_CACHE_DIR``, then XDG, then ``~/.cache``."""
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV]).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "pusherpy-bench"


@dataclass(frozen=True, slots=True)
class SoketiInstall:
    """One pinned soketi under ``root``: where it lives, whether it is there, and how to put it there."""

    root: Path
    version: str = SOKETI_VERSION

    @property
    def directory(self) -> Path:
        return self.root / f"soketi-{self.version}"

    @property
    def executable(self) -> Path:
        """npm's link to soketi's ``bin/server.js`` (a ``#!/usr/bin/env node`` script)."""
        return self.directory / "node_modules" / ".bin" / "soketi"

    @property
    def marker(self) -> Path:
        """Written last, after the native check: its presence means the install is complete."""
        return self.directory / "installed"

    def is_installed(self) -> bool:
        return self.marker.is_file() and self.executable.exists()

    def ensure(self) -> None:
        """Install unless installed; raise SetupError if that fails or uWebSockets.js will not load natively.

        A later change of Node version is caught when soketi starts (``soketi.py`` reads its log for the loader's
        fallback warning), so a run with an existing install costs no extra Node process.
        """
        if not self.is_installed():
            self._install()

    def _install(self) -> None:
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            raise SetupError(
                f"soketi {self.version} is not installed in {self.directory} and {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not on PATH: install Node.js 20 with npm, {INSTEAD}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        work = self.root / f"soketi-{self.version}.partial-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        print(
            f"installing soketi {self.version} from the npm registry into {self.directory} (once, ~20 s) ...",
            file=sys.stderr,
            flush=True,
        )
        try:
            self._npm_install(work)
            self._check_native(work)
            (work / "installed").write_text(f"@soketi/soketi@{self.version} with uWebSockets.js={UWS_OVERRIDE}\n")
            try:
                work.rename(self.directory)
            except OSError:  # another run finished first: keep its copy
                if not self.is_installed():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _npm_install(self, work: Path) -> None:
        package = {
            "name": "pusherpy-bench-soketi",
            "private": True,
            "dependencies": {"@soketi/soketi": self.version},
            "overrides": {"uWebSockets.js": UWS_OVERRIDE},
        }
        (work / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        log = self.root / f"soketi-{self.version}-npm.log"
        try:
            with open(log, "wb") as out:
                res = subprocess.run(
                    ["npm", "install", "--no-audit", "--no-fund", "--no-update-notifier"],
                    cwd=work,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise SetupError(
                f"npm install @soketi/soketi@{self.version} took over {INSTALL_TIMEOUT:.0f} s (log: {log}); {INSTEAD}"
            ) from None
        if res.returncode != 0:
            raise SetupError(
                f"npm install @soketi/soketi@{self.version} failed ({_npm_error(log)}; full log: {log}); {INSTEAD}"
            )

    def _check_native(self, where: Path) -> None:
        res = subprocess.run(
            ["node", "-e", _NATIVE_CHECK_JS],
            cwd=where,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if res.returncode != 0:
            why = (res.stdout.strip() or res.stderr.strip() or f"exit {res.returncode}").splitlines()[0]
            raise SetupError(
                f"soketi's uWebSockets.js cannot load its native build here ({why}); it has builds for Node 16, 18 "
                f"and 20 only: run one of those, {INSTEAD}"
            )


def _npm_error(log: Path) -> str:
    """The error code and the first line that says what failed, from an install log (npm 7+ ``npm error``, older
    ``npm ERR!``); the rest is stack and advice."""
    lines = log.read_text(errors="replace").splitlines()
    texts = [line.split(" ", 2)[2].strip() for line in lines if line.startswith(("npm error ", "npm ERR! "))]
    code = [text for text in texts if text.startswith("code ")][:1]
    details = ("syscall ", "errno ", "path ", "at ", "A complete log", "code ")
    what = [text for text in texts if text and not text.startswith(details)][:1]
    found = " / ".join(code + what) or (lines[-1].strip() if lines else "no output")
    return found if len(found) <= 240 else found[:237] + "..."
