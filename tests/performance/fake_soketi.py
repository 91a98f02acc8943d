"""A stand-in for soketi in the bench's tests: records how it was started, then serves what the bench needs.

It writes its arguments, working directory, PID and every ``SOKETI_*`` variable to the JSON file named by
``FAKE_SOKETI_RECORD``, then becomes ``python -m pusherpy serve`` (same PID) on the address and app that soketi would
take from those variables. With ``FAKE_SOKETI_FALLBACK`` set it first prints what uWebSockets.js's loader prints when
its native build does not load, as soketi on an unsupported Node does.
"""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    env = os.environ
    record = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "env": {name: value for name, value in env.items() if name.startswith("SOKETI_")},
    }
    with open(env["FAKE_SOKETI_RECORD"], "w") as out:
        json.dump(record, out)
    if env.get("FAKE_SOKETI_FALLBACK"):
        print("Falling back to a NodeJS implementation; performance may be degraded.", file=sys.stderr, flush=True)
    serve = ["-m", "pusherpy", "serve", "--host", env["SOKETI_HOST"], "--port", env["SOKETI_PORT"]]
    # soketi's app id is "app-id"; --app-id takes Pusher's numeric ids, a TOML file or the environment any id.
    app = {
        "PUSHERPY_APP_ID": env["SOKETI_DEFAULT_APP_ID"],
        "PUSHERPY_APP_KEY": env["SOKETI_DEFAULT_APP_KEY"],
        "PUSHERPY_APP_SECRET": env["SOKETI_DEFAULT_APP_SECRET"],
    }
    os.execve(sys.executable, [sys.executable, *serve], {**env, **app})
