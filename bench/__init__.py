"""One-command benchmarks of any Pusher-protocol server (pusherpy, soketi, ...).

The package is deliberately independent of ``pusherpy``: it speaks only the wire protocol and the
signed HTTP API, so the same numbers can be taken from any server and compared side by side.
Run ``python -m bench --help`` from the project root.
"""
