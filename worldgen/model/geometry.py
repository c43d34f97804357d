"""Pose maths, z-buffered forward warping of RGB-D frames, and Plucker ray maps, in numpy.

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


def splat(cam: Camera, sources, dst: Pose) -> Warped:
    """Forward-warp RGB-D frames into the view `dst`, nearest pixel, nearest point wins (z-buffer).

    sources: iterable of (rgb (H, W, 3) float32 [0, 1], depth_m (H, W), pose).
    """
    h, w = cam.intr.height, cam.intr.width
    us, vs, zs, cols = [], [], [], []
    for rgb, depth, pose in sources:
        u, v, z = cam.project(cam.points_world(depth, pose), dst)
        us.append(u)
        vs.append(v)
        zs.append(z)
        cols.append(rgb.reshape(-1, 3))
    u, v, z, col = (np.concatenate(a) for a in (us, vs, zs, cols))
    ui, vi = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    ok = (z > 0.05) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    idx = vi[ok] * w + ui[ok]
    z, col = z[ok], col[ok]
    zbuf = np.full(h * w, np.inf)
    np.minimum.at(zbuf, idx, z)
    win = z <= zbuf[idx]
    out_rgb = np.zeros((h * w, 3), np.float32)
    out_rgb[idx[win]] = col[win]
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


def warp(cam: Camera, rgb: np.ndarray, depth: np.ndarray, src: Pose, dst: Pose) -> Warped:
    """One frame forward-warped to `dst`, with one-pixel cracks filled."""
    return fill_cracks(splat(cam, [(rgb, depth, src)], dst))


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
