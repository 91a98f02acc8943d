"""Fixtures for the chat example: the whole stack (pusherpy, built-in model, backend) on free ports, and Chromium.

Chromium is Debian's (``/usr/bin/chromium``), driven by the Python ``playwright`` package; the frontend is the
real Vite build in ``examples/chat/frontend/dist`` (committed; rebuilt here when its sources changed). A browser
test that fails leaves a screenshot of every page it opened in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from examples.chat.backend.model import ModelBehaviour
from examples.chat.build import DIST, BuildError, build_frontend, frontend_is_stale
from examples.chat.launcher import ChatStack, LaunchOptions, run_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

StartChat = Callable[..., Awaitable[ChatStack]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell in teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """The built frontend; rebuilt with npm when its sources changed since ``dist/`` was built."""
    if frontend_is_stale():
        try:
            build_frontend()
        except BuildError as exc:
            pytest.fail(f"the chat frontend is not built and could not be built: {exc}")
    return DIST


@pytest.fixture
async def start_chat(tmp_path: Path) -> AsyncIterator[StartChat]:
    """Start stacks: ``await start_chat(word_delay=0.1, fail_after_words=3, frontend_dist=...)``; all stop after."""
    async with AsyncExitStack() as stack:
        count = 0

        async def start(*, word_delay: float = 0.005, fail_after_words: int | None = None, **options: Any) -> ChatStack:
            nonlocal count
            count += 1
            values: dict[str, Any] = {
                "port": 0,
                "pusher_port": 0,
                "data_dir": tmp_path / f"data-{count}",
                "frontend_dist": None,
                "jwt_secret": "test-secret-for-the-chat-example",
                "model": ModelBehaviour(word_delay=word_delay, fail_after_words=fail_after_words),
            }
            values.update(options)
            return await stack.enter_async_context(run_stack(LaunchOptions(**values)))

        yield start


@pytest.fixture
async def chat(start_chat: StartChat) -> ChatStack:
    """The example with a fast built-in model and no frontend."""
    return await start_chat()


@pytest.fixture
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """Headless Debian Chromium; on failure every open page is saved to ``test-artifacts/<test>-<n>.png``."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
            if _failed(request.node):
                await _screenshots(chromium, request.node.name)
        finally:
            await chromium.close()


async def _screenshots(chromium: Browser, test_name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    pages: list[Page] = [page for context in chromium.contexts for page in context.pages]
    for number, page in enumerate(pages):
        await page.screenshot(path=str(ARTIFACTS / f"{safe}-{number}.png"), full_page=True)
