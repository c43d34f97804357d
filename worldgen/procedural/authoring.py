"""Scene authoring: make, describe, preview, list and capture scene seeds.

The command line (`worldloop scene ...`) wires these; the interactive editor is runtime/editor.py.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import atomic_write_text
from ..poses import Intrinsics, Pose
from .spec import SceneSpec, SpecError, biome_default, spec_from_dict
from .world import PALETTES, WATER_RGB, World


def user_scene_dir() -> Path:
    """Where a user's own scenes live: $WORLDLOOP_SCENES or ~/.local/share/worldloop/scenes."""
    env = os.environ.get("WORLDLOOP_SCENES")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / \
        "worldloop" / "scenes"
    return base


def parse_set(items: list[str]) -> dict:
    """`key=value` pairs (TOML values, dotted keys such as terrain.amplitude_m) -> a nested table."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set {item!r}: expected key=value, e.g. terrain.amplitude_m=12")
        key, value = item.split("=", 1)
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()                   # a bare word is a string: biome=snow
        parts = key.strip().split(".")
        table = out
        for p in parts[:-1]:
            table = table.setdefault(p, {})
        table[parts[-1]] = parsed
    return out


def new_scene(biome: str, seed: int, sets: list[str], name: str | None = None) -> SceneSpec:
    """A biome's defaults with --set overrides, validated like a file."""
    base = biome_default(biome, seed).to_dict()
    over = parse_set(sets)
    merged = {**base}
    for k, v in over.items():
        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
    if name:
        merged["name"] = name
    return spec_from_dict(merged, "--set")


def save_scene(spec: SceneSpec, path) -> Path:
    path = Path(path)
    atomic_write_text(path, f"# {spec.name}: a {spec.biome} scene (worldloop scene seed)\n" + spec.to_toml())
    return path


def describe(spec: SceneSpec) -> list[tuple[str, str]]:
    """(key, value) rows of every parameter, dotted keys for sections."""
    rows = []
    for k, v in spec.to_dict().items():
        if isinstance(v, dict):
            rows += [(f"{k}.{kk}", _fmt(vv)) for kk, vv in v.items()]
        else:
            rows.append((k, _fmt(v)))
    return rows


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def top_down_map(world: World, centre: tuple[float, float], radius_m: float = 160.0, px: int = 384):
    """A map image of the terrain around `centre` with objects, landmarks labelled, and the spawn marked."""
    n = px
    xs = np.linspace(centre[0] - radius_m, centre[0] + radius_m, n)
    zs = np.linspace(centre[1] - radius_m, centre[1] + radius_m, n)
    gx, gz = np.meshgrid(xs, zs)
    h = world.height(gx, gz)
    low, high, steep, shore = (np.array(c) for c in PALETTES[world.spec.biome])
    amp = max(world.spec.terrain.amplitude_m, 1e-3)
    t = np.clip((h - world.spec.terrain.water_level_m) / (2.5 * amp), 0, 1)[..., None]
    col = low * (1 - t) + high * t
    shade = np.clip(1 + 0.6 * np.gradient(h, axis=1) / (2 * radius_m / n), 0.6, 1.4)[..., None]  # hill shading
    col = col * shade
    col[h < world.spec.terrain.water_level_m] = WATER_RGB
    img = Image.fromarray((np.clip(col, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    to_px = lambda x, z: ((x - xs[0]) / (xs[-1] - xs[0]) * (n - 1), (z - zs[0]) / (zs[-1] - zs[0]) * (n - 1))  # noqa: E731
    colours = {"tree": (30, 90, 30), "rock": (110, 110, 110), "building": (200, 80, 60), "tower": (90, 90, 160),
               "ruin": (170, 150, 110)}
    for o in world.objects_near(centre[0], centre[1], radius_m * 1.42):
        u, v = to_px(o.x, o.z)
        r = max(1.5, o.radius / (2 * radius_m) * n)
        if o.kind == "landmark":
            draw.ellipse([u - r - 2, v - r - 2, u + r + 2, v + r + 2], fill=(250, 210, 40), outline=(0, 0, 0))
            draw.text((u + r + 3, v - 6), o.variant, fill=(0, 0, 0))
        else:
            draw.ellipse([u - r, v - r, u + r, v + r], fill=colours.get(o.kind, (0, 0, 0)))
    return img, to_px


def preview(spec: SceneSpec, out_png, res: int = 256, ctx=None) -> Path:
    """A contact sheet: the spawn's view towards N, E, S and W, and a top-down map (north up) with the spawn
    (and its view direction) and the landmarks."""
    from .render import GroundTruthRenderer
    renderer = GroundTruthRenderer(spec, ctx=ctx)
    spawn = renderer.world.spawn_pose()
    poses = [Pose(spawn.x, spawn.y, spawn.z, -k * math.pi / 2, -0.05) for k in range(4)]
    rgb, _ = renderer.render_batch(poses, Intrinsics(res, res))
    renderer.release()
    world = renderer.world
    mp, to_px = top_down_map(world, (spawn.x, spawn.z), px=2 * res)
    draw = ImageDraw.Draw(mp)
    u, v = to_px(spawn.x, spawn.z)
    fx, fz = -math.sin(spawn.yaw), -math.cos(spawn.yaw)
    draw.line([u, v, u + 18 * fx, v + 18 * fz], fill=(255, 255, 255), width=3)
    draw.ellipse([u - 6, v - 6, u + 6, v + 6], fill=(255, 40, 40), outline=(255, 255, 255), width=2)
    draw.text((6, 4), "N (-z) up; red: spawn; yellow: landmarks", fill=(0, 0, 0))
    pad = 6
    sheet = Image.new("RGB", (2 * res + 3 * pad + 2 * res, 2 * res + 2 * pad + 20), (24, 24, 28))
    d = ImageDraw.Draw(sheet)
    d.text((pad, 4), f"{spec.name}  ({spec.biome}, seed {spec.seed}, {spec.time_of_day_h:g} h)", fill=(235, 235, 235))
    for k, name in enumerate("NESW"):
        x, y = pad + (k % 2) * (res + pad), 20 + (k // 2) * (res + pad)
        sheet.paste(Image.fromarray(rgb[k]), (x, y))
        d.text((x + 4, y + 2), name, fill=(255, 255, 255))
    sheet.paste(mp, (2 * res + 2 * pad + pad, 20))
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return Path(out_png)


def list_scenes() -> list[tuple[str, str, Path]]:
    """(origin, name, path) of bundled and user scenes."""
    from worldloop.scenes import bundled
    rows = [("bundled", name, p) for name, p in bundled().items()]
    d = user_scene_dir()
    if d.exists():
        rows += [("user", p.stem, p) for p in sorted(d.glob("*.toml"))]
    return rows


def capture(save_path, name: str | None = None) -> SceneSpec:
    """A save game's scene with the spawn moved to where the player stood, looking where they looked."""
    from ..saves import read_save
    meta, _ = read_save(save_path)
    spec = spec_from_dict(meta["scene"], f"{save_path}:scene")
    if spec.from_picture:
        raise SpecError(f"{save_path}: scene '{spec.name}' starts from a picture, which has no world to move "
                        f"the spawn in; capture works on procedural scenes")
    x, _, z, yaw, pitch = meta["pose"]
    spawn = dataclasses.replace(spec.spawn, x=float(x), z=float(z),
                                yaw_deg=float(math.degrees(math.remainder(yaw, 2 * math.pi))),
                                pitch_deg=float(max(-80.0, min(80.0, math.degrees(pitch)))))
    return dataclasses.replace(spec, spawn=spawn, name=name or f"{spec.name}-captured")

