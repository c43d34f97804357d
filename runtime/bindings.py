"""Key bindings and sensitivity: defaults, overridable by a TOML file."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from worldloop.worldgen.errors import FileRefused
from worldloop.worldgen.files import read_toml

RANGES = {"mouse_sensitivity": (1e-5, 0.1), "walk_mps": (0.05, 50.0), "run_mps": (0.05, 100.0),
          "fly_mps": (0.05, 50.0), "turn_rps": (0.05, 10.0), "gamepad_deadzone": (0.0, 0.95)}


class BindingsError(FileRefused):
    """A key bindings file that cannot be used."""


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


_KEY_LABELS = {"escape": "Esc", "left shift": "Shift", "right shift": "Shift", "left ctrl": "Ctrl",
               "right ctrl": "Ctrl", "left alt": "Alt", "right alt": "Alt", "return": "Enter"}


def key_label(name: str) -> str:
    """A key's name as the HUD shows it: "w" -> "W", "f5" -> "F5", "left shift" -> "Shift"."""
    if name in _KEY_LABELS:
        return _KEY_LABELS[name]
    return name.upper() if len(name) == 1 or (name[0] == "f" and name[1:].isdigit()) else name.title()


def key_help(b: Bindings) -> list[str]:
    """The HUD's two lines of key help, from the bindings in use (the first key of each command; a command
    with no key is left out)."""
    def k(cmd):
        return key_label(b.keys[cmd][0]) if b.keys.get(cmd) else ""

    def items(pairs):
        return "  ".join(f"{keys} {what}".strip() for keys, what in pairs if keys)

    move = "".join(k(c) for c in ("forward", "left", "back", "right"))
    move = move if len(move) == 4 and all(len(k(c)) == 1 for c in ("forward", "left", "back", "right")) \
        else "/".join(filter(None, (k(c) for c in ("forward", "left", "back", "right"))))
    look = f"mouse look (click; {k('release_mouse')} frees)" if k("release_mouse") else "mouse look (click)"
    updown = "/".join(filter(None, (k("up"), k("down"))))
    return [items([(move, "move"), (look, ""), (updown, "up/down"), (k("run"), "run"), (k("pause"), "pause"),
                   (k("step"), "step")]),
            items([(k("save"), "save"), (k("load"), "load"), (k("screenshot"), "screenshot"), (k("reset"), "reset"),
                   (k("hud"), "hide")])]


def load_bindings(path) -> Bindings:
    """Defaults overridden by a TOML file: [keys] command = ["key", ...] and top-level numbers."""
    path = Path(path)
    data = read_toml(path, BindingsError, "no such bindings file")
    base = Bindings()
    keys = dict(base.keys)
    table = data.pop("keys", {})
    if not isinstance(table, dict):
        raise BindingsError(f"{path}: keys must be a table of command = [key names]")
    for cmd, names in table.items():
        if cmd not in keys:
            raise BindingsError(f"{path}: unknown command 'keys.{cmd}' (allowed: {', '.join(keys)})")
        if not (isinstance(names, list) and len(names) <= 16 and
                all(isinstance(n, str) and 0 < len(n) <= 32 for n in names)):
            raise BindingsError(f"{path}: keys.{cmd} must be a list of up to 16 key names")
        keys[cmd] = names
    fields = {f.name for f in dataclasses.fields(Bindings)} - {"keys"}
    for k, v in data.items():
        if k not in fields:
            raise BindingsError(f"{path}: unknown key '{k}' (allowed: keys, {', '.join(sorted(fields))})")
        want = type(getattr(base, k))
        if isinstance(v, bool) != (want is bool) or not isinstance(v, (int, float) if want is float else want):
            raise BindingsError(f"{path}: {k} must be a {want.__name__}")
        if k in RANGES and not RANGES[k][0] <= v <= RANGES[k][1]:      # NaN fails too
            raise BindingsError(f"{path}: {k} = {v!r}: must be from {RANGES[k][0]:g} to {RANGES[k][1]:g}")
    return dataclasses.replace(base, keys=keys, **{k: (float(v) if isinstance(getattr(base, k), float) else v)
                                                   for k, v in data.items()})
