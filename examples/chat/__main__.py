"""``python -m examples.chat``: start pusherpy, the chat backend and the built frontend; see ``cli``."""

import sys

from .dependencies import missing_message


def run() -> int:
    """Check the example's own dependencies first: a missing one gets one line and exit status 2."""
    problem = missing_message()
    if problem is not None:
        print(f"python -m examples.chat: {problem}", file=sys.stderr)
        return 2
    from .cli import main  # imports the OpenAI SDK and PyJWT, which are known to be there now

    return main()


sys.exit(run())
