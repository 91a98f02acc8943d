"""``python -m pusherpy`` is ``pusherpy``."""

from .cli import main

raise SystemExit(main())
