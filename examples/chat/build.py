"""The built frontend: is the shipped ``frontend/dist/`` current, and how to rebuild it.

``dist/`` is committed, so the example starts with no Node.js, no npm and no download. Each build writes
``dist/sources.sha256``, a digest of the files it was built from (``frontend/sources.mjs`` computes it in the
build; ``sources_digest`` here is the same rule in Python). When the sources no longer match it (someone edited
them), the launcher rebuilds with npm; only then is Node.js needed, and only when ``node_modules/`` is missing
does ``npm ci`` download the packages of ``package-lock.json`` from the npm registry.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Final

FRONTEND: Final = Path(__file__).resolve().parent / "frontend"
DIST: Final = FRONTEND / "dist"
STAMP: Final = "sources.sha256"
SOURCE_FILES: Final = (
    "classic.html",
    "index.html",
    "package-lock.json",
    "package.json",
    "sources.mjs",
    "vite.config.js",
)
SOURCE_FOLDERS: Final = ("public", "src")


class BuildError(Exception):
    """The frontend had to be rebuilt and could not be; the message says why in one line."""


def sources_digest(frontend: Path = FRONTEND) -> str:
    """sha256 over ``<path>\\0<sha256 of the file>\\n`` for every source, in path order; CRLF counts as LF.

    The same rule as ``sourcesDigest`` in ``frontend/sources.mjs``.
    """
    paths = [name for name in SOURCE_FILES if (frontend / name).is_file()]
    for folder in SOURCE_FOLDERS:
        paths += [path.relative_to(frontend).as_posix() for path in (frontend / folder).rglob("*") if path.is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths):
        content = (frontend / path).read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{path}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


def frontend_is_stale(frontend: Path = FRONTEND) -> bool:
    """True when ``dist/`` is missing, or was built from other sources than the ones in ``frontend/`` now."""
    stamp = frontend / "dist" / STAMP
    return not stamp.is_file() or stamp.read_text().strip() != sources_digest(frontend)


def needs_download(frontend: Path = FRONTEND) -> bool:
    """True when a build would first run ``npm ci``, which downloads the frontend's packages."""
    return not (frontend / "node_modules").is_dir()


def build_frontend(frontend: Path = FRONTEND) -> None:
    """``npm ci`` (when ``node_modules/`` is missing) and ``npm run build``; npm's output goes to the terminal.

    Raises:
        BuildError: npm is missing or failed.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is not installed: install Node.js 20+ to rebuild it")
    steps = ([[npm, "ci", "--no-audit", "--no-fund"]] if needs_download(frontend) else []) + [[npm, "run", "build"]]
    for step in steps:
        if subprocess.run(step, cwd=frontend).returncode != 0:
            raise BuildError(f"`{' '.join(['npm', *step[1:]])}` failed in {frontend} (its output is above)")
