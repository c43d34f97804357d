"""Input: device events -> InputState -> one Action per tick, in training units, clamped to the model's range.

Sources: pygame (keyboard, mouse with the pointer grabbed, gamepad), pynput (global listeners for kiosk and VR
use, where the window may not have focus; imported lazily because it needs a display), and a scripted source
that replays an action log.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from .bindings import Bindings

MOVE_COMMANDS = ("forward", "back", "left", "right", "up", "down", "run", "turn_left", "turn_right", "look_up",
                 "look_down")


@dataclass
class InputState:
    """What the player is doing right now. Mouse motion accumulates until a tick consumes it."""

    held: set = field(default_factory=set)          # movement commands held down
    mouse_dx: float = 0.0                           # pixels, + to the right
    mouse_dy: float = 0.0                           # pixels, + downwards
    stick: tuple = (0.0, 0.0, 0.0, 0.0)             # gamepad: left x, left y, right x, right y in [-1, 1]
    events: list = field(default_factory=list)      # one-shot commands: pause, step, save, ...
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def press(self, command: str) -> None:
        with self.lock:
            if command in MOVE_COMMANDS:
                self.held.add(command)
            else:
                self.events.append(command)

    def release(self, command: str) -> None:
        with self.lock:
            self.held.discard(command)

    def move_mouse(self, dx: float, dy: float) -> None:
        with self.lock:
            self.mouse_dx += dx
            self.mouse_dy += dy

    def take_events(self) -> list[str]:
        with self.lock:
            ev, self.events = self.events, []
        return ev


class ActionMapper:
    """Held keys, sticks and mouse motion over one tick -> an action (forward, right, up, yaw, pitch)."""

    def __init__(self, bindings: Bindings, tick_hz: float, action_max):
        self.b, self.tick_hz = bindings, tick_hz
        self.action_max = np.asarray(action_max, np.float64)

    def look_delta(self, state: InputState) -> tuple[float, float]:
        """(yaw, pitch) radians that the pending mouse motion asks for; turning right is negative yaw."""
        sign = 1.0 if self.b.invert_y else -1.0
        return -state.mouse_dx * self.b.mouse_sensitivity, sign * state.mouse_dy * self.b.mouse_sensitivity

    def tick_action(self, state: InputState) -> np.ndarray:
        """The action for one tick; mouse motion beyond the model's range carries over to later ticks."""
        dt = 1.0 / self.tick_hz
        with state.lock:
            h = state.held
            axis = lambda pos, neg: float(pos in h) - float(neg in h)  # noqa: E731
            lx, ly, rx, ry = (0.0 if abs(v) < self.b.gamepad_deadzone else v for v in state.stick)
            speed = self.b.run_mps if "run" in h else self.b.walk_mps
            fwd = np.clip(axis("forward", "back") - ly, -1, 1) * speed * dt
            right = np.clip(axis("right", "left") + lx, -1, 1) * speed * dt
            up = axis("up", "down") * self.b.fly_mps * dt
            mouse_yaw, mouse_pitch = self.look_delta(state)
            yaw = mouse_yaw + (axis("turn_left", "turn_right") - rx) * self.b.turn_rps * dt
            pitch = mouse_pitch + (axis("look_up", "look_down") - ry) * self.b.turn_rps * dt
            a = np.array([fwd, right, up, yaw, pitch])
            clamped = np.clip(a, -self.action_max, self.action_max)
            # what the clamp held back of the MOUSE's turn stays pending for the next ticks (keys and sticks
            # are rates: what they ask beyond the range is simply not done)
            left_yaw = _held_back(mouse_yaw, yaw - clamped[3])
            left_pitch = _held_back(mouse_pitch, pitch - clamped[4])
            if self.b.mouse_sensitivity > 0:
                state.mouse_dx = -left_yaw / self.b.mouse_sensitivity
                state.mouse_dy = left_pitch / self.b.mouse_sensitivity * (1.0 if self.b.invert_y else -1.0)
            else:
                state.mouse_dx = state.mouse_dy = 0.0
        return clamped


def _held_back(mouse: float, overflow: float) -> float:
    """The part of the clamp's overflow that came from the mouse (same sign, at most the mouse's amount)."""
    if mouse == 0.0 or overflow == 0.0 or (mouse > 0) != (overflow > 0):
        return 0.0
    return float(np.sign(mouse) * min(abs(mouse), abs(overflow)))


class PygameInput:
    """pygame keyboard, mouse (relative motion while the pointer is grabbed) and gamepad."""

    def __init__(self, bindings: Bindings, state: InputState):
        import pygame
        self.pg, self.b, self.state = pygame, bindings, state
        self.grabbed = False
        pygame.joystick.init()
        self.pads = [pygame.joystick.Joystick(i) for i in range(pygame.joystick.get_count())]

    def grab(self, on: bool) -> None:
        self.grabbed = on
        self.pg.event.set_grab(on)
        self.pg.mouse.set_visible(not on)
        if on:
            self.pg.mouse.get_rel()     # forget motion from before the grab

    def handle(self, ev) -> bool:
        """Feed one pygame event; False when the window was asked to close."""
        pg = self.pg
        if ev.type == pg.QUIT:
            return False
        if ev.type in (pg.KEYDOWN, pg.KEYUP):
            for cmd in self.b.command_of(pg.key.name(ev.key)):
                if ev.type == pg.KEYDOWN:
                    if cmd == "release_mouse":
                        self.grab(False)
                    self.state.press(cmd)
                else:
                    self.state.release(cmd)
        elif ev.type == pg.MOUSEBUTTONDOWN and not self.grabbed:
            self.grab(True)
        elif ev.type == pg.MOUSEMOTION and self.grabbed:
            self.state.move_mouse(*ev.rel)
        elif ev.type == pg.JOYAXISMOTION and ev.axis < 4:
            with self.state.lock:
                s = list(self.state.stick)
                s[ev.axis] = float(ev.value)
                self.state.stick = tuple(s)
        elif ev.type == pg.JOYDEVICEADDED:
            self.pads.append(pg.joystick.Joystick(ev.device_index))
        return True


class PynputInput:
    """Global keyboard and mouse listeners (pynput): input reaches the game without window focus."""

    def __init__(self, bindings: Bindings, state: InputState):
        try:
            from pynput import keyboard, mouse   # needs a display: imported only when asked for
        except Exception as e:  # pynput raises ImportError or Xlib errors without a display
            raise RuntimeError(f"pynput input is not available here ({e.__class__.__name__}: {e})") from None
        self.b, self.state = bindings, state
        self._last = None
        self.kb = keyboard.Listener(on_press=self._press, on_release=self._release)
        self.ms = mouse.Listener(on_move=self._move)
        self.kb.start()
        self.ms.start()

    @staticmethod
    def _name(key) -> str:
        char = getattr(key, "char", None)
        if char:
            return char.lower()
        name = getattr(key, "name", str(key))
        return {"shift": "left shift", "shift_r": "right shift", "esc": "escape"}.get(name, name)

    def _press(self, key):
        for cmd in self.b.command_of(self._name(key)):
            self.state.press(cmd)

    def _release(self, key):
        for cmd in self.b.command_of(self._name(key)):
            self.state.release(cmd)

    def _move(self, x, y):
        if self._last is not None:
            self.state.move_mouse(x - self._last[0], y - self._last[1])
        self._last = (x, y)

    def stop(self):
        self.kb.stop()
        self.ms.stop()


class ScriptedInput:
    """Replays an action log: one recorded action per tick, then stillness. With `captions` (a tour: one text
    a tick), `caption` is the text of the tick last taken."""

    def __init__(self, actions: list[np.ndarray], captions: list[str] | None = None):
        self.actions = list(actions)
        self.captions = list(captions) if captions is not None else None
        self.i = 0

    @property
    def caption(self) -> str:
        if not self.captions or self.i == 0:
            return ""
        return self.captions[min(self.i, len(self.captions)) - 1]

    def restart(self) -> None:
        self.i = 0

    @property
    def done(self) -> bool:
        return self.i >= len(self.actions)

    def next_action(self) -> np.ndarray:
        a = self.actions[self.i] if self.i < len(self.actions) else np.zeros(5)
        self.i += 1
        return np.asarray(a, np.float64)
