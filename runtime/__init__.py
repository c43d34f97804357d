"""The game: clock and loop, input, action mapping, generator backends, GL display, saves, recording."""

import os as _os

_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")   # no greeting on stdout from pygame
