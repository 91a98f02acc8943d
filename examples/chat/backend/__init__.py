"""The chat backend: an aiohttp app that a Laravel developer would recognise.

- ``users``: the demo users and their JWT bearer tokens (``POST /api/login``).
- ``store``: conversations, members, messages and reply chunks in SQLite.
- ``channels``: who may join which channel, as in Laravel's ``routes/channels.php``.
- ``events``: the broadcast events, named as Laravel names them so Echo's defaults work.
- ``assistant``: streams a reply with the OpenAI SDK and broadcasts it chunk by chunk.
- ``model``: a built-in OpenAI-compatible endpoint, so the example runs without a key or a network.
- ``api`` and ``app``: the HTTP routes and ``create_chat_app(config)``.
"""

from .app import create_chat_app
from .config import ChatConfig

__all__ = ["ChatConfig", "create_chat_app"]
