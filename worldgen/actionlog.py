"""Action logs (NDJSON): a header line with the scene and start pose, then one action per line.

The same format serves trajectories, recording, replay, evaluation paths and agents. Floats are written with
Python's shortest round-trip repr, so a log read back gives bit-identical actions and hence identical poses.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FileRefused
from .files import atomic_write_text, read_small_text
from .poses import PITCH_LIMIT_RAD, Action, Pose

FORMAT = "worldloop.actionlog"
VERSION = 1


class ActionLogError(FileRefused):
    """An action log that cannot be read; the message names the file, the line and the field."""


@dataclass
class ActionLog:
    scene: dict                 # the scene spec as a table (SceneSpec.to_dict())
    start: Pose
    actions: list[Action] = field(default_factory=list)
    tick_hz: float = 30.0
    kind: str = "recording"     # walk, loop, orbit, recording, eval, agent
    meta: dict = field(default_factory=dict)

    def header(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, "tick_hz": self.tick_hz,
                "scene": self.scene, "start_pose": list(self.start.as_array()), "meta": self.meta}

    def to_text(self) -> str:
        lines = [header_line(self)] + [action_line(i, a) for i, a in enumerate(self.actions)]
        return "".join(lines)


def header_line(log: ActionLog) -> str:
    return json.dumps(log.header(), sort_keys=True) + "\n"


def action_line(t: int, a: Action) -> str:
    return json.dumps({"t": t, "action": list(a.as_array())}) + "\n"


class ActionLogWriter:
    """An action log written as it goes: the header at once, then each action as one flushed line, so a
    recording killed at any moment (kill -9 included) keeps every tick up to the last whole line."""

    def __init__(self, path, log: ActionLog):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._f = open(self.path, "w", encoding="utf-8")
        self._f.write(header_line(log))
        for i, a in enumerate(log.actions):
            self._f.write(action_line(i, a))
        self._f.flush()

    def add(self, a: Action) -> None:
        self._f.write(action_line(len(self.log.actions), a))
        self._f.flush()
        self.log.actions.append(a)

    def close(self) -> Path:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        return self.path


def write_action_log(log: ActionLog, path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    atomic_write_text(Path(path), log.to_text())


MAX_BYTES = 512 << 20     # about 5 million ticks, 46 hours at 30 Hz
POSE_LIMIT_M = 1e6        # a start pose this far from the origin is no place a world has


def _finite(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v) and abs(v) <= 1e12    # a 400-digit integer overflows float: not a number here
    except OverflowError:
        return False


def _numbers(value, n: int, where: str) -> list[float]:
    if not (isinstance(value, list) and len(value) == n and all(_finite(v) for v in value)):
        shown = repr(value)
        raise ActionLogError(f"{where} must be a list of {n} finite numbers, got "
                             f"{shown if len(shown) < 120 else shown[:120] + '...'}")
    return [float(v) for v in value]


def _json(line: str, where: str, what: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise ActionLogError(f"{where}: {what}: {e}") from None
    except (RecursionError, ValueError, SystemError):
        raise ActionLogError(f"{where}: {what}: nested too deeply or a number too long") from None


def parse_action_log(text: str, src: str = "<action log>") -> ActionLog:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ActionLogError(f"{src}: empty file, expected a header line")
    head = _json(lines[0], f"{src}:1", "header is not JSON")
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise ActionLogError(f"{src}:1: format must be '{FORMAT}'")
    if not isinstance(head.get("version"), int) or not 1 <= head["version"] <= VERSION:
        raise ActionLogError(f"{src}:1: version {head.get('version')!r} is not supported "
                             f"(this worldloop reads 1 to {VERSION})")
    if not isinstance(head.get("scene"), dict):
        raise ActionLogError(f"{src}:1: field 'scene' must be a table")
    start = Pose(*_numbers(head.get("start_pose"), 5, f"{src}:1: field 'start_pose'"))
    if max(abs(start.x), abs(start.y), abs(start.z)) > POSE_LIMIT_M or abs(start.yaw) > 1e4 or \
            abs(start.pitch) > PITCH_LIMIT_RAD + 1e-9:
        raise ActionLogError(f"{src}:1: field 'start_pose' {list(start.as_array())} is out of range (position "
                             f"within {POSE_LIMIT_M:g} m, pitch within {math.degrees(PITCH_LIMIT_RAD):.0f} degrees)")
    tick_hz = head.get("tick_hz", 30.0)
    if not _finite(tick_hz) or not 1 <= tick_hz <= 240:
        raise ActionLogError(f"{src}:1: field 'tick_hz' must be a number in [1, 240], got {tick_hz!r}")
    actions = []
    for n, line in enumerate(lines[1:], start=2):
        rec = _json(line, f"{src}:{n}", "not JSON")
        if not isinstance(rec, dict):
            raise ActionLogError(f"{src}:{n}: expected an object with field 'action'")
        actions.append(Action(*_numbers(rec.get("action"), 5, f"{src}:{n}: field 'action'")))
    return ActionLog(head["scene"], start, actions, float(tick_hz), str(head.get("kind", "recording")),
                     head.get("meta", {}) if isinstance(head.get("meta"), dict) else {})


def read_action_log(path) -> ActionLog:
    path = Path(path)
    return parse_action_log(read_small_text(path, ActionLogError, "no such action log", MAX_BYTES), str(path))
