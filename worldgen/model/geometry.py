"""Pose maths, warping of RGB-D frames, and Plucker ray maps, in numpy (the per-pixel loops of the warp in
kernels.py, compiled by numba).

A warp forward-splats depth with a z-buffer (which surface each new pixel sees), then samples colour back from
the source with a cubic where that surface is visible in the source. Sampling at the exact sub-pixel position
keeps a chain of warps from drifting by half a pixel a step, and a magnified surface stays whole instead of
breaking into blocks; the cubic blurs far less per step than a linear sample (docs/model.md).

One implementation serves training, evaluation and the runtime, so the play path needs no torch. Images are
(H, W, C) arrays; depth is planar metres (docs/formats.md). No gradient flows through any of this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..poses import Intrinsics, Pose, camera_rotation
from . import kernels

SKY_DEPTH_M = 1000.0


@dataclass(frozen=True)
class Warped:
    rgb: np.ndarray     # (H, W, 3) float32 in [0, 1]; 0 where invalid
    depth: np.ndarray   # (H, W) float32 metres; 0 where invalid
    valid: np.ndarray   # (H, W) bool
    sampled: np.ndarray | None = None   # (H, W) bool: colour sampled back at the surface's exact spot (`warp`)


class Camera:
    """Cached per-intrinsics geometry: camera-space rays of every pixel."""

    def __init__(self, intr: Intrinsics):
        self.intr = intr
        self.rays = intr.camera_rays().reshape(-1, 3).astype(np.float64)  # (HW, 3), z = -1
        self.rays32 = self.rays.astype(np.float32)
        self.ray_norms = np.sqrt((self.rays32 ** 2).sum(1))      # planar depth -> distance along the ray
        self._elevation: tuple[float, np.ndarray] | None = None

    def elevation(self, pitch: float) -> np.ndarray:
        """(H, W) float32 tangent of each pixel's ray elevation above the horizon, for a camera at `pitch`
        (kept for the last pitch asked: most ticks do not change it). Read only."""
        if self._elevation is None or self._elevation[0] != pitch:
            d = self.rays @ camera_rotation(0.0, pitch).T
            tan = (d[:, 1] / np.hypot(d[:, 0], d[:, 2])).reshape(self.intr.height, self.intr.width)
            self._elevation = (pitch, tan.astype(np.float32))
        return self._elevation[1]

    def points_world(self, depth: np.ndarray, pose: Pose) -> np.ndarray:
        """(HW, 3) world points of every pixel of a planar depth map seen from `pose`."""
        r = camera_rotation(pose.yaw, pose.pitch)
        return (self.rays * depth.reshape(-1, 1)) @ r.T + pose.position

    def project(self, pts_world: np.ndarray, pose: Pose):
        """Pixel coordinates (u, v) and planar depth of world points seen from `pose`."""
        return _pixels(self.intr, (pts_world - pose.position) @ camera_rotation(pose.yaw, pose.pitch))


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


def splat(cam: Camera, sources, dst: Pose) -> Warped:
    """Forward-warp RGB-D frames into the view `dst`, nearest pixel, nearest point wins (z-buffer; of equally
    near points the later source's, and the later pixel's; `kernels.splat_into`).

    sources: iterable of (rgb (H, W, 3) float32 [0, 1], depth_m (H, W), pose).
    """
    intr = cam.intr
    h, w = intr.height, intr.width
    zbuf = np.full(h * w, np.inf, np.float32)
    out = np.zeros((h * w, 3), np.float32)
    for rgb, depth, pose in sources:
        m, t = relative(pose, dst)
        kernels.splat_into(cam.rays32, _flat32(depth), m, t, intr.fx, intr.fy, intr.cx, intr.cy, h, w,
                           _flat32(rgb, 3), zbuf, out)
    valid = np.isfinite(zbuf)
    out_depth = np.where(valid, zbuf, 0.0).astype(np.float32)
    return Warped(out.reshape(h, w, 3), out_depth.reshape(h, w), valid.reshape(h, w))


def _flat32(a: np.ndarray, channels: int = 0) -> np.ndarray:
    """a as a contiguous float32 array of pixels: (HW,) or (HW, channels)."""
    return np.ascontiguousarray(a, np.float32).reshape((-1, channels) if channels else -1)


SILHOUETTE_DISPARITY = 0.05  # 1/m: a step in inverse depth this large within a pixel's 3x3 neighbourhood is an
# outline that moves against what is behind it (parallax is inverse depth times the camera's move); the ground's
# inverse depth changes smoothly, by about 0.01 per row at 128 pixels, and far outlines by less than 0.01


def near_silhouettes(depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels beside an outline of a near thing (a step in inverse depth), where the splat's
    nearest-point depth is jagged, and the warp's colour with it. Far outlines (small objects at the horizon)
    and the ground's smooth change are not marked."""
    h, w = depth.shape
    p = np.pad(depth, 1, mode="edge")
    around = [p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return 1.0 / np.min(around, 0) - 1.0 / np.max(around, 0) > SILHOUETTE_DISPARITY


def fill_cracks(wp: Warped) -> Warped:
    """Fill one-pixel cracks (an invalid pixel between two valid ones) from the nearer neighbour, along rows,
    then along columns (`kernels.fill_cracks_inplace`)."""
    rgb, depth, valid = wp.rgb.astype(np.float32), wp.depth.astype(np.float32), wp.valid.copy()
    kernels.fill_cracks_inplace(rgb, depth, valid)
    return Warped(rgb, depth, valid)


UPRIGHT_REL = 0.03  # a pixel is upright if the one above it is this close in depth (relative)


def object_mask(depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of upright things (trees, rocks, houses), not ground or sky. Up a column of ground
    the depth grows row by row; up an upright surface it stays nearly the same, and its top row has sky or
    far ground above it."""
    sky = depth >= SKY_DEPTH_M * 0.999
    above = np.vstack([depth[:1], depth[:-1]])
    upright = np.abs(above - depth) < UPRIGHT_REL * depth
    top = above > 1.3 * depth
    below = np.vstack([upright[1:], upright[-1:]])
    return ~sky & (upright | top & below)


EDGE_WINDOW = 32   # a strip at the frame's edge takes the farthest of this many pixels beside it in its row


def fill_holes(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, elevation: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, depth) with every invalid pixel filled along its row: between two valid pixels, from the farther
    (background) one; in a strip at the frame's edge, from the farthest valid pixel among the EDGE_WINDOW
    columns beside the strip. Rows with no valid pixel take the nearest filled row; with no valid pixel at all,
    (rgb, depth) come back as they are. Where a view turns past what was seen, the sky, the horizon and the
    ground carry on into the new strip, and an object at the edge is not copied into it (copying the previous
    frame there, as before, grew a tree at the edge into a wall).

    With `elevation` (Camera.elevation of the view), a hole filled with sky takes its colour from the source
    column at the same elevation instead of the same row: a row of a perspective image is not a line of equal
    elevation, so copying along rows turn after turn slanted the sky's bands (docs/model.md)."""
    if valid.all() or not valid.any():
        return rgb, depth
    todo = ~valid.all(1)                       # only rows with a hole
    row_ok = valid.any(1)
    if row_ok[todo].all():                     # each of them has something to fill from
        out_rgb, out_depth = rgb.copy(), depth.copy()
        src = np.zeros(valid.shape, np.int32)  # (whole rows need no source)
        out_rgb[todo], out_depth[todo], src[todo] = _fill_rows(rgb[todo], depth[todo], valid[todo])
    else:
        out_rgb, out_depth, src = _fill_rows(rgb, depth, valid)
    if elevation is not None:
        _sky_by_elevation(out_rgb, out_depth, rgb, depth, valid, src, elevation)
    if not row_ok.all():
        h = valid.shape[0]
        r = np.arange(h)
        up = np.maximum.accumulate(np.where(row_ok, r, -1))
        down = np.minimum.accumulate(np.where(row_ok, r, h)[::-1])[::-1]
        near = np.where(up < 0, down, np.where(down >= h, up, np.where(r - up <= down - r, up, down)))
        out_rgb, out_depth = out_rgb[near], out_depth[near]
    return out_rgb, out_depth


def _fill_rows(rgb, depth, valid):
    """fill_holes along rows; what a row with no valid pixel gets is meaningless (fill_holes replaces it)."""
    h, w = valid.shape
    cols = np.arange(w, dtype=np.int32)[None, :]
    rows = np.arange(h, dtype=np.int32)[:, None]
    left = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(valid, cols, w)[:, ::-1], axis=1)[:, ::-1]
    has_l, has_r = left >= 0, right < w
    d_l = np.where(has_l, depth[rows, np.clip(left, 0, w - 1)], -np.inf)
    d_r = np.where(has_r, depth[rows, np.clip(right, 0, w - 1)], -np.inf)
    src = np.where(has_l & (d_l >= d_r), left, right)
    masked = np.where(valid, depth, -np.inf)
    steps = np.arange(EDGE_WINDOW, dtype=np.int32)[None, :]
    for edge, first, away in ((~has_l, right[:, :1], 1), (~has_r, left[:, -1:], -1)):
        if not edge.any():
            continue
        window = np.clip(first + away * steps, 0, w - 1)                  # (h, EDGE_WINDOW) columns
        best = window[np.arange(h), np.argmax(masked[rows, window], axis=1)][:, None]
        src = np.where(edge, best, src)
    src = np.where(valid, cols, np.clip(src, 0, w - 1))
    return rgb[rows, src], depth[rows, src], src


def rows_at_elevation(column: np.ndarray, elevations: np.ndarray, outside: float | None = None
                      ) -> np.ndarray | None:
    """Fractional rows at which an image column (its Camera.elevation, top row first) looks at each of
    `elevations`; beyond the column's range, its end rows or `outside`. None if elevation does not fall down
    the column (a view past the zenith)."""
    col = column.astype(np.float64)
    if not np.all(np.diff(col) < 0):
        return None
    rows = np.arange(len(col), dtype=np.float64)
    return np.interp(elevations, col[::-1], rows[::-1], left=outside, right=outside)


def _sky_by_elevation(out_rgb, out_depth, rgb, depth, valid, src, elevation) -> None:
    """In place: each filled sky pixel takes the colour its source column has at the pixel's elevation,
    interpolated between the two rows around it where both are known sky (else it keeps the row's colour)."""
    h = valid.shape[0]
    known_sky = valid & (depth >= SKY_DEPTH_M * 0.999)
    ys, xs = np.nonzero(~valid & (out_depth >= SKY_DEPTH_M * 0.999) & valid.any(1)[:, None])
    if not len(ys):
        return
    cs = src[ys, xs]
    for c in np.unique(cs):
        k = np.flatnonzero(cs == c)
        yf = rows_at_elevation(elevation[:, c], elevation[ys[k], xs[k]])
        if yf is None:
            continue
        y0 = np.floor(yf).astype(np.int64)
        y1 = np.minimum(y0 + 1, h - 1)
        ok = known_sky[y0, c] & known_sky[y1, c]
        f = (yf - y0)[ok, None].astype(np.float32)
        out_rgb[ys[k][ok], xs[k][ok]] = rgb[y0[ok], c] * (1 - f) + rgb[y1[ok], c] * f


def bicubic(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """img (H, W, C) sampled at pixel coordinates (u, v) by cubic B-spline interpolation, edges clamped: (N, C),
    clipped to the image's range.

    The image, extended by its edge values, is first turned into spline coefficients (`spline_coefficients`),
    so the spline passes through every pixel value; sampled at a sub-pixel offset it keeps more of the fine
    detail than a Catmull-Rom cubic, which the warp used before. A warp chain resamples every tick, so
    what one hop loses compounds: on the standard suite's 1024-tick wander, a chain of warps with true depth
    keeps a sharpness ratio of 0.93 at t=64 with this sampler and 0.77 with Catmull-Rom, at the same PSNR
    (docs/model.md)."""
    u, v = np.asarray(u, np.float32), np.asarray(v, np.float32)
    if not (np.isfinite(u).all() and np.isfinite(v).all()):
        raise ValueError("bicubic: sample coordinates must be finite")
    out = np.zeros((len(u), img.shape[2]), np.float32)
    _sample_into(img, u, v, np.arange(len(u)), out)
    return out


def _sample_into(img: np.ndarray, u: np.ndarray, v: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """out[idx] = img's spline at (u, v)[idx] (float32 (N,) coordinates, `bicubic`'s rule), in place."""
    kernels.spline_sample(spline_coefficients(img), img.shape[1], img.shape[0], u, v, idx, float(img.min()),
                          float(img.max()), out)


def spline_coefficients(img: np.ndarray) -> np.ndarray:
    """(H + 4, W + 4, C) float32: the cubic B-spline coefficients of img extended by 2 pixels of its edge
    values (`kernels.spline_prefilter`: the exact inverse filter, by recursion), so the spline passes through
    every pixel and a sample near the edge needs no clamping of its taps."""
    ext = np.pad(img.astype(np.float32, copy=False), ((2, 2), (2, 2), (0, 0)), mode="edge")
    return kernels.spline_prefilter(ext)


OCCLUSION_REL = 0.05   # a new pixel's surface counts as visible in the source if the source's depth there is
OCCLUSION_ABS_M = 0.1  # within this share of its distance plus this many metres


REFINE_SMOOTH = 0.02   # 1/m: the four source taps' inverse depths within this (a plane, not an outline; flat
# ground's inverse depth changes by about 0.005 a row at 128 pixels, SILHOUETTE_DISPARITY below)
REFINE_MAX = 0.01      # 1/m: a refinement moves a pixel's inverse depth by at most this (two rows of ground)


def _bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray):
    """img (H, W) at pixel coordinates (u, v), bilinear, edges clamped; and the spread of the four taps."""
    h, w = img.shape
    x = np.clip(u - 0.5, 0.0, w - 1.0)
    y = np.clip(v - 0.5, 0.0, h - 1.0)
    x0, y0 = np.minimum(x.astype(np.int64), w - 2), np.minimum(y.astype(np.int64), h - 2)
    fx, fy = x - x0, y - y0
    a, b, c, d = img[y0, x0], img[y0, x0 + 1], img[y0 + 1, x0], img[y0 + 1, x0 + 1]
    spread = np.maximum(np.maximum(a, b), np.maximum(c, d)) - np.minimum(np.minimum(a, b), np.minimum(c, d))
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy, spread


def refine_depth(cam: Camera, src_depth: np.ndarray, depth: np.ndarray, valid: np.ndarray, m, t) -> np.ndarray:
    """The splat's depth moved to where each new pixel's ray meets the source's surface (one secant step).

    The splat gives a new pixel the depth of the nearest point landing anywhere in it, not at its centre. On
    ground seen at a slant that is up to a row nearer: walking forward, about 0.5% a tick near the feet and
    far more near the horizon, where a row spans tens of metres, and it compounds: on a 100 m trek a chain of
    warps with true depth at the start and no network had the ground at half the truth's depth by tick 64,
    and the picture magnified wrongly with it. Here each ray is intersected with the source's surface: a
    secant step on f(s) = 1/z_src(s) - 1/D_src(u(s), v(s)) in inverse depth s, where a plane's inverse depth
    is linear in the pixel coordinates, so a bilinear sample of it is exact on flat ground, near or far."""
    d0 = depth.reshape(-1)
    idx = np.flatnonzero(valid.reshape(-1) & (d0 < SKY_DEPTH_M * 0.999))
    if len(idx) == 0:
        return depth
    rays = cam.rays32[idx]
    inv_src = 1.0 / np.maximum(src_depth.astype(np.float32), 1e-3)
    sa = 1.0 / d0[idx]
    sb = sa + np.float32(0.5 * REFINE_MAX)

    def f(s):
        u, v, z = _pixels(cam.intr, (rays / s[:, None] - t) @ m.T)
        inv, spread = _bilinear(inv_src, u, v)
        ok = (spread < REFINE_SMOOTH) & (u >= 0) & (u < cam.intr.width) & (v >= 0) & (v < cam.intr.height)
        return 1.0 / np.maximum(z, 1e-3) - inv, ok

    fa, oka = f(sa)
    fb, okb = f(sb)
    slope = fb - fa
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = sa - fa * (sb - sa) / slope
    ok = oka & okb & (np.abs(slope) > 1e-7) & np.isfinite(s1) & (np.abs(s1 - sa) <= REFINE_MAX) \
        & (s1 > 1.0 / SKY_DEPTH_M)
    out = d0.copy()
    out[idx[ok]] = 1.0 / s1[ok]
    return out.reshape(depth.shape).astype(np.float32)


def splat_one(cam: Camera, rgb: np.ndarray, depth: np.ndarray, src: Pose, dst: Pose, refine: bool = False) -> Warped:
    """One frame splatted to `dst`, one-pixel cracks filled, with `refine` its depth moved onto the source's
    surface (`refine_depth`)."""
    wp = fill_cracks(splat(cam, [(rgb, depth, src)], dst))
    if not refine:
        return wp
    m, t = relative(src, dst)
    return Warped(wp.rgb, refine_depth(cam, depth, wp.depth, wp.valid, m, t), wp.valid)


def warp(cam: Camera, rgb: np.ndarray, depth: np.ndarray, src: Pose, dst: Pose, haze=None,
         refine: bool = False) -> Warped:
    """One frame warped to `dst`: depth and visibility from the z-buffered splat (one-pixel cracks filled),
    with `refine` each depth moved onto the source's surface (`refine_depth`), then colour sampled back from
    the source (cubic B-spline) wherever the surface is visible there. With `haze` (fog.Haze), a sampled
    surface takes the haze of its new distance (fog.py)."""
    wp = splat_one(cam, rgb, depth, src, dst, refine)
    intr = cam.intr
    h, w = intr.height, intr.width
    m, t = relative(src, dst)
    u, v, z = (np.empty(h * w, np.float32) for _ in range(3))     # each new pixel's surface, seen from src
    seen = np.flatnonzero(kernels.back_project(cam.rays32, _flat32(wp.depth), wp.valid.reshape(-1), m, t,
                                               intr.fx, intr.fy, intr.cx, intr.cy, _flat32(depth).reshape(h, w),
                                               OCCLUSION_REL, OCCLUSION_ABS_M, u, v, z))
    out = wp.rgb.reshape(-1, 3).copy()
    _sample_into(rgb, u, v, seen, out)
    if haze is not None and haze.k > 0:
        land = seen[wp.depth.reshape(-1)[seen] < SKY_DEPTH_M * 0.999]
        d_src = z[land] * np.sqrt(((u[land] - cam.intr.cx) / cam.intr.fx) ** 2
                                  + ((cam.intr.cy - v[land]) / cam.intr.fy) ** 2 + 1.0)
        d_dst = wp.depth.reshape(-1)[land] * cam.ray_norms[land]
        out[land] = haze.transfer(out[land], d_src, d_dst)
    sampled = np.zeros(h * w, bool)
    sampled[seen] = True
    return Warped(out.reshape(h, w, 3), wp.depth, wp.valid, sampled.reshape(h, w))


def plucker_map(cam: Camera, src: Pose, dst: Pose) -> np.ndarray:
    """(H, W, 6) float32 Plucker coordinates (direction, moment) of the rays of `dst`, in src's camera frame."""
    m, o = relative(dst, src)                   # dst's rays turned into src's frame; o = dst's origin there
    d = cam.rays32 @ m
    d *= 1.0 / np.sqrt(np.einsum("ij,ij->i", d, d))[:, None]
    mom = np.stack([o[1] * d[:, 2] - o[2] * d[:, 1], o[2] * d[:, 0] - o[0] * d[:, 2],
                    o[0] * d[:, 1] - o[1] * d[:, 0]], 1)
    h, w = cam.intr.height, cam.intr.width
    return np.concatenate([d, mom], 1).reshape(h, w, 6)
