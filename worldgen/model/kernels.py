"""The warp's per-pixel loops, compiled by numba: the z-buffered splat, crack filling and the spline sample-back.

geometry.py says what each does and why; these are the same rules written as loops over pixels instead of
whole-array numpy passes, which cost a tick about 6 ms of the 13 its geometry took (temporaries, fancy-index
gathers, and about 1,100 Python calls). Compiled on first use and cached on disk (numba's cache: beside this
file, or the user's cache folder where this folder is read-only); `nogil`, so a thread running one world's
geometry does not hold the others up. No threads of their own: the network has the cores.
"""
from __future__ import annotations

import numpy as np
from numba import njit

MIN_DEPTH_M = 0.05      # a point nearer the camera than this is dropped by the splat
_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def splat_into(rays, depth, m, t, fx, fy, cx, cy, h, w, cols, zbuf, out):
    """Forward-splat one frame into (zbuf, out), in place: every pixel's 3D point (ray times planar depth,
    turned by m and moved by t into the new camera) lands in the new pixel holding it; the nearest point
    wins, and of equally near ones the last. rays (HW, 3) and cols (HW, C) float32; depth (HW,); zbuf (h*w,)
    float32, inf where nothing landed yet; out (h*w, C). Non-finite points are dropped."""
    n = rays.shape[0]
    nc = cols.shape[1]
    for i in range(n):
        d = depth[i]
        x, y, z0 = rays[i, 0] * d, rays[i, 1] * d, rays[i, 2] * d
        c0 = x * m[0, 0] + y * m[1, 0] + z0 * m[2, 0] + t[0]
        c1 = x * m[0, 1] + y * m[1, 1] + z0 * m[2, 1] + t[1]
        z = -(x * m[0, 2] + y * m[1, 2] + z0 * m[2, 2] + t[2])
        if not z > MIN_DEPTH_M:
            continue
        u = fx * c0 / z + cx
        v = cy - fy * c1 / z
        if not (u >= 0.0 and u < w and v >= 0.0 and v < h):
            continue
        k = int(v) * w + int(u)
        zf = np.float32(z)
        if zf <= zbuf[k]:
            zbuf[k] = zf
            for c in range(nc):
                out[k, c] = cols[i, c]


@njit(**_JIT)
def fill_cracks_inplace(rgb, depth, valid):
    """One-pixel cracks (an invalid pixel between two valid ones) filled from the nearer neighbour (the left or
    upper one on a tie), along rows, then along columns; in place on (H, W, C), (H, W), (H, W) bool. A filled
    crack's neighbours are valid, so filling in order is filling all at once."""
    h, w = valid.shape
    nc = rgb.shape[2]
    for y in range(h):
        for x in range(1, w - 1):
            if not valid[y, x] and valid[y, x - 1] and valid[y, x + 1]:
                s = x - 1 if depth[y, x - 1] <= depth[y, x + 1] else x + 1
                for c in range(nc):
                    rgb[y, x, c] = rgb[y, s, c]
                depth[y, x] = depth[y, s]
                valid[y, x] = True
    for x in range(w):
        for y in range(1, h - 1):
            if not valid[y, x] and valid[y - 1, x] and valid[y + 1, x]:
                s = y - 1 if depth[y - 1, x] <= depth[y + 1, x] else y + 1
                for c in range(nc):
                    rgb[y, x, c] = rgb[s, x, c]
                depth[y, x] = depth[s, x]
                valid[y, x] = True


@njit(**_JIT)
def back_project(rays, depth, valid, m, t, fx, fy, cx, cy, src_depth, occl_rel, occl_abs, u, v, z):
    """Each valid new pixel's surface (ray times its planar depth) seen from the source camera: its pixel
    coordinates and planar depth written into u, v, z (HW,), float32; returns the bool mask of those that lie
    inside the source frame and are visible there (the source's depth at that pixel within occl_rel of the
    distance plus occl_abs metres). m, t: the source-to-new transform (`geometry.relative`), inverted here."""
    h, w = src_depth.shape
    n = rays.shape[0]
    seen = np.zeros(n, np.bool_)
    for i in range(n):
        if not valid[i]:
            continue
        d = depth[i]
        e0, e1, e2 = rays[i, 0] * d - t[0], rays[i, 1] * d - t[1], rays[i, 2] * d - t[2]
        c0 = e0 * m[0, 0] + e1 * m[0, 1] + e2 * m[0, 2]
        c1 = e0 * m[1, 0] + e1 * m[1, 1] + e2 * m[1, 2]
        zz = -(e0 * m[2, 0] + e1 * m[2, 1] + e2 * m[2, 2])
        inv = 1.0 / max(zz, 1e-6)
        uu = fx * c0 * inv + cx
        vv = cy - fy * c1 * inv
        u[i], v[i], z[i] = uu, vv, zz
        if not (uu >= 0.0 and uu < w and vv >= 0.0 and vv < h):
            continue
        sd = src_depth[min(int(vv), h - 1), min(int(uu), w - 1)]
        if abs(sd - zz) < occl_rel * zz + occl_abs:
            seen[i] = True
    return seen


@njit(**_JIT)
def spline_sample(coef, w, h, u, v, idx, lo, hi, out):
    """out[idx[j]] = the cubic B-spline with coefficients `coef` ((h + 4, w + 4, C): the image with 2 pixels of
    edge around, prefiltered) at pixel coordinates (u, v)[idx[j]], edges clamped, clipped to [lo, hi]."""
    nc = coef.shape[2]
    for j in range(idx.shape[0]):
        i = idx[j]
        x = min(max(u[i] - 0.5, 0.0), w - 1.0)
        y = min(max(v[i] - 0.5, 0.0), h - 1.0)
        x0, y0 = int(x), int(y)
        fx, fy = x - x0, y - y0
        wx = _weights(fx)
        wy = _weights(fy)
        for c in range(nc):
            acc = 0.0
            for r in range(4):
                row = 0.0
                for k in range(4):
                    row += coef[y0 + 1 + r, x0 + 1 + k, c] * wx[k]
                acc += wy[r] * row
            out[i, c] = min(max(acc, lo), hi)


@njit(**_JIT)
def _weights(f):
    """The cubic B-spline's weights of the taps at -1, 0, 1, 2 for a sample at fraction f past tap 0."""
    g = 1.0 - f
    f2 = f * f
    return (g * g * g / 6.0, (3.0 * f2 * f - 6.0 * f2 + 4.0) / 6.0,
            (-3.0 * f2 * f + 3.0 * f2 + 3.0 * f + 1.0) / 6.0, f2 * f / 6.0)


SPLINE_POLE = 3.0 ** 0.5 - 2.0   # the pole of the cubic B-spline's inverse filter


@njit(**_JIT)
def spline_prefilter(img):
    """(H, W, C) pixel values -> cubic B-spline coefficients, float32, for the image extended without end by
    its edge values: the inverse of sampling the spline at pixel centres (weights 1/6, 4/6, 1/6), down the
    columns and then along the rows, each as a causal and an anticausal first-order recursion (Unser's; its
    impulse response is sqrt(3) * pole^|k|). The ends start from the sums that a constant extension gives in
    closed form, so nothing is truncated."""
    h, w, nc = img.shape
    x = img.astype(np.float64).reshape(h, w * nc)
    _recurse_rows(x)                                          # down the columns: rows are the samples
    y = np.ascontiguousarray(x.reshape(h, w, nc).transpose(1, 0, 2)).reshape(w, h * nc)
    _recurse_rows(y)
    return np.ascontiguousarray(y.reshape(w, h, nc).transpose(1, 0, 2)).astype(np.float32)


@njit(**_JIT)
def _recurse_rows(x):
    """In place on (N, M): the spline prefilter along axis 0, for each of the M columns at once."""
    n, m = x.shape
    z = SPLINE_POLE
    cp = np.empty((n, m))
    for k in range(m):
        cp[0, k] = x[0, k] + z * x[0, k] / (1.0 - z)          # c+[-1] of a constant run of the first value
    for i in range(1, n):
        for k in range(m):
            cp[i, k] = x[i, k] + z * cp[i - 1, k]
    for k in range(m):
        b = x[n - 1, k] / (1.0 - z)                            # where c+ settles past the end
        x[n - 1, k] = 6.0 * (-z * b / (1.0 - z) - z * (cp[n - 1, k] - b) / (1.0 - z * z))
    for i in range(n - 2, -1, -1):
        for k in range(m):
            x[i, k] = z * (x[i + 1, k] - 6.0 * cp[i, k])
