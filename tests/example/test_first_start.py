"""The first start of the example on a machine that has only what the README's first command installed.

That is pusherpy (``pip install -e '.[speed]'``), maybe no Node.js, and no OpenAI SDK or PyJWT yet: the example
must say in one line how to install what it needs, and must not need npm or a download for its frontend.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import aiohttp
import pytest

from examples.chat.build import DIST, FRONTEND, STAMP, frontend_is_stale, sources_digest
from examples.chat.dependencies import EXTRA, REQUIRED
from tests.example.support import DEADLINE
from tests.example.test_launcher import launched, run_command

ROOT = Path(__file__).resolve().parents[2]

HIDE_MODULES = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    '''Make these modules import as they do where they were never installed.'''

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {hidden}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def _requirement_name(requirement: str) -> str:
    """``"openai>=1.40"`` -> ``"openai"``; ``"pusherpy[speed,examples]"`` -> ``"pusherpy"``."""
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower()


async def test_without_the_examples_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    # A sitecustomize on PYTHONPATH hides the OpenAI SDK and PyJWT from this one process, as a venv without them.
    (tmp_path / "sitecustomize.py").write_text(HIDE_MODULES.format(hidden={r.module for r in REQUIRED}))
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    process = await run_command("--port", "0", PYTHONPATH=python_path)
    stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE)

    executable = Path(sys.executable)
    python = str(executable.relative_to(ROOT)) if executable.is_relative_to(ROOT) else str(executable)
    assert process.returncode == 2
    assert stdout == b""
    assert stderr.decode().splitlines() == [
        "python -m examples.chat: the chat example needs openai and pyjwt, which are not installed: "
        f"run {shlex.quote(python)} -m pip install -e '.[examples]'"
    ]


def test_the_examples_extra_installs_what_the_example_imports_and_dev_includes_it() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {_requirement_name(r) for r in extras[EXTRA]} == {r.distribution for r in REQUIRED}
    own = [r for r in extras["dev"] if _requirement_name(r) == "pusherpy"]
    assert len(own) == 1 and EXTRA in re.findall(r"[\w-]+", own[0].partition("[")[2]), own
    repeated = {_requirement_name(r) for r in extras["dev"]} & {_requirement_name(r) for r in extras[EXTRA]}
    assert not repeated, f"dev repeats what the {EXTRA} extra installs: {repeated}"


def test_the_build_stamps_dist_with_the_digest_the_launcher_computes(frontend_dist: Path) -> None:
    """``frontend/sources.mjs`` (in the build) and ``build.py`` (in the launcher) must compute the same digest."""
    assert (frontend_dist / STAMP).read_text().strip() == sources_digest()
    assert not frontend_is_stale()


def test_a_changed_source_makes_the_frontend_stale_and_line_ends_do_not(frontend_dist: Path, tmp_path: Path) -> None:
    copy = tmp_path / "frontend"
    shutil.copytree(FRONTEND, copy, ignore=shutil.ignore_patterns("node_modules"))
    assert not frontend_is_stale(copy)

    page = copy / "src" / "shared" / "api.js"
    page.write_bytes(page.read_bytes().replace(b"\n", b"\r\n"))  # a checkout with Windows line ends
    assert not frontend_is_stale(copy)

    page.write_text(page.read_text() + "// changed\n")
    assert frontend_is_stale(copy)
    (copy / "src" / "shared" / "api.js").unlink()
    (copy / "dist" / STAMP).unlink()
    assert frontend_is_stale(copy)


async def test_a_fresh_checkout_starts_without_node_or_npm(tmp_path: Path) -> None:
    """What ``git clone`` gives (the committed tree, not this working tree) serves both pages with no npm on PATH."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    archive = tmp_path / "checkout.tar"
    subprocess.run(["git", "archive", "--output", str(archive), "HEAD", "pusherpy", "examples"], cwd=ROOT, check=True)
    checkout = tmp_path / "checkout"
    with tarfile.open(archive) as tar:
        tar.extractall(checkout, filter="data")
    assert (checkout / DIST.relative_to(ROOT) / "index.html").is_file(), "the built frontend is not committed"
    empty = tmp_path / "bin"
    empty.mkdir()

    async with launched("--port", "0", "--data-dir", str(tmp_path / "data"), cwd=checkout, PATH=str(empty)) as chat:
        assert not any("npm" in line for line in chat.banner), chat.banner
        async with aiohttp.ClientSession() as session:
            for page, marker in (("", '<div id="root"></div>'), ("classic.html", 'id="composer"')):
                async with session.get(chat.url + page) as response:
                    assert response.status == 200 and marker in await response.text()
        status, stderr = await chat.stop()
    assert status == 0, stderr
