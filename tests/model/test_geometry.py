"""Warping and ray maps against exact ground truth."""
import numpy as np
import pytest

from worldloop.worldgen.model.geometry import EDGE_WINDOW, Camera, fill_cracks, fill_holes, plucker_map, splat, warp
from worldloop.worldgen.model.metrics import psnr, sharpness
from worldloop.worldgen.model.step import rgb_to_float, rgb_to_uint8
from worldloop.worldgen.poses import Action, Intrinsics, apply_action

INTR = Intrinsics(128, 128)


def test_identity_warp_is_exact(village_renderer):
    cam = Camera(INTR)
    p = village_renderer.world.spawn_pose()
    f = village_renderer.render(p, INTR)
    wp = warp(cam, rgb_to_float(f.rgb), f.depth, p, p)
    assert wp.valid.all()
    assert np.array_equal(rgb_to_uint8(wp.rgb), f.rgb)
    np.testing.assert_allclose(wp.depth, f.depth, rtol=1e-5)


@pytest.mark.parametrize("act", [Action(forward=0.13), Action(yaw=0.05), Action(right=0.1, pitch=0.03),
                                 Action(forward=0.1, yaw=-0.05)])
def test_warp_predicts_the_next_ground_truth_frame(village_renderer, act):
    cam = Camera(INTR)
    p0 = village_renderer.world.spawn_pose()
    p1 = apply_action(p0, act)
    f0, f1 = village_renderer.render(p0, INTR), village_renderer.render(p1, INTR)
    wp = warp(cam, rgb_to_float(f0.rgb), f0.depth, p0, p1)
    assert wp.valid.mean() > 0.9
    warped = rgb_to_uint8(wp.rgb)
    assert psnr(warped, f1.rgb, wp.valid) > 30                    # geometry is right where the warp is valid
    copy = psnr(f0.rgb, f1.rgb, wp.valid)
    assert psnr(warped, f1.rgb, wp.valid) > (copy + 3 if copy < 35 else copy)    # and beats copying
    ok = wp.valid & (f1.depth < 900)
    assert np.median(np.abs(wp.depth[ok] - f1.depth[ok]) / f1.depth[ok]) < 0.01


def test_nearest_point_wins_the_z_buffer():
    cam = Camera(Intrinsics(16, 16))
    from worldloop.worldgen.poses import Pose
    p = Pose(0, 0, 0, 0, 0)
    near = (np.full((16, 16, 3), 1.0, np.float32), np.full((16, 16), 2.0, np.float32), p)
    far = (np.zeros((16, 16, 3), np.float32), np.full((16, 16), 9.0, np.float32), p)
    for order in ([near, far], [far, near]):
        wp = splat(cam, order, p)
        assert (wp.rgb == 1.0).all() and np.allclose(wp.depth, 2.0)


def test_fill_cracks_fills_single_pixel_gaps_only():
    from worldloop.worldgen.model.geometry import Warped
    valid = np.ones((8, 8), bool)
    valid[3, 4] = False            # a crack
    valid[:, 0:2] = False          # a two-pixel-wide hole on the edge stays
    rgb = np.ones((8, 8, 3), np.float32)
    out = fill_cracks(Warped(rgb * valid[..., None], np.where(valid, 5.0, 0).astype(np.float32), valid))
    assert out.valid[3, 4] and out.depth[3, 4] == 5.0 and out.rgb[3, 4, 0] == 1.0
    assert not out.valid[:, 0].any()


def test_fill_holes_carries_the_background_on_and_leaves_known_pixels_alone():
    h, w = 8, 64
    depth = np.full((h, w), 100.0, np.float32)
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[..., 2] = np.linspace(0.2, 0.8, h)[:, None]          # "sky": a colour per row ...
    rgb[..., 0] = np.linspace(0.0, 0.5, w)[None, :]           # ... changing along it, so the column matters
    depth[:, 36:] = np.linspace(100.0, 90.0, w - 36)[None, :]  # farthest at column 36 on the right
    depth[:, 4:12], rgb[:, 4:12] = 3.0, (0.1, 0.5, 0.1)        # a near "tree" at the frame's left edge
    depth[:, 30:33], rgb[:, 30:33] = 2.0, (0.9, 0.0, 0.0)      # a near post with a hole beside it
    depth[:, 58:], rgb[:, 58:] = 4.0, (0.3, 0.3, 0.3)          # a near wall at the right edge
    valid = np.ones((h, w), bool)
    valid[1:6, :4] = False                                    # the strip a turn reveals, at the left edge
    valid[1:6, 33:35] = False                                 # a disocclusion between the post and the sky
    valid[1:6, 61:] = False                                   # and a strip at the right edge
    valid[0] = False                                          # a row with nothing in it; rows 6, 7 whole
    out_rgb, out_depth = fill_holes(rgb, depth, valid)
    assert np.array_equal(out_rgb[valid], rgb[valid]) and np.array_equal(out_depth[valid], depth[valid])
    rows = slice(1, 6)
    # the left strip takes the farthest pixel beyond the tree (column 12), not the tree
    assert 12 - 4 < EDGE_WINDOW
    np.testing.assert_array_equal(out_rgb[rows, :4], rgb[rows, 12:13].repeat(4, 1))
    assert (out_depth[rows, :4] == 100.0).all()
    # the right strip looks left past the wall to the farthest column within reach (61 - EDGE_WINDOW = 29 .. 60)
    far = 36
    np.testing.assert_array_equal(out_rgb[rows, 61:], rgb[rows, far:far + 1].repeat(3, 1))
    # the disocclusion takes the farther side (column 35), not the post
    np.testing.assert_array_equal(out_rgb[rows, 33:35], rgb[rows, 35:36].repeat(2, 1))
    # the empty row copies its nearest row, colour and depth
    np.testing.assert_array_equal(out_rgb[0], out_rgb[1])
    np.testing.assert_array_equal(out_depth[0], out_depth[1])
    # with no empty row only the rows with a hole are worked on; the result is the same
    whole_first = valid.copy()
    whole_first[0] = True
    rgb2, depth2 = fill_holes(rgb, depth, whole_first)
    np.testing.assert_array_equal(rgb2[1:], out_rgb[1:])
    np.testing.assert_array_equal(depth2[1:], out_depth[1:])
    np.testing.assert_array_equal(rgb2[0], rgb[0])
    # nothing to fill, or nothing to fill from: unchanged
    assert fill_holes(rgb, depth, np.ones((h, w), bool))[0] is rgb
    assert fill_holes(rgb, depth, np.zeros((h, w), bool))[0] is rgb


def test_plucker_map_of_a_pure_turn_has_no_moment(village_renderer):
    cam = Camera(Intrinsics(32, 32))
    p0 = village_renderer.world.spawn_pose()
    pl = plucker_map(cam, p0, apply_action(p0, Action(yaw=0.3)))
    assert np.abs(pl[..., 3:]).max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(pl[..., :3], axis=-1), 1.0, atol=1e-5)
    moving = plucker_map(cam, p0, apply_action(p0, Action(forward=0.1)))
    assert np.abs(moving[..., 3:]).max() > 0.01


def test_bicubic_is_exact_at_centres_keeps_ramps_and_stays_in_range():
    from worldloop.worldgen.model.geometry import bicubic
    rng = np.random.default_rng(0)
    img = rng.random((6, 7, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:6, 0:7]
    np.testing.assert_allclose(bicubic(img, xs.ravel() + 0.5, ys.ravel() + 0.5), img.reshape(-1, 3), atol=1e-5)
    ramp = np.broadcast_to((np.arange(32, dtype=np.float32) / 100)[None, :, None], (6, 32, 3)).copy()
    u = np.array([12.3 + 0.5, 17.75 + 0.5])     # inside, away from the clamped edges
    np.testing.assert_allclose(bicubic(ramp, u, np.array([3.0, 3.0]))[:, 0], [0.123, 0.1775], atol=1e-5)
    step = np.zeros((6, 7, 3), np.float32)
    step[:, 4:] = 1.0                              # an interpolating cubic overshoots a step; the result is clipped
    out = bicubic(step, np.linspace(0.5, 6.5, 25), np.full(25, 3.0))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_resampling_there_and_back_keeps_fine_detail():
    """Half a pixel right, half a pixel back, ten times, as a warp chain does: the spline keeps the detail that
    linear interpolation smears (what a chain of warps loses every tick, docs/model.md)."""
    from worldloop.worldgen.model.geometry import bicubic
    ys, xs = np.mgrid[0:24, 0:24].astype(np.float64)
    detail = 0.5 + 0.2 * np.sin(2 * np.pi * xs / 4.0) + 0.2 * np.cos(2 * np.pi * (xs + ys) / 6.0)   # a few pixels
    img = np.repeat(detail[..., None], 3, -1).astype(np.float32)
    u, v = xs.ravel() + 0.5, ys.ravel() + 0.5

    def linear(im, uu, vv):
        x = np.clip(uu - 0.5, 0, 23)
        x0 = np.minimum(np.floor(x).astype(int), 22)
        f = (x - x0)[:, None]
        row = np.clip(np.floor(vv - 0.5).astype(int), 0, 23)
        return im[row, x0] * (1 - f) + im[row, x0 + 1] * f

    out = {}
    for name, sample in (("spline", bicubic), ("linear", linear)):
        cur = img
        for _ in range(10):
            cur = sample(cur, u + 0.5, v).reshape(24, 24, 3)
            cur = sample(cur, u - 0.5, v).reshape(24, 24, 3)
        out[name] = np.abs(cur - img)[2:-2, 2:-2].mean()    # away from the clamped edges
    assert out["spline"] < 0.5 * out["linear"]
    assert out["spline"] < 0.1


def test_a_chain_of_warps_drifts_less_than_a_chain_of_nearest_splats(village_renderer):
    """Twelve small turns and steps, each warping the previous warp with true depth: sampling colour back at
    the exact sub-pixel spot must stay closer to ground truth than re-splatting to the nearest pixel, and not
    blur the way a chain of linear interpolations does."""
    cam = Camera(INTR)
    poses = [village_renderer.world.spawn_pose()]
    for k in range(12):
        poses.append(apply_action(poses[-1], Action(forward=0.08, yaw=0.021 * (-1) ** (k // 4), pitch=0.004)))
    gt = [village_renderer.render(p, INTR) for p in poses]
    chains = {}
    for name in ("warp", "splat"):
        rgb = rgb_to_float(gt[0].rgb)
        for t in range(1, len(poses)):
            if name == "warp":
                wp = warp(cam, rgb, gt[t - 1].depth, poses[t - 1], poses[t])
            else:
                wp = fill_cracks(splat(cam, [(rgb, gt[t - 1].depth, poses[t - 1])], poses[t]))
            rgb = np.where(wp.valid[..., None], wp.rgb, rgb)
        chains[name] = psnr(rgb_to_uint8(rgb), gt[-1].rgb)
        if name == "warp":
            sharp = sharpness(rgb_to_uint8(rgb)) / sharpness(gt[-1].rgb)
    assert chains["warp"] > chains["splat"] + 1.0, chains
    assert sharp > 0.65       # a chain of linear interpolations keeps about 0.53 here, nearest splats 0.92


@pytest.mark.parametrize("pitch", [0.0, 0.3, -0.2])
def test_a_sky_hole_takes_the_colour_of_its_elevation(pitch):
    """A sky whose colour depends on elevation only (as a rendered sky does): a strip revealed at the edge is
    filled at the right elevation, where copying along the row is off by the perspective."""
    from worldloop.worldgen.model.geometry import SKY_DEPTH_M
    cam = Camera(INTR)
    elev = cam.elevation(pitch)
    shade = np.clip(0.5 + 0.8 * elev, 0, 1)
    rgb = np.stack([shade * 0.4, shade * 0.6, 0.4 + 0.5 * shade], -1).astype(np.float32)
    depth = np.full((128, 128), SKY_DEPTH_M, np.float32)
    below = elev < 0
    depth[below] = 20.0                                       # ground below the horizon, another colour
    rgb[below] = (0.2, 0.5, 0.1)
    valid = np.ones((128, 128), bool)
    valid[:, 100:] = False                                    # a turn to the right reveals 28 columns
    valid[40:44, 60:64] = False                               # and a disocclusion in the sky
    by_row, _ = fill_holes(rgb, depth, valid)
    by_elev, d = fill_holes(rgb, depth, valid, elev)
    assert np.array_equal(by_elev[valid], rgb[valid])
    sky_hole = ~valid & (d >= SKY_DEPTH_M)
    err_row = np.abs(by_row - rgb)[sky_hole].max()
    err_elev = np.abs(by_elev - rgb)[sky_hole].max()
    assert err_elev < 0.01 < err_row
    ground_hole = ~valid & (d < SKY_DEPTH_M)
    np.testing.assert_array_equal(by_elev[ground_hole], by_row[ground_hole])   # only the sky changes


def test_elevation_is_zero_on_the_horizon_and_grows_upwards():
    cam = Camera(INTR)
    e = cam.elevation(0.0)
    assert np.abs(e[63:65, :]).max() < 0.02                   # the middle rows look along the horizon
    assert (np.diff(e, axis=0) < 0).all()                     # up the image is up in the world
    assert cam.elevation(0.3)[64, 64] == pytest.approx(np.tan(0.3), abs=0.01)


def test_silhouettes_of_near_things_are_marked_far_ones_not():
    from worldloop.worldgen.model.geometry import near_silhouettes
    d = np.full((16, 16), 300.0, np.float32)       # far ground
    d[:, :4] = 1000.0                              # sky on the left: a far outline at column 4
    d[4:8, 8:10] = 5.0                             # a near post
    d[10:12, 12:14] = 200.0                        # a far post: 1.5x nearer than the ground, but far
    m = near_silhouettes(d)
    assert m[3:9, 7:11].all() and m.sum() == 6 * 4  # the post and the pixels beside it, nothing else


def test_the_warp_says_which_pixels_it_sampled_back(village_renderer):
    cam = Camera(INTR)
    p = village_renderer.world.spawn_pose()
    f = village_renderer.render(p, INTR)
    same = warp(cam, rgb_to_float(f.rgb), f.depth, p, p)
    assert same.sampled.all()                      # standing still, every surface is where it was
    q = apply_action(p, Action(forward=0.3, right=0.2))
    moved = warp(cam, rgb_to_float(f.rgb), f.depth, p, q)
    assert moved.sampled.mean() > 0.8
    assert (moved.valid & ~moved.sampled).any()    # a sidestep uncovers surfaces the source saw only from aside


def test_the_smooth_ground_is_no_outline(gl_ctx, flat_village):
    from worldloop.worldgen.model.geometry import near_silhouettes
    from worldloop.worldgen.procedural.render import GroundTruthRenderer
    r = GroundTruthRenderer(flat_village, ctx=gl_ctx)
    p = r.world.spawn_pose()
    for res in (64, 128, 256):
        d = r.render(p, Intrinsics(res, res)).depth
        on_ground = np.abs(Camera(Intrinsics(res, res)).points_world(d, p)[:, 1]).reshape(res, res) < 0.05
        padded = np.pad(on_ground, 1)
        inner = np.all([padded[1 + dy:1 + dy + res, 1 + dx:1 + dx + res] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0)
        assert inner.mean() > 0.3
        assert not (near_silhouettes(d) & inner).any()   # the ground's depth changes fast near the camera, smoothly


def test_refined_depth_does_not_shrink_along_a_walk(gl_ctx):
    """A chain of warps walking straight on, true depth only at the start: the splat's nearest-point depth
    shrinks the ground's a little every tick (the generated world's depth halved on a 100 m trek), the
    refined depth stays on the true surface."""
    from worldloop.worldgen.procedural.render import GroundTruthRenderer
    from worldloop.worldgen.procedural.spec import biome_default
    r = GroundTruthRenderer(biome_default("meadow", seed=3), ctx=gl_ctx)
    cam = Camera(INTR)
    poses = [r.world.spawn_pose()]
    for _ in range(40):
        p = apply_action(poses[-1], Action(forward=0.13))
        poses.append(type(p)(p.x, float(r.world.height(p.x, p.z)) + 1.7, p.z, p.yaw, p.pitch))
    gt = [r.render(p, INTR) for p in poses]
    r.release()
    ratio = {}
    for refine in (False, True):
        rgb, depth = rgb_to_float(gt[0].rgb), gt[0].depth
        for t in range(1, len(poses)):
            wp = warp(cam, rgb, depth, poses[t - 1], poses[t], refine=refine)
            rgb = np.where(wp.valid[..., None], wp.rgb, rgb_to_float(gt[t].rgb))    # holes from the truth
            depth = np.where(wp.valid, wp.depth, gt[t].depth)
        ground = gt[-1].depth < 200
        ratio[refine] = float(np.median(depth[ground] / gt[-1].depth[ground]))
    assert abs(ratio[True] - 1) < 0.02, ratio
    assert abs(ratio[False] - 1) > 2 * abs(ratio[True] - 1), ratio
