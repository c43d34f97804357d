"""Stereo: each eye reprojected from one frame to its own pose, against the oracle's true view from that eye."""
import math

import numpy as np
import pytest

from worldloop.runtime.display import Display, read_framebuffer
from worldloop.runtime.stereo import StereoOptions, eye_poses, eye_viewports
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.poses import Pose, heading_vectors
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import biome_default
from worldloop.worldgen.procedural.world import World

CFG = ModelConfig(res=128)


def psnr(a, b):
    return 10 * math.log10(255.0 ** 2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-9))


def near_tree_pose(world: World, dist: float = 3.0) -> Pose:
    """A pose `dist` metres from a tree's trunk, facing it."""
    sp = world.spawn_pose()
    for r in (30, 60, 120):
        trees = [o for o in world.objects_near(sp.x, sp.z, r) if o.kind == "tree"]
        for t in trees:
            for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
                x, z = t.x + (dist + t.radius) * np.cos(a), t.z + (dist + t.radius) * np.sin(a)
                if world.is_free(x, z, 0.5):
                    yaw = math.atan2(-(t.x - x), -(t.z - z))      # forward is (-sin yaw, 0, -cos yaw)
                    return world.eye_pose(x, z, yaw, 0.0)
    raise AssertionError("no tree to stand near")


def test_eye_poses_and_viewports():
    head = Pose(1.0, 2.0, 3.0, 0.7, -0.1)
    left, right = eye_poses(head, 0.064)
    _, r = heading_vectors(head.yaw)
    d = np.array([right.x - left.x, right.y - left.y, right.z - left.z])
    assert np.allclose(d, 0.064 * r) and left.yaw == right.yaw == head.yaw and left.pitch == head.pitch
    lv, rv = eye_viewports(1280, 720)
    assert lv == (0, 40, 640, 640) and rv == (640, 40, 640, 640)
    with pytest.raises(ValueError, match="--ipd"):
        StereoOptions(ipd_m=0.3)
    with pytest.raises(ValueError, match="--snap-turn"):
        StereoOptions(snap_turn_deg=10)


def test_each_eye_matches_the_truth_from_that_eye(gl_ctx):
    spec = biome_default("forest", seed=4)
    r = GroundTruthRenderer(spec, ctx=gl_ctx)
    try:
        head = near_tree_pose(r.world, 1.5)
        frame = r.render(head, CFG.intrinsics)
        opts = StereoOptions(ipd_m=0.08)         # the widest allowed: at 1.5 m the disparity is about 5 pixels
        left_pose, right_pose = eye_poses(head, opts.ipd_m)
        truth = [r.render(p, CFG.intrinsics) for p in (left_pose, right_pose)]
        display = Display(gl_ctx, CFG, sharpen=0.0)
        size = (4 * CFG.res, 2 * CFG.res)
        screen = gl_ctx.framebuffer(color_attachments=[gl_ctx.texture(size, 3)])
        display.show(frame)
        display.draw(head, screen, size, None, opts, False)
        img = read_framebuffer(screen, size)
        eyes = []
        for vp in eye_viewports(*size):
            x, y, w, h = vp
            half = img[size[1] - y - h:size[1] - y, x:x + w].astype(np.float32)
            eyes.append(half.reshape(CFG.res, 2, CFG.res, 2, 3).mean((1, 3)).round().astype(np.uint8))
        near = frame.depth < 6
        assert near.mean() > 0.05                                 # the tree fills part of the view
        for eye, t, other in ((eyes[0], truth[0], truth[1]), (eyes[1], truth[1], truth[0])):
            got, swapped, centre = psnr(eye, t.rgb), psnr(eye, other.rgb), psnr(frame.rgb, t.rgb)
            assert got > 24 and got > centre + 0.5 and got > swapped + 0.5, (got, centre, swapped)
        # a near thing sits further right in the left eye's view (the truth's own depth says where it is)
        cols = [np.nonzero(t.depth < 2.2)[1].mean() for t in truth]     # the trunk (the ground starts at 2.4 m)
        assert cols[0] > cols[1] + 2
        # nothing black: disocclusions take the surface beside them
        assert min(e.max(axis=2).min() for e in eyes) > 0
    finally:
        r.release()


def test_the_lens_vignette_and_horizon_change_the_picture_where_they_should(gl_ctx):
    spec = biome_default("meadow", seed=2)
    r = GroundTruthRenderer(spec, ctx=gl_ctx)
    try:
        head = r.world.spawn_pose()
        display = Display(gl_ctx, CFG)
        display.show(r.render(head, CFG.intrinsics))
        size = (512, 256)
        screen = gl_ctx.framebuffer(color_attachments=[gl_ctx.texture(size, 3)])

        def shot(opts, moving=False):
            display.draw(head, screen, size, None, opts, moving)
            return read_framebuffer(screen, size).astype(np.float32)

        plain = shot(StereoOptions())
        lens = shot(StereoOptions(lens=True))
        vig = shot(StereoOptions(vignette=0.8), moving=True)
        still = shot(StereoOptions(vignette=0.8), moving=False)
        horizon = shot(StereoOptions(fixed_horizon=True))
        c = (slice(118, 138), slice(118, 138))                  # the left eye's centre
        corner = (slice(5, 25), slice(5, 25))
        assert np.abs(lens[c] - plain[c]).mean() < 3             # barrel: the centre stays,
        assert np.abs(lens[corner] - plain[corner]).mean() > 10   # the edges move (or go dark past the picture)
        assert np.array_equal(still, plain)                       # the vignette only while moving
        assert vig[corner].mean() < 0.5 * plain[corner].mean() and np.abs(vig[c] - plain[c]).mean() < 1
        changed_rows = np.nonzero(np.abs(horizon - plain).max(axis=(1, 2)) > 20)[0]
        assert 0 < len(changed_rows) <= 8                         # a thin level line
        up = Pose(head.x, head.y, head.z, head.yaw, 0.25)          # looking up: the horizon goes down the picture
        display.show(r.render(up, CFG.intrinsics))
        a = (display.draw(up, screen, size, None, StereoOptions(), False), read_framebuffer(screen, size))[1]
        b = (display.draw(up, screen, size, None, StereoOptions(fixed_horizon=True), False),
             read_framebuffer(screen, size))[1]
        rows = np.nonzero(np.abs(b.astype(float) - a).max(axis=(1, 2)) > 20)[0]
        sky = r.render(up, CFG.intrinsics).depth >= 999                 # the truth's own horizon, at the image's
        truth_row = np.nonzero(~sky[:, CFG.res // 2])[0].min() * size[1] / CFG.res    # centre column
        assert len(rows) and rows.mean() > size[1] / 2 and abs(rows.mean() - truth_row) < 20   # (hills rise a little)
    finally:
        r.release()


def test_snap_turning_jumps_the_view_and_the_generator_catches_up(gl_ctx):
    from worldloop.runtime.app import LoopCore
    from worldloop.runtime.bench import _StillWorker
    from worldloop.runtime.bindings import Bindings
    from worldloop.runtime.clock import FixedStep
    from worldloop.runtime.input import ActionMapper, InputState
    from worldloop.runtime.session import Session
    spec = biome_default("meadow", seed=2)
    session = Session("oracle", None, spec)
    worker = _StillWorker(session)
    cfg = session.config
    state = InputState()
    core = LoopCore(worker, Display(gl_ctx, cfg), ActionMapper(Bindings(), cfg.tick_hz, cfg.action_max), state,
                    FixedStep(cfg.tick_hz), stereo=StereoOptions(snap_turn_deg=30))
    yaw0, t = core.view().yaw, 0.0
    state.press("turn_left")               # 1.5 rad/s: 30 degrees in 0.35 s
    views = []
    for _ in range(30):                    # half a second of display frames
        t += 1 / 60
        core.update(1 / 60, t)
        views.append(core.view().yaw - yaw0)
    state.release("turn_left")
    steps = sorted({round(math.degrees(v), 6) for v in views})
    assert steps == [0.0, 30.0]             # the view shows whole steps only
    for _ in range(60):                    # the generator is sent the turn at the trained rate and catches up
        t += 1 / 60
        core.update(1 / 60, t)
    assert core.sent.yaw - yaw0 == pytest.approx(math.radians(30), abs=1e-9)
    assert core.view().yaw == pytest.approx(core.sent.yaw, abs=1e-9)
