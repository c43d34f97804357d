"""The generator off the render thread: a worker thread owns the backend (and its GL context, if any).

The main loop sends commands (step, save, load, reset) and reads the newest frame whenever it draws; it never
waits for the model. Every command runs in order on the worker, so a save always sees a whole tick.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from worldloop.worldgen.poses import Frame

from worldloop.worldgen.saves import SaveError
from .session import GeneratorFault, Session


@dataclass
class Published:
    frame: Frame | None = None
    tick: int = 0
    step_ms: float = 0.0
    serial: int = 0                      # bumps whenever a new frame is published
    last_step: int = 0                   # id of the last step command done (ids count up from 1)
    messages: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)   # the backend's stats() as of this frame (the HUD, the memory map)


class GeneratorWorker(threading.Thread):
    def __init__(self, make_session):
        super().__init__(daemon=True, name="generator")
        self._make = make_session
        self.commands: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.out = Published()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.session: Session | None = None

    def pending(self) -> int:
        return self.commands.qsize()

    def send(self, *cmd) -> None:
        self.commands.put(cmd)

    def take(self) -> Published:
        """A snapshot of what was published; messages are handed over once."""
        with self.lock:
            snap = Published(self.out.frame, self.out.tick, self.out.step_ms, self.out.serial,
                             self.out.last_step, self.out.messages, self.out.stats)
            self.out.messages = []
        return snap

    def _publish(self, frame: Frame, step_ms: float = 0.0, message: str | None = None, step_id=None):
        stats = self.session.backend.stats()       # read here, on the thread that changes the memory
        with self.lock:
            self.out.stats = stats
            self.out.frame, self.out.tick = frame, self.session.tick
            self.out.step_ms = step_ms or self.out.step_ms
            self.out.serial += 1
            if step_id is not None:
                self.out.last_step = step_id
            if message:
                self.out.messages.append(message)

    def run(self) -> None:
        try:
            self.session = self._make()
            self._publish(self.session.frame)
        except BaseException as e:  # reported to the main thread, which shows it and exits cleanly
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        while True:
            cmd = self.commands.get()
            kind = cmd[0]
            if kind == "stop":
                self.session.close()
                return
            try:
                if kind == "step":
                    t0 = time.perf_counter()
                    frame = self.session.step(cmd[1])
                    self._publish(frame, (time.perf_counter() - t0) * 1000, step_id=cmd[2])
                elif kind == "save":
                    path = self.session.save(cmd[1])
                    self._publish(self.session.frame, message=f"saved {path}")
                elif kind == "load":
                    self._publish(self.session.load(cmd[1]), message=f"loaded {cmd[1]}")
                elif kind == "reset":
                    self._publish(self.session.reset(), message="reset to the start")
            except SaveError as e:
                self._publish(self.session.frame, message=f"load refused: {e}")
            except GeneratorFault as e:     # the session is back at its last good state: show it and go on
                self._publish(self.session.frame, message=str(e), step_id=cmd[2] if kind == "step" else None)
            except Exception as e:  # the game goes on; the player reads what failed on the HUD
                self._publish(self.session.frame, message=f"{kind} failed: {e.__class__.__name__}: {e}")
