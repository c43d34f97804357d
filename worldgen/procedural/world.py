"""The procedural world of a SceneSpec: terrain height, water, objects, built lazily in chunks.

The world has no edge. Chunk (ix, iz) covers x in [ix*64, ix*64+64) and z likewise; its terrain, colours and
objects are a pure function of the spec and (ix, iz), so a walk of any length stays inside the world and any
chunk rebuilds bit for bit.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..poses import Pose
from .meshes import Mesh, quad
from .noise import fbm, hash_ints, hash_unit, perlin, seed_rng
from .objects import FOOTPRINT_M, LANDMARK_FOOTPRINT_M, LANDMARKS, TREE_WEIGHTS, Placed, object_mesh
from .spec import OBJECT_KINDS, SceneSpec, SpecError

CHUNK_M = 64.0
GRID_M = 2.0              # terrain mesh spacing
CELLS = int(CHUNK_M / GRID_M)
EYE_HEIGHT_M = 1.7        # the player's eyes above the ground
SHORE_MARGIN_M = 0.3      # walkable land is at least this far above the water

# Per biome: low ground, high ground, steep slopes, shore; RGB in [0, 1].
PALETTES = {
    "meadow": ((0.36, 0.58, 0.22), (0.50, 0.66, 0.28), (0.48, 0.44, 0.38), (0.80, 0.74, 0.55)),
    "forest": ((0.20, 0.38, 0.16), (0.30, 0.45, 0.20), (0.40, 0.36, 0.30), (0.55, 0.50, 0.38)),
    "desert": ((0.86, 0.72, 0.50), (0.80, 0.62, 0.42), (0.70, 0.50, 0.36), (0.86, 0.76, 0.56)),
    "snow": ((0.80, 0.83, 0.88), (0.88, 0.89, 0.93), (0.42, 0.42, 0.47), (0.70, 0.72, 0.76)),
    "coast": ((0.42, 0.62, 0.26), (0.52, 0.60, 0.30), (0.50, 0.48, 0.44), (0.80, 0.74, 0.56)),
    "village": ((0.42, 0.62, 0.25), (0.55, 0.66, 0.30), (0.50, 0.46, 0.40), (0.78, 0.72, 0.55)),
    "ruins": ((0.52, 0.58, 0.30), (0.62, 0.60, 0.36), (0.52, 0.47, 0.40), (0.80, 0.74, 0.56)),
}
WATER_RGB = (0.16, 0.36, 0.52)
PLACEMENT_ORDER = ("landmark", "tower", "building", "ruin", "rock", "tree")


@dataclass
class Chunk:
    ix: int
    iz: int
    mesh: Mesh
    objects: list[Placed]
    min_y: float
    max_y: float


class World:
    """Height queries, walkability and chunk meshes of one scene."""

    def __init__(self, spec: SceneSpec, cache_chunks: int = 512):
        self.spec = spec
        self._chunks: OrderedDict[tuple[int, int], Chunk] = OrderedDict()
        self._objects: OrderedDict[tuple[int, int], list[Placed]] = OrderedDict()
        self._grids: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._cache = cache_chunks
        # the noise lattice is zero at integer points; shift it by the seed so the origin is not special
        self._offset = tuple(float(v) * 5000.0 for v in hash_unit(spec.seed, np.array([1, 2])))

    # -- terrain ---------------------------------------------------------------------------------
    def height(self, x, z) -> np.ndarray:
        """Terrain height (metres) at world x, z; arrays broadcast.

        This is the surface that is drawn: the noise sampled every GRID_M metres and interpolated linearly
        over the same two triangles per grid cell as the mesh, so eyes, collisions and depth all agree.
        """
        x = np.asarray(x, np.float64) / GRID_M
        z = np.asarray(z, np.float64) / GRID_M
        x0, z0 = np.floor(x), np.floor(z)
        fx, fz = x - x0, z - z0
        gi, gj = x0.astype(np.int64), z0.astype(np.int64)
        ha, hb = self._grid_heights(gi, gj), self._grid_heights(gi + 1, gj)
        hd, hc = self._grid_heights(gi, gj + 1), self._grid_heights(gi + 1, gj + 1)
        lower = fx + fz <= 1.0                       # triangle (a, b, d) of the cell, else (b, c, d)
        h_lower = ha + fx * (hb - ha) + fz * (hd - ha)
        h_upper = hc + (1 - fx) * (hd - hc) + (1 - fz) * (hb - hc)
        return np.where(lower, h_lower, h_upper)

    def _height_grid(self, ix: int, iz: int) -> np.ndarray:
        """(n+1, n+1) noise heights at chunk (ix, iz)'s grid vertices, rows along z; cached."""
        key = (ix, iz)
        grid = self._grids.get(key)
        if grid is None:
            g = np.arange(CELLS + 1) * GRID_M
            xs, zs = np.meshgrid(ix * CHUNK_M + g, iz * CHUNK_M + g)
            grid = self._grids[key] = self.noise_height(xs, zs)
            if len(self._grids) > 8 * self._cache:
                self._grids.popitem(last=False)
        return grid

    def _grid_heights(self, gi: np.ndarray, gj: np.ndarray) -> np.ndarray:
        """Noise heights at integer grid vertices (gi, gj), gathered from the cached chunk grids."""
        ci, cj = gi // CELLS, gj // CELLS
        li, lj = gi - ci * CELLS, gj - cj * CELLS
        if ci.ndim == 0:
            return self._height_grid(int(ci), int(cj))[lj, li]
        out = np.empty(gi.shape)
        pairs = np.stack([ci.ravel(), cj.ravel()], 1)
        for a, b in np.unique(pairs, axis=0):
            m = (ci == a) & (cj == b)
            out[m] = self._height_grid(int(a), int(b))[lj[m], li[m]]
        return out

    def noise_height(self, x, z) -> np.ndarray:
        """The smooth fractal height that the terrain mesh samples at its vertices."""
        t = self.spec.terrain
        ox, oz = self._offset
        x = np.asarray(x, np.float64) + ox
        z = np.asarray(z, np.float64) + oz
        hills = fbm(x / t.noise_scale_m, z / t.noise_scale_m, self.spec.seed, t.octaves, t.roughness, t.ridges)
        s = t.noise_scale_m * 4.3
        continent = perlin(x / s, z / s, self.spec.seed * 7 + 3)
        return t.amplitude_m * (hills + 1.2 * continent)

    def _terrain_colours(self, xs, zs, hs) -> np.ndarray:
        low, high, steep, shore = (np.array(c) for c in PALETTES[self.spec.biome])
        amp = max(self.spec.terrain.amplitude_m, 1e-3)
        t = np.clip((hs - self.spec.terrain.water_level_m) / (2.5 * amp), 0, 1)[..., None]
        patch = perlin(xs / 23.0, zs / 23.0, self.spec.seed + 11) + 0.5 * perlin(xs / 7.0, zs / 7.0, self.spec.seed + 12)
        col = low * (1 - t) + high * t
        col = col * (1 + 0.16 * patch[..., None])
        gx, gz = np.gradient(hs, GRID_M)
        slope = np.clip((np.hypot(gx, gz) - 0.45) / 0.35, 0, 1)[..., None]
        col = col * (1 - slope) + steep * slope
        near_water = np.clip(1 - (hs - self.spec.terrain.water_level_m) / 1.2, 0, 1)[..., None]
        col = col * (1 - near_water) + shore * near_water
        return np.clip(col, 0, 1)

    def _terrain_mesh(self, ix: int, iz: int) -> tuple[Mesh, np.ndarray]:
        n = CELLS
        g = np.arange(n + 1) * GRID_M
        xs, zs = np.meshgrid(ix * CHUNK_M + g, iz * CHUNK_M + g)  # (n+1, n+1): rows along z
        hs = self._height_grid(ix, iz)
        col = self._terrain_colours(xs, zs, hs)
        verts = np.stack([xs, hs, zs], -1).reshape(-1, 3)
        cols = col.reshape(-1, 3)
        i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
        a, b, c, d = i, i + 1, i + n + 2, i + n + 1       # quad corners: (x0,z0) (x1,z0) (x1,z1) (x0,z1)
        tris = np.stack([np.stack([a, d, b], -1), np.stack([b, d, c], -1)], -2).reshape(-1)
        colours = np.concatenate([cols[tris], np.zeros((len(tris), 1))], 1)
        return Mesh(verts[tris].astype(np.float32), colours.astype(np.float32)), hs

    # -- objects ---------------------------------------------------------------------------------
    def objects_in_chunk(self, ix: int, iz: int) -> list[Placed]:
        """Every object whose centre lies in chunk (ix, iz); each stays wholly inside its chunk."""
        key = (ix, iz)
        if key in self._objects:
            self._objects.move_to_end(key)
            return self._objects[key]
        placed: list[Placed] = []
        for kind in PLACEMENT_ORDER:
            placed += self._place_kind(ix, iz, kind, placed)
        self._objects[key] = placed
        if len(self._objects) > 4 * self._cache:
            self._objects.popitem(last=False)
        return placed

    def _place_kind(self, ix, iz, kind, existing) -> list[Placed]:
        spec = self.spec
        kind_id = OBJECT_KINDS.index(kind)
        rng = seed_rng(spec.seed, ix, iz, kind_id)
        expected = getattr(spec.density, kind) * (CHUNK_M * CHUNK_M / 1e4)
        clustered = kind in ("building", "ruin")
        count = int(rng.poisson(expected * (2.0 if clustered else 1.0)))
        if count == 0:
            return []
        lo, hi = FOOTPRINT_M[kind]
        variants = [self._variant(kind, rng) for _ in range(count)]
        radius = np.array([LANDMARK_FOOTPRINT_M[v] if kind == "landmark" else lo + (hi - lo) * rng.random()
                           for v in variants])
        fx, fz, yaw, u = rng.random((4, count))
        x = ix * CHUNK_M + radius + fx * (CHUNK_M - 2 * radius)
        z = iz * CHUNK_M + radius + fz * (CHUNK_M - 2 * radius)
        keep = np.ones(count, bool)
        if clustered:  # buildings and ruins gather in settlements
            keep &= perlin(x / 260.0, z / 260.0, spec.seed + 99) >= (u - 0.5) * 0.6
        a = np.linspace(0, 2 * math.pi, 8, endpoint=False)
        ring = self.height(x[:, None] + np.cos(a) * radius[:, None], z[:, None] + np.sin(a) * radius[:, None])
        keep &= ring.min(1) >= spec.terrain.water_level_m + SHORE_MARGIN_M
        if kind in ("building", "tower", "ruin", "landmark"):
            keep &= ring.max(1) - ring.min(1) <= 0.6 * radius + 1.0   # else too steep for a foundation
        ground = self.height(x, z)
        out: list[Placed] = []
        others = list(existing)
        for k in np.nonzero(keep)[0]:
            if any(math.hypot(x[k] - o.x, z[k] - o.z) <= radius[k] + o.radius + 0.8 for o in others):
                continue
            key = int(hash_ints(spec.seed, ix, iz, kind_id, k) >> np.uint64(1))
            p = Placed(kind, variants[k], float(x[k]), float(z[k]), float(ground[k]), float(radius[k]),
                       float(yaw[k] * 2 * math.pi), key)
            out.append(p)
            others.append(p)
        return out

    def _variant(self, kind: str, rng) -> str:
        if kind == "tree":
            weights = TREE_WEIGHTS[self.spec.biome]
            names = list(weights)
            p = np.array([weights[n] for n in names], np.float64)
            return names[int(rng.choice(len(names), p=p / p.sum()))]
        if kind == "landmark":
            choices = [v for v in LANDMARKS if v != "lighthouse" or self.spec.biome == "coast"]
            return choices[int(rng.integers(len(choices)))]
        return kind

    # -- chunks ----------------------------------------------------------------------------------
    def chunk(self, ix: int, iz: int) -> Chunk:
        """Chunk (ix, iz) with its merged mesh (terrain, water, objects); cached."""
        key = (ix, iz)
        if key in self._chunks:
            self._chunks.move_to_end(key)
            return self._chunks[key]
        terrain, hs = self._terrain_mesh(ix, iz)
        parts = [terrain]
        water = self.spec.terrain.water_level_m
        if hs.min() < water:
            x0, z0, x1, z1 = ix * CHUNK_M, iz * CHUNK_M, (ix + 1) * CHUNK_M, (iz + 1) * CHUNK_M
            parts.append(quad([(x0, water, z0), (x0, water, z1), (x1, water, z1), (x1, water, z0)],
                              WATER_RGB, material=1.0))
        objects = self.objects_in_chunk(ix, iz)
        parts += [object_mesh(o, self.spec.biome, self.spec.seed) for o in objects]
        mesh = Mesh.concat(parts)
        ys = mesh.pos[:, 1]
        ch = Chunk(ix, iz, mesh, objects, float(ys.min()), float(ys.max()))
        self._chunks[key] = ch
        if len(self._chunks) > self._cache:
            self._chunks.popitem(last=False)
        return ch

    def objects_near(self, x: float, z: float, radius: float) -> list[Placed]:
        """Objects whose footprint comes within `radius` of (x, z)."""
        r = radius + 10.0  # the largest footprint
        out = []
        for ix in range(math.floor((x - r) / CHUNK_M), math.floor((x + r) / CHUNK_M) + 1):
            for iz in range(math.floor((z - r) / CHUNK_M), math.floor((z + r) / CHUNK_M) + 1):
                out += [o for o in self.objects_in_chunk(ix, iz)
                        if math.hypot(o.x - x, o.z - z) < radius + o.radius]
        return out

    def is_free(self, x: float, z: float, margin_m: float = 0.5) -> bool:
        """Can the player stand at (x, z): on land, and clear of every footprint by `margin_m`?"""
        if float(self.height(x, z)) < self.spec.terrain.water_level_m + SHORE_MARGIN_M:
            return False
        return not self.objects_near(x, z, margin_m)

    def eye_pose(self, x: float, z: float, yaw: float, pitch: float = 0.0) -> Pose:
        return Pose(float(x), float(self.height(x, z)) + EYE_HEIGHT_M, float(z), float(yaw), float(pitch))

    def spawn_pose(self) -> Pose:
        """The spec's spawn, moved to the nearest free spot (searched on a spiral) if it is blocked."""
        sp = self.spec.spawn
        yaw, pitch = math.radians(sp.yaw_deg), math.radians(sp.pitch_deg)
        for step in range(12000):
            r = 1.2 * step ** 0.65      # out to about 540 m, denser near the asked-for point
            a = step * 2.39996          # golden angle: an even spiral
            x, z = sp.x + r * math.cos(a), sp.z + r * math.sin(a)
            if self.is_free(x, z, 1.0) and self._roomy(x, z):
                return self.eye_pose(x, z, yaw, pitch)
        raise SpecError(f"scene '{self.spec.name}': spawn: no dry, open ground within 540 m of "
                        f"({sp.x}, {sp.z}); move [spawn] x and z, or lower terrain.water_level_m")

    def _roomy(self, x: float, z: float, reach_m: float = 15.0) -> bool:
        """Is there dry land all around (x, z), so a spawn is not on a sandbar?"""
        a = np.linspace(0, 2 * math.pi, 12, endpoint=False)
        ring = self.height(x + reach_m * np.cos(a), z + reach_m * np.sin(a))
        return int((ring > self.spec.terrain.water_level_m + SHORE_MARGIN_M).sum()) >= 9
