"""The Pusher protocol core: sans-I/O, standard library only (orjson when installed).

Nothing in this package performs I/O, reads a clock or the environment, or imports asyncio or aiohttp. The
server shell and the publisher library both build on it, so every wire name and signature formula lives here once.
"""
