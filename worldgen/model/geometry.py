"""Pose maths, warping of RGB-D frames, and Plucker ray maps, in numpy.

A warp forward-splats depth with a z-buffer (which surface each new pixel sees), then samples colour back from
the source bilinearly where that surface is visible in the source. Sampling at the exact sub-pixel position
keeps a chain of warps from drifting by half a pixel a step, and a magnified surface stays whole instead of
breaking into blocks.

One implementation serves training, evaluation and the runtime, so the play path needs no torch. Images are
(H, W, C) arrays; depth is planar metres (docs/formats.md). No gradient flows through any of this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..poses import Intrinsics, Pose, camera_rotation

SKY_DEPTH_M = 1000.0


@dataclass(frozen=True)
class Warped:
    rgb: np.ndarray     # (H, W, 3) float32 in [0, 1]; 0 where invalid
    depth: np.ndarray   # (H, W) float32 metres; 0 where invalid
    valid: np.ndarray   # (H, W) bool


class Camera:
    """Cached per-intrinsics geometry: camera-space rays of every pixel."""

    def __init__(self, intr: Intrinsics):
        self.intr = intr
        self.rays = intr.camera_rays().reshape(-1, 3).astype(np.float64)  # (HW, 3), z = -1
        self.rays32 = self.rays.astype(np.float32)

    def points_world(self, depth: np.ndarray, pose: Pose) -> np.ndarray:
        """(HW, 3) world points of every pixel of a planar depth map seen from `pose`."""
        r = camera_rotation(pose.yaw, pose.pitch)
        return (self.rays * depth.reshape(-1, 1)) @ r.T + pose.position

    def project(self, pts_world: np.ndarray, pose: Pose):
        """Pixel coordinates (u, v) and planar depth of world points seen from `pose`."""
        r = camera_rotation(pose.yaw, pose.pitch)
        cam = (pts_world - pose.position) @ r
        z = -cam[:, 2]
        safe = np.where(z > 1e-6, z, 1e-6)
        u = self.intr.fx * cam[:, 0] / safe + self.intr.cx
        v = -self.intr.fy * cam[:, 1] / safe + self.intr.cy
        return u, v, z


def relative(src: Pose, dst: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(M, t), float32: a point's camera coordinates in `src` times M plus t are its coordinates in `dst`."""
    r_src, r_dst = camera_rotation(src.yaw, src.pitch), camera_rotation(dst.yaw, dst.pitch)
    m = r_src.T @ r_dst
    t = (src.position - dst.position) @ r_dst
    return m.astype(np.float32), t.astype(np.float32)


def _pixels(intr: Intrinsics, c: np.ndarray):
    """Pixel coordinates (u, v) and planar depth of camera-space points (N, 3)."""
    z = -c[:, 2]
    inv = 1.0 / np.maximum(z, 1e-6)
    return intr.fx * c[:, 0] * inv + intr.cx, intr.cy - intr.fy * c[:, 1] * inv, z


def _zbuffer(h: int, w: int, u, v, z, cols):
    """Nearest pixel, nearest point wins: (rgb (HW, 3), zbuf (HW,) with inf where nothing landed)."""
    ui, vi = np.floor(u).astype(np.int32), np.floor(v).astype(np.int32)
    src = np.flatnonzero((z > 0.05) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h))
    idx = vi[src] * w + ui[src]
    z = z[src]
    zbuf = np.full(h * w, np.inf, np.float32)
    np.minimum.at(zbuf, idx, z)
    win = z <= zbuf[idx]
    out = np.zeros((h * w, 3), np.float32)
    out[idx[win]] = cols[src[win]]
    return out, zbuf


def splat(cam: Camera, sources, dst: Pose) -> Warped:
    """Forward-warp RGB-D frames into the view `dst`, nearest pixel, nearest point wins (z-buffer).

    sources: iterable of (rgb (H, W, 3) float32 [0, 1], depth_m (H, W), pose).
    """
    h, w = cam.intr.height, cam.intr.width
    us, vs, zs, cols = [], [], [], []
    for rgb, depth, pose in sources:
        m, t = relative(pose, dst)
        u, v, z = _pixels(cam.intr, (cam.rays32 * depth.reshape(-1, 1).astype(np.float32)) @ m + t)
        us.append(u)
        vs.append(v)
        zs.append(z)
        cols.append(rgb.reshape(-1, 3))
    out_rgb, zbuf = _zbuffer(h, w, *(np.concatenate(a) for a in (us, vs, zs, cols)))
    valid = np.isfinite(zbuf)
    out_depth = np.where(valid, zbuf, 0.0).astype(np.float32)
    return Warped(out_rgb.reshape(h, w, 3), out_depth.reshape(h, w), valid.reshape(h, w))


def fill_cracks(wp: Warped) -> Warped:
    """Fill one-pixel cracks (an invalid pixel between two valid ones) from the nearer neighbour."""
    rgb, depth, valid = wp.rgb.copy(), wp.depth.copy(), wp.valid.copy()
    for t in (lambda a: a, lambda a: a.swapaxes(0, 1)):     # along rows, then along columns
        r, d, v = t(rgb), t(depth), t(valid)                # views: writes land in the arrays
        crack = ~v[:, 1:-1] & v[:, :-2] & v[:, 2:]
        near_left = d[:, :-2] <= d[:, 2:]
        fill_rgb = np.where(near_left[..., None], r[:, :-2], r[:, 2:])
        fill_d = np.where(near_left, d[:, :-2], d[:, 2:])
        r[:, 1:-1][crack] = fill_rgb[crack]
        d[:, 1:-1][crack] = fill_d[crack]
        v[:, 1:-1][crack] = True
    return Warped(rgb, depth, valid)


def bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """img (H, W, C) sampled at pixel coordinates (u, v) (pixel centres at i + 0.5), edges clamped: (N, C)."""
    h, w = img.shape[:2]
    x = np.clip(u - 0.5, 0.0, w - 1.0).astype(np.float32)
    y = np.clip(v - 0.5, 0.0, h - 1.0).astype(np.float32)
    x0 = np.minimum(x.astype(np.int32), w - 2)
    y0 = np.minimum(y.astype(np.int32), h - 2)
    fx, fy = x - x0, y - y0
    i = y0 * w + x0
    corners = ((i, (1 - fx) * (1 - fy)), (i + 1, fx * (1 - fy)), (i + w, (1 - fx) * fy), (i + w + 1, fx * fy))
    planes = np.ascontiguousarray(img.reshape(h * w, -1).T, dtype=np.float32)
    out = np.empty((planes.shape[0], len(i)), np.float32)
    for ch, plane in zip(out, planes):
        ch[:] = sum(plane.take(k) * wt for k, wt in corners)
    return out.T


OCCLUSION_REL = 0.05   # a new pixel's surface counts as visible in the source if the source's depth there is
OCCLUSION_ABS_M = 0.1  # within this share of its distance plus this many metres


def warp(cam: Camera, rgb: np.ndarray, depth: np.ndarray, src: Pose, dst: Pose) -> Warped:
    """One frame warped to `dst`: depth and visibility from the z-buffered splat (one-pixel cracks filled),
    colour sampled back from the source bilinearly wherever the surface is visible there."""
    wp = fill_cracks(splat(cam, [(rgb, depth, src)], dst))
    h, w = cam.intr.height, cam.intr.width
    m, t = relative(src, dst)
    c_dst = cam.rays32 * wp.depth.reshape(-1, 1)
    u, v, z = _pixels(cam.intr, (c_dst - t) @ m.T)          # each new pixel's surface, seen from src
    inside = wp.valid.reshape(-1) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ui = np.minimum(u.astype(np.int64), w - 1)
    vi = np.minimum(v.astype(np.int64), h - 1)
    seen = np.flatnonzero(inside)
    seen = seen[np.abs(depth[vi[seen], ui[seen]] - z[seen]) < OCCLUSION_REL * z[seen] + OCCLUSION_ABS_M]
    out = wp.rgb.reshape(-1, 3).copy()
    out[seen] = bilinear(rgb, u[seen], v[seen])
    return Warped(out.reshape(h, w, 3), wp.depth, wp.valid)


def plucker_map(cam: Camera, src: Pose, dst: Pose) -> np.ndarray:
    """(H, W, 6) float32 Plucker coordinates (direction, moment) of the rays of `dst`, in src's camera frame."""
    r_src = camera_rotation(src.yaw, src.pitch)
    r_dst = camera_rotation(dst.yaw, dst.pitch)
    d = cam.rays @ (r_src.T @ r_dst).T
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    o = r_src.T @ (dst.position - src.position)
    m = np.cross(np.broadcast_to(o, d.shape), d)
    h, w = cam.intr.height, cam.intr.width
    return np.concatenate([d, m], 1).reshape(h, w, 6).astype(np.float32)
