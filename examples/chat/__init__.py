"""The realtime AI chat: pusherpy's showcase example.

``backend/`` is an aiohttp app (login, conversations in SQLite, an assistant streaming through the OpenAI SDK,
broadcasts through pusherpy's publisher library); ``frontend/`` is a React page and a classic-script page on
laravel-echo + pusher-js; ``launcher.py`` runs pusherpy, the backend and the built frontend with one command:
``python -m examples.chat``.
"""
