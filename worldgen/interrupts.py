"""Stopping cleanly on Ctrl-C (SIGINT) and SIGTERM.

Two ways, one per kind of work. A loop that writes as it goes (play with a recording or a video) asks for a
flag (`stop_flag`): the signal only sets it, the loop ends at its next tick and closes its files, so the
signal never lands in the middle of a write to ffmpeg. Everything else lets the signal raise
KeyboardInterrupt (SIGTERM too, by `terminate_as_interrupt`): writers clean up in their `finally` blocks
(`files.replacing`), and the command line ends with one line and status 130, no traceback.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """Set by a signal inside `stop_flag`: the name of the first one, or None."""

    def __init__(self):
        self.signal: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None


@contextmanager
def stop_flag():
    """Within the block SIGINT and SIGTERM set the flag instead of raising; a second one raises
    KeyboardInterrupt (the user insists). Outside the main thread, signals cannot be caught: the flag stays
    unset."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, _frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def terminate_as_interrupt() -> None:
    """SIGTERM raises KeyboardInterrupt as SIGINT does, so both clean up the same way (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
