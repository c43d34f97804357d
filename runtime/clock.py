"""Time for the game loop: a real clock, a manual clock for tests, and the fixed-timestep accumulator.

"Fix Your Timestep": real time accumulates; the generator advances in fixed ticks of 1/tick_hz; a long frame
is clamped so that a slow machine drops lag instead of queueing model calls.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


class RealClock:
    """Monotonic seconds."""

    def now(self) -> float:
        return time.perf_counter()


class ManualClock:
    """A clock the test advances: loop tests become arithmetic, not sleeps."""

    def __init__(self, t: float = 0.0):
        self.t = t

    def now(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> None:
        self.t += dt_s


@dataclass
class FixedStep:
    """The accumulator: feed it each frame's real duration, it says how many ticks are due."""

    tick_hz: float
    max_frame_s: float = 0.25      # the clamp: a frame longer than this counts as this long
    max_ticks_per_frame: int = 4   # never queue more model calls than this in one frame
    accumulator_s: float = 0.0

    @property
    def dt_s(self) -> float:
        return 1.0 / self.tick_hz

    def advance(self, frame_s: float) -> int:
        """Add one frame's duration; return the number of ticks to run now."""
        self.accumulator_s += min(max(frame_s, 0.0), self.max_frame_s)
        ticks = int(self.accumulator_s // self.dt_s)
        self.accumulator_s -= ticks * self.dt_s
        if ticks > self.max_ticks_per_frame:
            ticks = self.max_ticks_per_frame     # drop the rest: lag is dropped, not queued
            self.accumulator_s = 0.0
        return ticks

    @property
    def alpha(self) -> float:
        """How far (0..1) real time is into the next tick: for interpolating the view."""
        return self.accumulator_s / self.dt_s
