"""Tours: a scripted walk through a scene with captions at its stops, for a class or a kiosk.

A tour file (TOML, docs/formats.md) names a scene and its stops, each a place in metres from the scene's
spawn, with a caption shown on arrival, a wait and a heading to face. `compile_tour` turns it into what
`play` already knows how to run: one action a tick (turn towards the next stop, then walk to it, within the
model's trained action range) and the caption to show at each tick. The walk is checked against the scene
(every stretch must be standable ground), so a tour that walks into a house is refused naming the stop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldloop.worldgen.errors import FileRefused
from worldloop.worldgen.files import read_toml
from worldloop.worldgen.poses import Action, Pose, apply_action, heading_vectors

MAX_STOPS = 64
MAX_TICKS = 30 * 60 * 30          # half an hour at 30 ticks/s


class TourError(FileRefused):
    """A tour file that cannot be used."""


@dataclass(frozen=True)
class Stop:
    at: tuple                      # (x, z) metres from the spawn
    caption: str = ""
    wait_s: float = 2.0
    look_deg: float | None = None  # a heading to face here (degrees, 0 = the spawn's heading, left positive)


@dataclass(frozen=True)
class Tour:
    title: str
    scene: str                     # a bundled scene's name, or a scene file beside the tour
    stops: tuple
    walk_mps: float = 1.5
    kiosk_idle_s: float = 30.0
    source: str = "<tour>"


def _num(path, field, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise TourError(f"{path}: field {field}: {v!r} is not a number between {lo:g} and {hi:g}")
    return float(v)


def load_tour(path) -> Tour:
    """Read and check a tour file; TourError names the file and the field."""
    path = Path(path)
    data = read_toml(path, TourError, "no such tour file")
    head = data.get("tour")
    if not isinstance(head, dict):
        raise TourError(f"{path}: field tour: a [tour] table with title and scene is missing")
    unknown = set(data) - {"tour", "stop"}
    if unknown:
        raise TourError(f"{path}: unknown table(s) {', '.join(sorted(unknown))} (a tour has [tour] and [[stop]])")
    for k in ("title", "scene"):
        if not isinstance(head.get(k), str) or not 0 < len(head[k]) <= 200:
            raise TourError(f"{path}: field tour.{k}: wants a text of 1 to 200 characters")
    extra = set(head) - {"title", "scene", "walk_mps", "kiosk_idle_s"}
    if extra:
        raise TourError(f"{path}: field tour.{sorted(extra)[0]}: unknown (allowed: title, scene, walk_mps, kiosk_idle_s)")
    stops_in = data.get("stop")
    if not isinstance(stops_in, list) or not 1 <= len(stops_in) <= MAX_STOPS:
        raise TourError(f"{path}: field stop: wants 1 to {MAX_STOPS} [[stop]] tables")
    stops = []
    for i, s in enumerate(stops_in):
        f = f"stop[{i}]"
        if not isinstance(s, dict):
            raise TourError(f"{path}: field {f}: not a table")
        extra = set(s) - {"at", "caption", "wait_s", "look_deg"}
        if extra:
            raise TourError(f"{path}: field {f}.{sorted(extra)[0]}: unknown (allowed: at, caption, wait_s, look_deg)")
        at = s.get("at")
        if not isinstance(at, list) or len(at) != 2:
            raise TourError(f"{path}: field {f}.at: wants [x, z], metres from the scene's spawn")
        at = (_num(path, f"{f}.at", at[0], -2000, 2000), _num(path, f"{f}.at", at[1], -2000, 2000))
        caption = s.get("caption", "")
        if not isinstance(caption, str) or len(caption) > 300:
            raise TourError(f"{path}: field {f}.caption: wants a text of at most 300 characters")
        look = s.get("look_deg")
        stops.append(Stop(at, caption, _num(path, f"{f}.wait_s", s.get("wait_s", 2.0), 0, 120),
                          None if look is None else _num(path, f"{f}.look_deg", look, -360, 360)))
    return Tour(head["title"], head["scene"], tuple(stops), _num(path, "tour.walk_mps", head.get("walk_mps", 1.5), 0.2, 4.0),
                _num(path, "tour.kiosk_idle_s", head.get("kiosk_idle_s", 30.0), 5, 3600), str(path))


def tour_scene(tour: Tour):
    """The tour's scene spec: a bundled name, or a file beside the tour (inside its folder)."""
    from worldloop.scenes import bundled
    from worldloop.worldgen.procedural.spec import load_spec
    names = bundled()
    if tour.scene in names:
        return load_spec(names[tour.scene])
    folder = Path(tour.source).parent.resolve()
    p = (folder / tour.scene).resolve()
    if Path(tour.scene).is_absolute() or ".." in Path(tour.scene).parts or folder not in p.parents:
        raise TourError(f"{tour.source}: field tour.scene: {tour.scene!r} must be a bundled scene or a file beside "
                        f"the tour")
    return load_spec(p)


@dataclass
class Compiled:
    actions: list                  # one (5,) action a tick
    captions: list                 # the caption to show at each tick ("" for none)
    start: Pose


def _turn_to(pose: Pose, yaw: float, max_yaw: float, actions: list, captions: list, caption: str) -> Pose:
    d = (yaw - pose.yaw + math.pi) % (2 * math.pi) - math.pi
    while abs(d) > 1e-6:
        step = max(-max_yaw, min(max_yaw, d))
        a = np.array([0.0, 0.0, 0.0, step, 0.0])
        pose = apply_action(pose, Action.from_array(a))
        actions.append(a)
        captions.append(caption)
        d -= step
    return pose


def compile_tour(tour: Tour, world, cfg) -> Compiled:
    """One action a tick from the spawn through every stop, and the caption at each tick. A stretch that
    crosses something the player cannot stand on is refused naming its stop."""
    from worldloop.worldgen.procedural.trajectories import segment_free
    from worldloop.worldgen.procedural.world import EYE_HEIGHT_M
    start = world.spawn_pose()
    pose = start
    fwd0, right0 = heading_vectors(start.yaw)
    dt = 1.0 / cfg.tick_hz
    step_m = min(tour.walk_mps * dt, cfg.action_max[0])
    max_yaw = min(1.2 * dt, cfg.action_max[3])           # turning at 1.2 rad/s at most: calm for a class
    actions, captions, caption = [], [], ""
    for i, s in enumerate(tour.stops):
        # "at" is in the spawn's frame: x to the right of its heading, z ahead
        target = (start.x + s.at[0] * right0[0] + s.at[1] * fwd0[0], start.z + s.at[0] * right0[2] + s.at[1] * fwd0[2])
        if not segment_free(world, (pose.x, pose.z), target, 0.3):
            raise TourError(f"{tour.source}: field stop[{i}].at: the walk there crosses something the player "
                            f"cannot stand on (water, a house, a tree)")
        dx, dz = target[0] - pose.x, target[1] - pose.z
        dist = math.hypot(dx, dz)
        if dist > 1e-3:
            pose = _turn_to(pose, math.atan2(-dx, -dz), max_yaw, actions, captions, caption)
            n = int(dist / step_m)
            fwd, _ = heading_vectors(pose.yaw)
            for k in range(n + 1):
                a = np.array([min(step_m, dist - k * step_m), 0.0, 0.0, 0.0, 0.0])
                if a[0] <= 1e-9:
                    break
                nx, nz = pose.x + a[0] * fwd[0], pose.z + a[0] * fwd[2]      # the eyes follow the ground
                up = float(world.height(nx, nz)) + EYE_HEIGHT_M - pose.y
                a[2] = max(-cfg.action_max[2], min(cfg.action_max[2], up))
                pose = apply_action(pose, Action.from_array(a))
                actions.append(a)
                captions.append(caption)
        caption = s.caption
        if s.look_deg is not None:
            pose = _turn_to(pose, start.yaw + math.radians(s.look_deg), max_yaw, actions, captions, caption)
        for _ in range(int(round(s.wait_s * cfg.tick_hz))):
            actions.append(np.zeros(5))
            captions.append(caption)
        if len(actions) > MAX_TICKS:
            raise TourError(f"{tour.source}: the tour runs longer than {MAX_TICKS // (30 * 60)} minutes")
    return Compiled(actions, captions, start)
