"""``create_chat_app(config)``: the backend's aiohttp application.

Its parts live as long as the app: ``cleanup_ctx`` opens the store and the clients on start-up and, on shutdown,
first cancels the replies in flight (each stores and broadcasts its failure), then closes the clients and the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from openai import AsyncOpenAI

from pusherpy.publisher import AsyncPusher, broadcasting_routes

from .api import ASSISTANT, CONFIG, STORE, TOKENS, api_routes, current_user, error_middleware
from .assistant import Assistant
from .channels import conversation_rules
from .config import ChatConfig
from .store import ConversationStore
from .users import Tokens

DEMO_CONVERSATIONS = (
    ("Team room", ("alice", "bob", "carol")),
    ("Alice & Bob", ("alice", "bob")),
)
"""Created in an empty database: Carol is not in the second conversation, so she sees a 403 there."""


def create_chat_app(config: ChatConfig) -> web.Application:
    """Build the backend; serve it with ``web.run_app`` or an ``AppRunner``."""
    application = web.Application(middlewares=[error_middleware])
    store = ConversationStore(config.database, DEMO_CONVERSATIONS)
    pusher = AsyncPusher.from_config(config.pusher)
    application[CONFIG] = config
    application[STORE] = store
    application[TOKENS] = Tokens(config.jwt_secret, config.token_ttl_seconds)
    application.add_routes(api_routes())
    application.add_routes(broadcasting_routes(pusher, conversation_rules(store), current_user))
    if config.frontend_dist is not None:
        _serve_frontend(application, config.frontend_dist)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        model = AsyncOpenAI(api_key=config.model.api_key, base_url=config.model.base_url, max_retries=0)
        app[ASSISTANT] = Assistant(store, pusher, model, config.model)
        try:
            yield
        finally:
            await app[ASSISTANT].aclose()
            await model.close()
            await pusher.close()
            await store.close()

    application.cleanup_ctx.append(lifetime)
    return application


def _serve_frontend(application: web.Application, dist: Path) -> None:
    """Serve Vite's output: ``/`` is the React page, ``/classic.html`` the classic-script page."""
    index = dist / "index.html"

    async def react_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    application.router.add_get("/", react_page)
    application.router.add_static("/", dist)
