"""The live debug console: what is recorded for a watched app (``hub.py``) and the page that shows it."""
