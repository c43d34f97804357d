"""SceneSpec: the scene seed file (TOML), its biome defaults and its validation.

A spec file names a biome and overrides any of that biome's defaults. Every key is checked: an unknown key or
a value out of range is refused with the file, the key and the allowed range (SpecError).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import FileRefused
from ..files import read_toml

FORMAT = "worldloop.scene"
VERSION = 1

BIOMES = ("meadow", "forest", "desert", "snow", "coast", "village", "ruins")
OBJECT_KINDS = ("tree", "rock", "building", "tower", "ruin", "landmark")


class SpecError(FileRefused):
    """A scene file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Terrain:
    noise_scale_m: float = 140.0   # horizontal size of the largest hills
    amplitude_m: float = 10.0      # height of the largest hills
    octaves: int = 5
    roughness: float = 0.5         # amplitude ratio between octaves
    ridges: float = 0.0            # 0 = rolling hills, 1 = sharp ridges
    water_level_m: float = -30.0   # water fills everything below this height


@dataclass(frozen=True)
class Density:
    """Objects per hectare (10,000 square metres)."""

    tree: float = 0.0
    rock: float = 0.0
    building: float = 0.0
    tower: float = 0.0
    ruin: float = 0.0
    landmark: float = 0.0


@dataclass(frozen=True)
class Sky:
    zenith: tuple = (0.25, 0.45, 0.80)   # display RGB in [0, 1]
    horizon: tuple = (0.72, 0.82, 0.92)


@dataclass(frozen=True)
class Sun:
    azimuth_deg: float = 135.0   # compass angle of the sun, 0 = -z, 90 = +x
    intensity: float = 1.0
    color: tuple = (1.0, 0.95, 0.85)
    ambient: float = 0.4


@dataclass(frozen=True)
class Fog:
    density: float = 0.006      # per metre
    view_distance_m: float = 220.0  # nothing is drawn beyond this; fog is total there


@dataclass(frozen=True)
class Spawn:
    x: float = 0.0
    z: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0


@dataclass(frozen=True)
class StartFrame:
    """A picture to start from instead of the procedural world (made by `worldloop scene from-image`)."""

    rgb: str = ""      # PNG, relative to the scene file
    depth: str = ""    # .npy float32 metres (loaded without pickle), relative to the scene file


@dataclass(frozen=True)
class SceneSpec:
    seed: int
    biome: str
    name: str = ""
    time_of_day_h: float = 10.0
    terrain: Terrain = Terrain()
    density: Density = Density()
    sky: Sky = Sky()
    sun: Sun = Sun()
    fog: Fog = Fog()
    spawn: Spawn = Spawn()
    start_frame: StartFrame = StartFrame()

    @property
    def from_picture(self) -> bool:
        return bool(self.start_frame.rgb)

    def to_dict(self) -> dict:
        d = {"format": FORMAT, "version": VERSION}
        d.update(dataclasses.asdict(self))
        if not self.from_picture:
            d.pop("start_frame")
        for sect in ("sky", "sun"):
            d[sect] = {k: list(v) if isinstance(v, tuple) else v for k, v in d[sect].items()}
        return d

    def to_toml(self) -> str:
        return dict_to_toml(self.to_dict())

    def portable(self) -> "SceneSpec":
        """The spec as other files carry it (saves, recordings): a start frame's files by name only, never the
        path where they lay on this machine (the file that carries them says where they are: beside it, or
        inside it)."""
        if not self.from_picture:
            return self
        return dataclasses.replace(self, start_frame=StartFrame(Path(self.start_frame.rgb).name,
                                                                Path(self.start_frame.depth).name))

    def hash(self) -> str:
        """sha256 of the canonical JSON of this spec: equal specs make equal worlds."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


# Allowed ranges: (min, max) for numbers, the tuple of choices for strings.
RANGES = {
    "seed": (0, 2**31 - 1),
    "time_of_day_h": (0.0, 24.0),
    "terrain.noise_scale_m": (10.0, 2000.0),
    "terrain.amplitude_m": (0.0, 200.0),
    "terrain.octaves": (1, 8),
    "terrain.roughness": (0.1, 0.9),
    "terrain.ridges": (0.0, 1.0),
    "terrain.water_level_m": (-500.0, 200.0),
    "density.*": (0.0, 200.0),
    "sky.*": (0.0, 1.0),
    "sun.azimuth_deg": (0.0, 360.0),
    "sun.intensity": (0.0, 3.0),
    "sun.color": (0.0, 1.0),
    "sun.ambient": (0.0, 1.0),
    "fog.density": (0.0, 0.1),
    "fog.view_distance_m": (64.0, 600.0),
    "spawn.x": (-1e6, 1e6),
    "spawn.z": (-1e6, 1e6),
    "spawn.yaw_deg": (-360.0, 360.0),
    "spawn.pitch_deg": (-80.0, 80.0),
}

_BASE = SceneSpec(seed=0, biome="meadow")

BIOME_DEFAULTS: dict[str, dict] = {
    "meadow": {"terrain": {"noise_scale_m": 150.0, "amplitude_m": 14.0, "water_level_m": -12.0},
               "density": {"tree": 12.0, "rock": 6.0, "building": 0.3, "tower": 0.1, "ruin": 0.3,
                           "landmark": 0.25}},
    "forest": {"terrain": {"noise_scale_m": 130.0, "amplitude_m": 16.0, "water_level_m": -14.0},
               "density": {"tree": 70.0, "rock": 8.0, "ruin": 0.5, "tower": 0.15, "landmark": 0.25},
               "sky": {"horizon": [0.70, 0.80, 0.85]},
               "fog": {"density": 0.009}},
    "desert": {"terrain": {"noise_scale_m": 110.0, "amplitude_m": 10.0, "ridges": 0.7, "roughness": 0.4,
                           "water_level_m": -40.0},
               "density": {"tree": 1.5, "rock": 6.0, "ruin": 0.8, "building": 0.1, "landmark": 0.3},
               "sky": {"zenith": [0.30, 0.50, 0.85], "horizon": [0.92, 0.85, 0.70]},
               "sun": {"color": [1.0, 0.92, 0.78], "ambient": 0.45},
               "fog": {"density": 0.004}},
    "snow": {"terrain": {"noise_scale_m": 220.0, "amplitude_m": 30.0, "ridges": 0.5, "water_level_m": -45.0},
             "density": {"tree": 16.0, "rock": 8.0, "tower": 0.1, "building": 0.15, "landmark": 0.25},
             "sky": {"zenith": [0.35, 0.50, 0.75], "horizon": [0.85, 0.88, 0.93]},
             "sun": {"color": [0.95, 0.95, 1.0], "ambient": 0.4},
             "fog": {"density": 0.008}},
    "coast": {"terrain": {"noise_scale_m": 180.0, "amplitude_m": 10.0, "water_level_m": 0.5},
              "density": {"tree": 5.0, "rock": 7.0, "building": 0.3, "tower": 0.2, "landmark": 0.3},
              "sky": {"zenith": [0.20, 0.45, 0.85], "horizon": [0.75, 0.88, 0.97]},
              "fog": {"density": 0.004}},
    "village": {"terrain": {"noise_scale_m": 200.0, "amplitude_m": 8.0, "water_level_m": -8.0},
                "density": {"tree": 10.0, "rock": 3.0, "building": 6.0, "tower": 0.6, "ruin": 0.2,
                            "landmark": 0.3}},
    "ruins": {"terrain": {"noise_scale_m": 150.0, "amplitude_m": 12.0, "water_level_m": -10.0},
              "density": {"tree": 6.0, "rock": 6.0, "ruin": 7.0, "tower": 0.4, "landmark": 0.35},
              "sky": {"zenith": [0.32, 0.42, 0.62], "horizon": [0.82, 0.78, 0.72]},
              "sun": {"color": [1.0, 0.88, 0.72]}},
}

SECTIONS = {"terrain": Terrain, "density": Density, "sky": Sky, "sun": Sun, "fog": Fog, "spawn": Spawn,
            "start_frame": StartFrame}


def _range_for(key: str):
    return RANGES.get(key) or RANGES.get(key.split(".")[0] + ".*")


def _check_value(src: str, key: str, value, default):
    """Type- and range-check one value against its default; returns the value in the default's type."""
    lo_hi = _range_for(key)
    if isinstance(default, tuple):
        if not (isinstance(value, list) and len(value) == len(default)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise SpecError(f"{src}: {key} must be a list of {len(default)} numbers, got {value!r}")
        for v in value:
            if not lo_hi[0] <= v <= lo_hi[1]:
                raise SpecError(f"{src}: {key} = {value!r} is out of range: each value must be in "
                                f"[{lo_hi[0]}, {lo_hi[1]}]")
        return tuple(float(v) for v in value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SpecError(f"{src}: {key} must be a string, got {value!r}")
        return value
    want_int = isinstance(default, int)
    ok = isinstance(value, int) if want_int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if want_int else "a number"
        raise SpecError(f"{src}: {key} must be {kind}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{src}: {key} must be finite, got {value!r}")
    if lo_hi and not lo_hi[0] <= value <= lo_hi[1]:
        raise SpecError(f"{src}: {key} = {value!r} is out of range [{lo_hi[0]}, {lo_hi[1]}]")
    return value if want_int else float(value)


def _merge_section(src: str, name: str, cls, base, overrides: dict):
    if not isinstance(overrides, dict):
        raise SpecError(f"{src}: [{name}] must be a table, got {overrides!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            raise SpecError(f"{src}: unknown key '{name}.{key}' (allowed: {', '.join(sorted(fields))})")
        values[key] = _check_value(src, f"{name}.{key}", value, getattr(base, key))
    return dataclasses.replace(base, **values)


def spec_from_dict(data: dict, src: str = "<scene>") -> SceneSpec:
    """Validate a parsed scene table and merge it over its biome's defaults."""
    data = dict(data)
    fmt = data.pop("format", FORMAT)
    if fmt != FORMAT:
        raise SpecError(f"{src}: format must be '{FORMAT}', got {fmt!r}")
    version = data.pop("version", VERSION)
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise SpecError(f"{src}: version {version!r} is not supported (this worldloop reads version "
                        f"1 to {VERSION})")
    if "seed" not in data:
        raise SpecError(f"{src}: missing key 'seed' (an integer in {list(RANGES['seed'])})")
    biome = data.pop("biome", "meadow")
    if biome not in BIOMES:
        raise SpecError(f"{src}: biome = {biome!r} is not one of {', '.join(BIOMES)}")
    spec = biome_default(biome)
    top = {}
    for key, value in data.items():
        if key in SECTIONS:
            continue
        if key not in ("seed", "name", "time_of_day_h"):
            allowed = ["format", "version", "seed", "biome", "name", "time_of_day_h", *SECTIONS]
            raise SpecError(f"{src}: unknown key '{key}' (allowed: {', '.join(allowed)})")
        top[key] = _check_value(src, key, value, getattr(spec, key))
    sections = {name: _merge_section(src, name, cls, getattr(spec, name), data[name])
                for name, cls in SECTIONS.items() if name in data}
    return dataclasses.replace(spec, **top, **sections)


def biome_default(biome: str, seed: int = 0) -> SceneSpec:
    """The spec a file with only `biome` and `seed` gives."""
    spec = dataclasses.replace(_BASE, biome=biome, seed=seed, name=biome)
    for section, over in BIOME_DEFAULTS[biome].items():
        merged = _merge_section(f"<biome {biome}>", section, SECTIONS[section], getattr(spec, section), over)
        spec = dataclasses.replace(spec, **{section: merged})
    return spec


def load_spec(path) -> SceneSpec:
    """Read and validate a scene TOML file; a start frame's files are resolved next to it."""
    path = Path(path)
    data = read_toml(path, SpecError, "no such scene file")
    return resolve_start_frame(spec_from_dict(data, str(path)), path, SpecError)


def resolve_start_frame(spec: SceneSpec, owner, error: type[Exception], field: str = "start_frame") -> SceneSpec:
    """A picture scene's start frame files found beside `owner`, the file that names them (inside_folder)."""
    if not spec.from_picture:
        return spec
    sf = spec.start_frame
    files = {k: str(inside_folder(Path(owner), f"{field}.{k}", getattr(sf, k), error)) for k in ("rgb", "depth")}
    return dataclasses.replace(spec, start_frame=StartFrame(**files))


def inside_folder(owner: Path, field: str, name, error: type[Exception]) -> Path:
    """The file a field of `owner` names: relative to owner's folder, never leaving it (no absolute path, no
    '..', no link out), and a regular file (not a FIFO or a device, which would hang a reader)."""
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 255:
        raise error(f"{owner}: field {field} must be a file name, got {name!r}")
    p = Path(name)
    base = owner.parent.resolve()
    if p.is_absolute() or ".." in p.parts:
        raise error(f"{owner}: field {field} = {name!r}: must be a name relative to the file's folder, "
                    f"without '..'")
    try:
        full = (base / p).resolve()
        if not full.is_relative_to(base):
            raise error(f"{owner}: field {field} = {name!r}: leads out of the file's folder")
        exists, regular = full.exists(), full.is_file()
    except OSError as e:
        raise error(f"{owner}: field {field} = {name!r}: {e.strerror}") from None
    if not exists:
        raise error(f"{owner}: field {field} = {name!r}: no such file")
    if not regular:
        raise error(f"{owner}: field {field} = {name!r}: not a regular file")
    return full


def spec_from_toml(text: str, src: str = "<scene>") -> SceneSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{src}: not valid TOML: {e}") from None
    except (RecursionError, SystemError, ValueError, UnicodeError):   # deep nesting, code points beyond Unicode
        raise SpecError(f"{src}: not valid TOML (nested too deeply or not text)") from None
    return spec_from_dict(data, src)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(float(f"{v:.12g}"))     # 51.84, not 51.839999999999996 (the editor's steps add such tails)
    return repr(v)


def dict_to_toml(d: dict) -> str:
    """TOML for a dict of scalars and one level of tables (all a spec needs)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"
