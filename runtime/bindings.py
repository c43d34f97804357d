"""Key bindings and sensitivity: defaults, overridable by a TOML file."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from worldgen.files import read_toml


def _default_keys() -> dict:
    return {"forward": ["w", "up"], "back": ["s", "down"], "left": ["a", "left"], "right": ["d", "right"],
            "up": ["space", "e"], "down": ["c", "q"], "run": ["left shift", "right shift"],
            "turn_left": [], "turn_right": [], "look_up": [], "look_down": [],
            "pause": ["p"], "step": ["."], "reset": ["backspace"], "hud": ["f1"], "screenshot": ["f12"],
            "save": ["f5"], "load": ["f9"], "release_mouse": ["escape"], "quit": []}


@dataclass(frozen=True)
class Bindings:
    keys: dict = field(default_factory=_default_keys)   # command -> key names (pygame.key.name spelling)
    mouse_sensitivity: float = 0.0025    # radians per pixel of mouse motion
    invert_y: bool = False
    walk_mps: float = 1.5
    run_mps: float = 4.0
    fly_mps: float = 1.5
    turn_rps: float = 1.5                # arrow-free turning keys and the gamepad's right stick
    gamepad_deadzone: float = 0.15

    def command_of(self, key_name: str) -> list[str]:
        return [c for c, names in self.keys.items() if key_name in names]


def load_bindings(path) -> Bindings:
    """Defaults overridden by a TOML file: [keys] command = ["key", ...] and top-level numbers."""
    path = Path(path)
    data = read_toml(path, ValueError, "no such bindings file")
    base = Bindings()
    keys = dict(base.keys)
    for cmd, names in data.pop("keys", {}).items():
        if cmd not in keys:
            raise ValueError(f"{path}: unknown command 'keys.{cmd}' (allowed: {', '.join(keys)})")
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise ValueError(f"{path}: keys.{cmd} must be a list of key names")
        keys[cmd] = names
    fields = {f.name for f in dataclasses.fields(Bindings)} - {"keys"}
    for k, v in data.items():
        if k not in fields:
            raise ValueError(f"{path}: unknown key '{k}' (allowed: keys, {', '.join(sorted(fields))})")
        if not isinstance(v, type(getattr(base, k))) and not (isinstance(v, int) and isinstance(getattr(base, k), float)):
            raise ValueError(f"{path}: {k} must be a {type(getattr(base, k)).__name__}")
    return dataclasses.replace(base, keys=keys, **{k: (float(v) if isinstance(getattr(base, k), float) else v)
                                                   for k, v in data.items()})
