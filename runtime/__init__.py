"""The game: clock and loop, input, action mapping, generator backends, GL display, saves, recording."""

import os as _os

_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")   # no greeting on stdout from pygame
# torch's OpenMP threads sleep when idle instead of spinning for the cores (runtime/cores.py); a user's own
# setting stands
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
