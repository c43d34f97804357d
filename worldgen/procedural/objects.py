"""Object models (trees, rocks, buildings, towers, ruins, landmarks) and their placement in a chunk.

Each placed object has a footprint radius: the walkable world is the land outside every footprint. Models
are built from a numpy Generator seeded by the object's own key, so a chunk rebuilds identically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .meshes import Mesh, blob, box, frustum, gable_roof

TREE_VARIANTS = ("conifer", "broadleaf", "birch", "palm", "cactus", "dead", "snowy_conifer")
TREE_WEIGHTS = {
    "meadow": {"broadleaf": 5, "birch": 3, "conifer": 2},
    "forest": {"conifer": 6, "broadleaf": 4, "birch": 2, "dead": 0.3},
    "desert": {"cactus": 6, "dead": 2, "palm": 1},
    "snow": {"snowy_conifer": 8, "conifer": 2, "dead": 1},
    "coast": {"palm": 6, "broadleaf": 2, "conifer": 1},
    "village": {"broadleaf": 5, "birch": 2, "conifer": 2},
    "ruins": {"broadleaf": 3, "dead": 3, "conifer": 2},
}
LANDMARKS = ("obelisk", "crystal", "arch", "lighthouse", "windmill", "beacon")


@dataclass(frozen=True)
class Placed:
    kind: str
    variant: str
    x: float
    z: float
    y: float          # ground height at the object's base, metres
    radius: float     # footprint radius, metres
    yaw: float
    key: int          # seeds the model's shape and colours


def _jitter(rng, rgb, amount=0.06):
    return np.clip(np.asarray(rgb) + (rng.random(3) - 0.5) * 2 * amount, 0, 1)


def tree_mesh(p: Placed, rng) -> Mesh:
    b = np.array([p.x, p.y, p.z])
    s = p.radius / 2.0  # overall scale: footprint 2 m = a standard tree
    bark = _jitter(rng, (0.36, 0.25, 0.16), 0.04)
    if p.variant in ("conifer", "snowy_conifer"):
        green = _jitter(rng, (0.12, 0.33, 0.16))
        parts = [frustum(b, 0.25 * s, 0.2 * s, 1.5 * s, 5, bark)]
        for i, (r, h) in enumerate([(2.0, 3.0), (1.55, 2.6), (1.1, 2.2)]):
            col = green if p.variant == "conifer" or i < 2 and rng.random() < 0.3 else (0.92, 0.94, 0.97)
            parts.append(frustum(b + [0, (1.2 + i * 1.8) * s, 0], r * s, 0.0, h * s, 7, col, yaw=p.yaw))
        if p.variant == "snowy_conifer":
            parts.insert(1, frustum(b + [0, 1.2 * s, 0], 2.0 * s, 0.0, 3.0 * s, 7, green, yaw=p.yaw + 0.3))
        return Mesh.concat(parts)
    if p.variant == "broadleaf":
        crown = _jitter(rng, (0.24, 0.50, 0.18), 0.08)
        return Mesh.concat([frustum(b, 0.3 * s, 0.22 * s, 3.0 * s, 5, bark),
                            blob(b + [0, 4.2 * s, 0], (2.0 * s, 1.7 * s, 2.0 * s), crown, rng),
                            blob(b + [0.7 * s, 5.2 * s, 0.3 * s], (1.2 * s, 1.1 * s, 1.2 * s),
                                 np.clip(crown * 1.15, 0, 1), rng)])
    if p.variant == "birch":
        crown = _jitter(rng, (0.50, 0.68, 0.25), 0.06)
        return Mesh.concat([frustum(b, 0.15 * s, 0.12 * s, 4.5 * s, 5, (0.90, 0.88, 0.82)),
                            blob(b + [0, 5.0 * s, 0], (1.1 * s, 1.8 * s, 1.1 * s), crown, rng)])
    if p.variant == "palm":
        parts = [frustum(b, 0.22 * s, 0.15 * s, 5.5 * s, 5, (0.55, 0.42, 0.28))]
        leaf = _jitter(rng, (0.22, 0.55, 0.20))
        for k in range(5):
            a = p.yaw + k * 2 * math.pi / 5
            c = b + [math.cos(a) * 1.1 * s, 5.3 * s, math.sin(a) * 1.1 * s]
            parts.append(blob(c, (1.3 * s, 0.25 * s, 1.3 * s), leaf, rng, 0.1))
        return Mesh.concat(parts)
    if p.variant == "cactus":
        green = _jitter(rng, (0.30, 0.52, 0.25))
        parts = [frustum(b, 0.35 * s, 0.3 * s, 3.2 * s, 6, green)]
        for side in (-1, 1):
            arm = b + [side * 0.55 * s, (1.2 + rng.random()) * s, 0]
            parts.append(frustum(arm, 0.2 * s, 0.18 * s, 1.3 * s, 5, green))
        return Mesh.concat(parts)
    # dead tree: a trunk and bare branches
    parts = [frustum(b, 0.28 * s, 0.12 * s, 4.0 * s, 5, (0.42, 0.36, 0.30))]
    for k in range(3):
        a = p.yaw + k * 2.1
        c = b + [math.cos(a) * 0.6 * s, (2.2 + 0.6 * k) * s, math.sin(a) * 0.6 * s]
        parts.append(frustum(c, 0.1 * s, 0.04 * s, 1.6 * s, 4, (0.42, 0.36, 0.30), yaw=a))
    return Mesh.concat(parts)


def rock_mesh(p: Placed, rng, biome: str) -> Mesh:
    base = {"desert": (0.66, 0.50, 0.36), "snow": (0.55, 0.56, 0.60)}.get(biome, (0.50, 0.49, 0.47))
    r = p.radius
    return blob([p.x, p.y + 0.25 * r, p.z], (r, 0.7 * r * (0.6 + 0.6 * rng.random()), r * 0.9),
                _jitter(rng, base, 0.05), rng, jitter=0.3)


WALLS = ((0.93, 0.90, 0.82), (0.90, 0.80, 0.62), (0.85, 0.72, 0.60), (0.80, 0.85, 0.90), (0.95, 0.95, 0.95))
ROOFS = ((0.70, 0.20, 0.15), (0.45, 0.25, 0.15), (0.20, 0.30, 0.55), (0.30, 0.30, 0.32))


def building_mesh(p: Placed, rng) -> Mesh:
    w = p.radius * 1.25
    d = w * (0.6 + 0.3 * rng.random())
    h = 3.0 + 3.0 * rng.random()
    b = np.array([p.x, p.y - 1.0, p.z])
    wall = _jitter(rng, WALLS[int(rng.integers(len(WALLS)))], 0.03)
    roof = ROOFS[int(rng.integers(len(ROOFS)))]
    parts = [box(b, w, h + 1.0, d, wall, p.yaw),
             gable_roof(b + [0, h + 1.0, 0], w * 1.1, d * 1.15, 0.45 * d, roof, p.yaw),
             box(b + [0, 0, 0], 0.9, 3.0, d + 0.1, (0.35, 0.22, 0.14), p.yaw + 0.0)]
    return Mesh.concat(parts)


def tower_mesh(p: Placed, rng) -> Mesh:
    b = np.array([p.x, p.y - 1.0, p.z])
    r = p.radius * 0.8
    h = 12 + 10 * rng.random()
    stone = _jitter(rng, (0.62, 0.60, 0.56), 0.05)
    roof = ((0.20, 0.30, 0.65), (0.70, 0.18, 0.14), (0.15, 0.45, 0.35))[int(rng.integers(3))]
    return Mesh.concat([frustum(b, r, r * 0.9, h, 8, stone, p.yaw),
                        frustum(b + [0, h, 0], r * 1.15, r * 1.15, 1.0, 8, stone, p.yaw),
                        frustum(b + [0, h + 1.0, 0], r * 1.25, 0.0, r * 2.2, 8, roof, p.yaw)])


def ruin_mesh(p: Placed, rng) -> Mesh:
    b = np.array([p.x, p.y - 0.5, p.z])
    stone = _jitter(rng, (0.72, 0.66, 0.55), 0.05)
    half = p.radius * 0.7
    parts = []
    for k in range(4):  # broken walls on the square's sides, some missing
        if rng.random() < 0.25:
            continue
        a = k * math.pi / 2
        off = np.array([math.cos(a + p.yaw), 0, math.sin(a + p.yaw)]) * half
        parts.append(box(b + off, 0.8, 1.0 + 4.0 * rng.random(), half * 1.6 * (0.5 + 0.5 * rng.random()),
                         stone, a + p.yaw))
    for k in range(int(rng.integers(2, 5))):  # columns
        a = rng.random() * 2 * math.pi
        off = np.array([math.cos(a), 0, math.sin(a)]) * half * 0.9
        parts.append(frustum(b + off, 0.45, 0.4, 2 + 5 * rng.random(), 8, np.clip(stone * 1.08, 0, 1)))
    return Mesh.concat(parts)


def landmark_mesh(p: Placed, rng) -> Mesh:
    b = np.array([p.x, p.y - 1.0, p.z])
    v = p.variant
    if v == "obelisk":
        return Mesh.concat([box(b, 6, 2, 6, (0.55, 0.50, 0.45), p.yaw),
                            frustum(b + [0, 2, 0], 1.9, 1.2, 26, 4, (0.85, 0.68, 0.20), p.yaw + math.pi / 4),
                            frustum(b + [0, 28, 0], 1.2, 0.0, 3, 4, (0.95, 0.85, 0.40), p.yaw + math.pi / 4)])
    if v == "crystal":
        parts = []
        for k in range(5):
            a = p.yaw + k * 1.3
            off = np.array([math.cos(a), 0, math.sin(a)]) * (0 if k == 0 else 2.5)
            h = 22 if k == 0 else 8 + 6 * rng.random()
            col = (0.75, 0.20, 0.80) if k % 2 == 0 else (0.35, 0.75, 0.95)
            parts.append(frustum(b + off, 1.8 if k == 0 else 1.1, 0.0, h, 6, col, a))
        return Mesh.concat(parts)
    if v == "arch":
        red = (0.72, 0.30, 0.22)
        c, s = math.cos(p.yaw), math.sin(p.yaw)
        side = np.array([c, 0, -s]) * 7
        return Mesh.concat([box(b + side, 2.5, 16, 2.5, red, p.yaw), box(b - side, 2.5, 16, 2.5, red, p.yaw),
                            box(b + [0, 16, 0], 18, 2.5, 3.0, (0.80, 0.38, 0.26), p.yaw)])
    if v == "lighthouse":
        parts = []
        for k in range(6):
            col = (0.92, 0.92, 0.90) if k % 2 == 0 else (0.80, 0.12, 0.12)
            parts.append(frustum(b + [0, 4 * k, 0], 3.0 - 0.25 * k, 2.75 - 0.25 * k, 4, 10, col, cap=False))
        parts.append(frustum(b + [0, 24, 0], 1.8, 1.8, 2.5, 10, (0.98, 0.92, 0.45)))
        parts.append(frustum(b + [0, 26.5, 0], 2.2, 0.0, 2.5, 10, (0.15, 0.15, 0.18)))
        return Mesh.concat(parts)
    if v == "windmill":
        parts = [frustum(b, 3.5, 2.4, 14, 8, (0.88, 0.84, 0.76), p.yaw),
                 frustum(b + [0, 14, 0], 2.8, 0.0, 3.5, 8, (0.30, 0.20, 0.16), p.yaw)]
        c, s = math.cos(p.yaw), math.sin(p.yaw)
        hub = b + [0, 12.5, 0] + np.array([s, 0, c]) * 3.0
        for k in range(4):
            a = k * math.pi / 2 + 0.4
            d = np.array([math.cos(a) * c, math.sin(a), -math.cos(a) * s])
            parts.append(blob(hub + d * 5.0, np.abs(d) * 4.5 + 0.5, (0.95, 0.95, 0.92), rng, 0.02))
        return Mesh.concat(parts)
    # beacon: a tall blue pillar crowned with an orange sphere
    return Mesh.concat([frustum(b, 2.2, 1.6, 20, 6, (0.18, 0.32, 0.75), p.yaw),
                        blob(b + [0, 23, 0], (3.2, 3.2, 3.2), (1.0, 0.55, 0.10), rng, 0.05)])


def object_mesh(p: Placed, biome: str, seed: int) -> Mesh:
    """The model of one placed object."""
    from .noise import seed_rng
    rng = seed_rng(seed, p.key, 7)
    if p.kind == "tree":
        return tree_mesh(p, rng)
    if p.kind == "rock":
        return rock_mesh(p, rng, biome)
    if p.kind == "building":
        return building_mesh(p, rng)
    if p.kind == "tower":
        return tower_mesh(p, rng)
    if p.kind == "ruin":
        return ruin_mesh(p, rng)
    return landmark_mesh(p, rng)


FOOTPRINT_M = {"tree": (1.4, 2.6), "rock": (0.5, 2.2), "building": (3.5, 5.0), "tower": (2.5, 3.5),
               "ruin": (3.0, 5.0), "landmark": (4.0, 4.0)}
LANDMARK_FOOTPRINT_M = {"obelisk": 4.5, "crystal": 4.5, "arch": 9.5, "lighthouse": 3.5, "windmill": 8.0,
                        "beacon": 3.5}
