"""``python -m examples.chat``: start pusherpy, the chat backend and the built frontend; see ``launcher``."""

import sys

from .launcher import main

sys.exit(main())
