"""Low-poly mesh primitives and the object models built from them.

Every builder returns a Mesh: a triangle soup of positions (N, 3) float32 in metres and colours (N, 4)
float32 (RGB in [0, 1], alpha = material: 0 diffuse, 1 water). Shading is flat, from screen-space
derivatives in the shader, so no normals are stored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    pos: np.ndarray  # (N, 3) float32, N a multiple of 3
    col: np.ndarray  # (N, 4) float32

    @staticmethod
    def empty() -> "Mesh":
        return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32))

    @staticmethod
    def concat(meshes) -> "Mesh":
        meshes = [m for m in meshes if len(m.pos)]
        if not meshes:
            return Mesh.empty()
        return Mesh(np.concatenate([m.pos for m in meshes]).astype(np.float32),
                    np.concatenate([m.col for m in meshes]).astype(np.float32))


def _soup(verts: np.ndarray, tris: np.ndarray, color, material: float = 0.0) -> Mesh:
    pos = np.asarray(verts, np.float64)[np.asarray(tris).reshape(-1)]
    col = np.empty((len(pos), 4), np.float32)
    col[:, :3] = color
    col[:, 3] = material
    return Mesh(pos.astype(np.float32), col)


def frustum(base, r_bottom: float, r_top: float, height: float, sides: int, color, yaw: float = 0.0,
            cap: bool = True) -> Mesh:
    """A cylinder, cone or frustum standing on `base` (x, y, z); no bottom face."""
    a = yaw + np.arange(sides) * (2 * math.pi / sides)
    ring = np.stack([np.cos(a), np.zeros(sides), np.sin(a)], 1)
    bottom = np.asarray(base) + ring * r_bottom
    top = np.asarray(base) + ring * r_top + [0, height, 0]
    verts = np.concatenate([bottom, top, [np.asarray(base) + [0, height, 0]]])
    tris = []
    for i in range(sides):
        j = (i + 1) % sides
        tris += [(i, j, sides + j), (i, sides + j, sides + i)]
        if cap and r_top > 0:
            tris.append((sides + i, 2 * sides, sides + j))
    return _soup(verts, np.array(tris), color)


def box(base, sx: float, sy: float, sz: float, color, yaw: float = 0.0) -> Mesh:
    """An upright box of size (sx, sy, sz) whose bottom centre is `base`; no bottom face."""
    hx, hz = sx / 2, sz / 2
    corners = np.array([[-hx, 0, -hz], [hx, 0, -hz], [hx, 0, hz], [-hx, 0, hz]])
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    bottom = corners @ rot.T + base
    verts = np.concatenate([bottom, bottom + [0, sy, 0]])
    tris = [(0, 1, 5), (0, 5, 4), (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 0, 4), (3, 4, 7),
            (4, 5, 6), (4, 6, 7)]
    return _soup(verts, np.array(tris), color)


def gable_roof(base, sx: float, sz: float, height: float, color, yaw: float = 0.0) -> Mesh:
    """A triangular prism roof over an sx-by-sz rectangle, ridge along x."""
    hx, hz = sx / 2, sz / 2
    v = np.array([[-hx, 0, -hz], [hx, 0, -hz], [hx, 0, hz], [-hx, 0, hz], [-hx, height, 0], [hx, height, 0]])
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    verts = v @ rot.T + base
    tris = [(0, 1, 5), (0, 5, 4), (2, 3, 4), (2, 4, 5), (3, 0, 4), (1, 2, 5)]
    return _soup(verts, np.array(tris), color)


_OCTA_V = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64)
_OCTA_T = np.array([[0, 2, 4], [4, 2, 1], [1, 2, 5], [5, 2, 0], [4, 3, 0], [1, 3, 4], [5, 3, 1], [0, 3, 5]])


def _subdivided_octahedron():
    verts, tris, cache = list(_OCTA_V), [], {}

    def mid(a, b):
        key = (min(a, b), max(a, b))
        if key not in cache:
            m = (verts[a] + verts[b]) / 2
            verts.append(m / np.linalg.norm(m))
            cache[key] = len(verts) - 1
        return cache[key]

    for a, b, c in _OCTA_T:
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        tris += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
    return np.array(verts), np.array(tris)


_SPHERE_V, _SPHERE_T = _subdivided_octahedron()  # 18 vertices, 32 triangles


def blob(center, radii, color, rng: np.random.Generator, jitter: float = 0.15) -> Mesh:
    """A lumpy low-poly ellipsoid (tree crowns, rocks, bushes)."""
    v = _SPHERE_V * (1 + jitter * (rng.random((len(_SPHERE_V), 1)) * 2 - 1))
    return _soup(v * np.asarray(radii) + np.asarray(center), _SPHERE_T, color)


def quad(corners, color, material: float = 0.0) -> Mesh:
    """Two triangles over four corners given counter-clockwise."""
    return _soup(np.asarray(corners), np.array([(0, 1, 2), (0, 2, 3)]), color, material)
