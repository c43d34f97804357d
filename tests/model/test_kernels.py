"""The compiled warp loops (kernels.py) against plain whole-array numpy versions of the same rules: the code
they replaced, kept here as the reference."""
import numpy as np

from worldloop.worldgen.model import geometry, kernels
from worldloop.worldgen.model.step import rgb_to_float
from worldloop.worldgen.poses import Action, Intrinsics, apply_action

INTR = Intrinsics(128, 128)


def _ref_splat(cam, rgb, depth, src, dst):
    """The z-buffer as numpy passes: every point's pixel, the minimum depth there, the last of the nearest."""
    h, w = cam.intr.height, cam.intr.width
    m, t = geometry.relative(src, dst)
    c = (cam.rays32 * depth.reshape(-1, 1).astype(np.float32)) @ m + t
    z = -c[:, 2]
    inv = 1.0 / np.maximum(z, 1e-6)
    u, v = cam.intr.fx * c[:, 0] * inv + cam.intr.cx, cam.intr.cy - cam.intr.fy * c[:, 1] * inv
    with np.errstate(invalid="ignore"):
        ui, vi = np.floor(u).astype(np.int32), np.floor(v).astype(np.int32)
    keep = np.flatnonzero((z > 0.05) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h))
    idx = vi[keep] * w + ui[keep]
    zbuf = np.full(h * w, np.inf, np.float32)
    np.minimum.at(zbuf, idx, z[keep])
    win = z[keep] <= zbuf[idx]
    out = np.zeros((h * w, 3), np.float32)
    out[idx[win]] = rgb.reshape(-1, 3)[keep[win]]
    return out.reshape(h, w, 3), zbuf.reshape(h, w)


def _ref_prefilter(img):
    """The spline prefilter as a truncated filter (21 taps) on the image extended by its edges."""
    taps = np.sqrt(3.0) * kernels.SPLINE_POLE ** np.abs(np.arange(-10, 11))
    x = img.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (10, 10)
        ext = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        x = sum(c * np.take(ext, np.arange(k, k + n), axis=axis) for k, c in enumerate(taps))
    return x


def _ref_bicubic(img, u, v):
    """The spline at (u, v): 16 taps of the prefiltered image (2 pixels of edge around), weights per axis."""
    h, w = img.shape[:2]
    coef = _ref_prefilter(np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="edge"))
    x, y = np.clip(u - 0.5, 0, w - 1.0), np.clip(v - 0.5, 0, h - 1.0)
    x0, y0 = x.astype(int), y.astype(int)

    def weights(f):
        return np.stack([(1 - f) ** 3, 3 * f ** 3 - 6 * f ** 2 + 4, -3 * f ** 3 + 3 * f ** 2 + 3 * f + 1, f ** 3]) / 6
    wx, wy = weights(x - x0), weights(y - y0)
    out = sum(wy[r][:, None] * wx[k][:, None] * coef[y0 + 1 + r, x0 + 1 + k] for r in range(4) for k in range(4))
    return np.clip(out, img.min(), img.max())


def test_the_spline_sample_matches_the_reference():
    rng = np.random.default_rng(5)
    img = rng.random((24, 31, 3)).astype(np.float32)
    u, v = rng.uniform(-2, 33, 500), rng.uniform(-2, 26, 500)     # edges and beyond them included
    np.testing.assert_allclose(geometry.bicubic(img, u, v), _ref_bicubic(img, u, v), atol=2e-5)


def _frames(village_renderer):
    p0 = village_renderer.world.spawn_pose()
    f0 = village_renderer.render(p0, INTR)
    for act in (Action(forward=0.4, yaw=0.1), Action(yaw=-0.3), Action(forward=1.5, right=0.3, pitch=0.05)):
        yield rgb_to_float(f0.rgb), f0.depth, p0, apply_action(p0, act)


def test_the_splat_matches_the_whole_array_z_buffer(village_renderer):
    cam = geometry.Camera(INTR)
    for rgb, depth, p0, p1 in _frames(village_renderer):
        ref_rgb, ref_z = _ref_splat(cam, rgb, depth, p0, p1)
        wp = geometry.splat(cam, [(rgb, depth, p0)], p1)
        ref_valid = np.isfinite(ref_z)
        assert 0.5 < wp.valid.mean() < 1.0                        # a real warp: something landed, something not
        assert (wp.valid != ref_valid).mean() < 1e-3              # a point on a pixel's edge may round either way
        both = wp.valid & ref_valid
        np.testing.assert_allclose(wp.depth[both], ref_z[both], rtol=1e-4)
        assert (np.abs(wp.rgb[both] - ref_rgb[both]).max(axis=1) > 1e-6).mean() < 1e-3


def test_the_splat_drops_non_finite_and_behind_the_camera_points():
    cam = geometry.Camera(Intrinsics(8, 8))
    from worldloop.worldgen.poses import Pose
    p = Pose(0, 0, 0, 0, 0)
    depth = np.full((8, 8), 3.0, np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3] = np.nan, np.inf, -2.0, 0.01
    wp = geometry.splat(cam, [(np.ones((8, 8, 3), np.float32), depth, p)], p)
    assert not wp.valid[0, :4].any() and wp.valid[0, 4:].all() and wp.valid[1:].all()


def test_of_equally_near_points_the_later_wins():
    cam = geometry.Camera(Intrinsics(8, 8))
    from worldloop.worldgen.poses import Pose
    p = Pose(0, 0, 0, 0, 0)
    depth = np.full((8, 8), 4.0, np.float32)
    first, second = (np.full((8, 8, 3), c, np.float32) for c in (0.2, 0.8))
    wp = geometry.splat(cam, [(first, depth, p), (second, depth, p)], p)
    assert wp.valid.all() and np.allclose(wp.rgb, 0.8)
    with np.testing.assert_raises(ValueError):
        geometry.bicubic(first, np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_crack_filling_matches_the_rule_at_every_pixel():
    rng = np.random.default_rng(3)
    valid = rng.random((40, 50)) < 0.8
    depth = (rng.random((40, 50)) * 50 + 1).astype(np.float32) * valid
    rgb = rng.random((40, 50, 3)).astype(np.float32) * valid[..., None]
    out = geometry.fill_cracks(geometry.Warped(rgb, depth, valid))
    r, d, v = rgb.copy(), depth.copy(), valid.copy()                 # the rule, pass by pass, all at once
    for tr in (lambda a: a, lambda a: a.swapaxes(0, 1)):
        rr, dd, vv = tr(r), tr(d), tr(v)
        ys, xs = np.nonzero(~vv[:, 1:-1] & vv[:, :-2] & vv[:, 2:])
        xs = xs + 1
        src = np.where(dd[ys, xs - 1] <= dd[ys, xs + 1], xs - 1, xs + 1)
        rr[ys, xs], dd[ys, xs], vv[ys, xs] = rr[ys, src], dd[ys, src], True
    assert out.valid.sum() > valid.sum()
    assert np.array_equal(out.valid, v) and np.array_equal(out.depth, d) and np.array_equal(out.rgb, r)


def test_the_recursive_prefilter_is_the_spline_inverse_filter():
    rng = np.random.default_rng(4)
    for shape in ((36, 20, 3), (5, 3, 2), (1, 7, 1)):
        img = (rng.random(shape) * 2).astype(np.float32)
        np.testing.assert_allclose(kernels.spline_prefilter(img), _ref_prefilter(img), atol=2e-5)
    img = rng.random((30, 30, 1)).astype(np.float32)
    coef = kernels.spline_prefilter(img)[..., 0].astype(np.float64)
    # sampling the spline at the pixel centres gives the pixels back: weights 1/6, 4/6, 1/6 (edges extended)
    p = np.pad(coef, 1, mode="edge")
    for axis in (0, 1):
        p = (np.roll(p, 1, axis) + 4 * p + np.roll(p, -1, axis)) / 6
    np.testing.assert_allclose(p[2:-2, 2:-2], img[1:-1, 1:-1, 0], atol=1e-4)


def test_the_warp_samples_back_where_the_reference_does(village_renderer):
    cam = geometry.Camera(INTR)
    for rgb, depth, p0, p1 in _frames(village_renderer):
        wp = geometry.warp(cam, rgb, depth, p0, p1)
        m, t = geometry.relative(p0, p1)
        c = cam.rays32 * wp.depth.reshape(-1, 1) - t
        c = c @ m.T
        z = -c[:, 2]
        u = cam.intr.fx * c[:, 0] / np.maximum(z, 1e-6) + cam.intr.cx
        v = cam.intr.cy - cam.intr.fy * c[:, 1] / np.maximum(z, 1e-6)
        inside = wp.valid.reshape(-1) & (u >= 0) & (u < 128) & (v >= 0) & (v < 128)
        ui, vi = np.minimum(u.astype(int), 127), np.minimum(v.astype(int), 127)
        seen = np.flatnonzero(inside)
        seen = seen[np.abs(depth[vi[seen], ui[seen]] - z[seen]) < geometry.OCCLUSION_REL * z[seen]
                    + geometry.OCCLUSION_ABS_M]
        ref = np.zeros(128 * 128, bool)
        ref[seen] = True
        assert 0.3 < ref.mean() and (ref != wp.sampled.reshape(-1)).mean() < 1e-3
        s = wp.sampled.reshape(-1) & ref
        np.testing.assert_allclose(wp.rgb.reshape(-1, 3)[s], _ref_bicubic(rgb, u[s], v[s]), atol=2e-5)
