"""The realtime AI chat: pusherpy's showcase example.

``backend/`` is an aiohttp app (login, conversations in SQLite, an assistant streaming through the OpenAI SDK,
broadcasts through pusherpy's publisher library); ``frontend/`` is a React page and a classic-script page on
laravel-echo + pusher-js, committed built in ``frontend/dist/``; ``launcher.py`` runs pusherpy, the backend and
the built frontend together, and ``cli.py`` is the one command: ``python -m examples.chat`` (it needs the
``examples`` extra: ``pip install -e '.[examples]'``).
"""
