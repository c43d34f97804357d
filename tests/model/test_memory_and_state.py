"""Spatial memory rules, state export and restore, the step's guards."""
import dataclasses
import math

import numpy as np
import pytest

from worldloop.worldgen.model.generator import NeuralGenerator
from worldloop.worldgen.model.geometry import Camera
from worldloop.worldgen.model.memory import SpatialMemory
from worldloop.worldgen.model.step import rgb_to_float, rgb_to_uint8
from worldloop.worldgen.poses import Action, Pose, action_between, apply_action

from helpers import SMALL, zero_net


def frame_at(renderer, pose):
    return renderer.render(pose, SMALL.intrinsics)


def test_memory_keeps_first_visits_and_evicts_the_oldest(village_renderer):
    mem = SpatialMemory(SMALL, Camera(SMALL.intrinsics))
    p = village_renderer.world.spawn_pose()
    f = frame_at(village_renderer, p)
    assert mem.insert_if_novel(f.rgb, f.depth, p)
    near = Pose(p.x + 0.5, p.y, p.z, p.yaw + 0.1, p.pitch)
    assert not mem.insert_if_novel(f.rgb, f.depth, near)          # a revisit does not replace the first visit
    turned = Pose(p.x, p.y, p.z, p.yaw + 2 * math.pi + 0.05, p.pitch)
    assert not mem.is_novel(turned)                               # a full turn later is the same view
    for k in range(1, SMALL.memory_size + 2):
        assert mem.insert_if_novel(f.rgb, f.depth, Pose(p.x + 3.0 * k, p.y, p.z, p.yaw, p.pitch))
    assert len(mem) == SMALL.memory_size
    assert mem.poses[0].x == pytest.approx(p.x + 6.0)             # the two oldest went first


def test_retrieval_ranks_the_matching_view_first(village_renderer):
    mem = SpatialMemory(SMALL, Camera(SMALL.intrinsics))
    p = village_renderer.world.spawn_pose()
    views = [Pose(p.x, p.y, p.z, p.yaw + k * 0.8, p.pitch) for k in range(6)]
    for v in views:
        f = frame_at(village_renderer, v)
        mem.insert_if_novel(f.rgb, f.depth, v)
    found = mem.retrieve(views[3])
    assert found[0][0] == 3 and found[0][1] > 0.99
    assert len(found) == SMALL.memory_topk and found[1][1] < found[0][1]


@pytest.mark.parametrize("haze, carry", [(False, "frame"), (True, "frame"), (False, "keyframe")])
def test_export_restore_continues_identically(village_renderer, haze, carry):
    rng = np.random.default_rng(0)
    net = lambda x, a: np.tanh(x[:, :4] * 0.05 + a[:, :4, None, None] * 0.01).astype(np.float32)  # noqa: E731
    gen = NeuralGenerator(dataclasses.replace(SMALL, haze=haze, carry=carry), net)
    p = village_renderer.world.spawn_pose()
    gen.start(frame_at(village_renderer, p))
    acts = [Action(*rng.uniform(-1, 1, 5) * np.array(SMALL.action_max)) for _ in range(40)]
    for a in acts[:20]:
        gen.step(a)
    arrays, meta = gen.export_state()
    arrays = {k: v.copy() for k, v in arrays.items()}
    first = [gen.step(a) for a in acts[20:]]
    gen.restore_state(arrays, meta)
    second = [gen.step(a) for a in acts[20:]]
    for a, b in zip(first, second):
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth) and a.pose == b.pose
    assert meta["tick"] == 20 and gen.state.tick == 40
    assert (meta["haze"] is not None) == haze
    if haze:
        meta = {**meta, "haze": {"colour": [0.5, 0.5], "k": 0.006}}
        with pytest.raises(ValueError, match="field haze"):
            gen.restore_state(arrays, meta)


def test_actions_are_clamped_to_the_trained_range(village_renderer):
    gen = NeuralGenerator(SMALL, zero_net)
    p = village_renderer.world.spawn_pose()
    gen.start(frame_at(village_renderer, p))
    f = gen.step(Action(forward=5.0, yaw=-3.0))
    assert math.hypot(f.pose.x - p.x, f.pose.z - p.z) == pytest.approx(SMALL.action_max[0])
    assert f.pose.yaw - p.yaw == pytest.approx(-SMALL.action_max[3])


def test_nan_from_the_network_is_caught(village_renderer):
    gen = NeuralGenerator(SMALL, lambda x, a: np.full((1, 4, 64, 64), np.nan, np.float32))
    gen.start(frame_at(village_renderer, village_renderer.world.spawn_pose()))
    with pytest.raises(FloatingPointError):
        gen.step(Action(forward=0.1))


def test_uint8_float_round_trip_is_exact():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
    assert np.array_equal(rgb_to_uint8(rgb_to_float(x)), x)


def test_a_full_turn_comes_back_to_what_was_seen(village_renderer):
    """With memory, a 360-degree turn returns to the first view even when the net invents nothing."""
    import dataclasses
    gen = NeuralGenerator(dataclasses.replace(SMALL, memory_size=64), zero_net)   # room for the whole turn
    p = village_renderer.world.spawn_pose()
    start = frame_at(village_renderer, p)
    gen.start(start)
    step = 2 * math.pi / 126
    for _ in range(126):
        f = gen.step(Action(yaw=step))
    assert abs(math.remainder(f.pose.yaw - p.yaw, 2 * math.pi)) < 1e-9
    from worldloop.worldgen.model.metrics import psnr
    assert psnr(f.rgb, start.rgb) > 40


def test_settled_pixels_keep_the_geometry_colour_the_rest_take_the_correction(village_renderer):
    from worldloop.worldgen.model.geometry import near_silhouettes
    from worldloop.worldgen.model.step import decode, decode_depth, prepare
    gen = NeuralGenerator(SMALL, zero_net, invent=False)
    gen.start(frame_at(village_renderer, village_renderer.world.spawn_pose()))
    prep = prepare(gen.state, Action(yaw=0.12))           # a turn: a strip at one edge is new
    assert not (prep.settled & ~prep.known).any()          # only what the warp or memory saw can be settled
    assert (~prep.known).any() and prep.settled.mean() > 0.5
    outline = near_silhouettes(decode_depth(prep.base_denc, SMALL.far_m))
    assert not (prep.settled & outline).any()              # outlines of near things are never settled
    out = np.zeros((4, 64, 64), np.float32)
    out[:3], out[3] = 0.2, 0.05
    rgb, depth = decode(SMALL, prep, out)
    plain_rgb, plain_depth = decode(SMALL, prep, np.zeros_like(out))
    s = prep.settled
    assert np.array_equal(rgb[s], plain_rgb[s])                       # settled: the geometry's colour, exactly
    assert (rgb[~s].astype(int) - plain_rgb[~s]).mean() > 40          # the rest: the correction (0.2 of 255)
    near = plain_depth < 0.9 * SMALL.far_m                             # (the sky stays at the far limit)
    assert near.any() and (depth[near] > plain_depth[near]).all()      # depth: corrected everywhere
    everywhere, _ = decode(SMALL, prep, out, settle=False)            # as training rollouts decode
    room = plain_rgb < 200                                            # (not clipped at 255)
    assert ((everywhere.astype(int) - plain_rgb)[room] >= 50).all()


def test_a_step_settles_unless_told_not_to_as_training_rollouts_are(village_renderer):
    from types import SimpleNamespace

    from worldloop.worldgen.model.train import TrainConfig, rollout_start
    start = frame_at(village_renderer, village_renderer.world.spawn_pose())
    bank = SimpleNamespace(rgb=np.stack([start.rgb] * 3), depth=np.stack([start.depth] * 3),
                           ep_start=np.zeros(3, int), pose_at=lambda i: start.pose)
    assert not rollout_start(bank, TrainConfig(model=SMALL), Camera(SMALL.intrinsics), 2).settle

    def shift(x, a):                                       # a net that brightens every pixel by 0.2
        out = np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)
        out[:, :3] = 0.2
        return out
    frames = {}
    for settle in (True, False):
        gen = NeuralGenerator(SMALL, shift, invent=False, settle=settle)
        gen.start(start)
        frames[settle] = gen.step(Action(forward=0.1)).rgb.astype(int)
    plain = NeuralGenerator(SMALL, zero_net, invent=False)
    plain.start(start)
    base = plain.step(Action(forward=0.1)).rgb.astype(int)
    room = base < 200
    assert ((frames[False] - base)[room] >= 50).all()      # every pixel corrected
    assert np.mean(frames[True] == base) > 0.5             # most pixels keep the warp's colour


def test_a_state_beyond_the_memory_cap_or_with_nan_is_refused(village_renderer):
    gen = NeuralGenerator(SMALL, zero_net)
    p = village_renderer.world.spawn_pose()
    gen.start(frame_at(village_renderer, p))
    arrays, meta = gen.export_state()
    n, r = SMALL.memory_size + 1, SMALL.res
    big = dict(arrays, memory_rgb=np.zeros((n, r, r, 3), np.uint8), memory_depth=np.ones((n, r, r), np.float32),
               memory_pose=np.zeros((n, 5)), memory_tick=np.zeros(n, np.int64))
    with pytest.raises(ValueError, match="more than the model keeps"):
        gen.restore_state(big, meta)
    bad = dict(arrays, prev_depth=np.full((r, r), np.nan, np.float32))
    with pytest.raises(ValueError, match="field prev_depth"):
        gen.restore_state(bad, meta)
    gen.restore_state(arrays, meta)                    # the sound state still goes in


def test_keyframe_carry_draws_from_the_latest_keyframe_and_resamples_less(gl_ctx):
    """carry = "keyframe": each tick's base is the latest keyframe sampled back, not the previous frame's warp,
    so on a walk straight on a place is resampled once a keyframe (1.5 m), not once a tick. With no network
    and the true start frame, 200 ticks (26 m) in a meadow stay nearer the truth than the frame-to-frame
    chain."""
    from worldloop.worldgen.procedural.render import GroundTruthRenderer
    from worldloop.worldgen.procedural.spec import biome_default
    r = GroundTruthRenderer(biome_default("meadow", seed=3), ctx=gl_ctx)
    cfg0 = dataclasses.replace(SMALL, res=96, memory_size=64, refine_depth=True, exemplar_fill=False)
    poses = [r.world.spawn_pose()]
    for _ in range(200):
        p = apply_action(poses[-1], Action(forward=0.13))
        poses.append(Pose(p.x, float(r.world.height(p.x, p.z)) + 1.7, p.z, p.yaw, p.pitch))
    truth = [r.render(p, cfg0.intrinsics) for p in poses]
    r.release()
    err = {}
    for carry in ("frame", "keyframe"):
        gen = NeuralGenerator(dataclasses.replace(cfg0, carry=carry), zero_net)
        gen.start(truth[0])
        for t in range(1, len(poses)):
            latest = max(gen.state.memory.ticks)
            f = gen.step(action_between(poses[t - 1], poses[t]))
            if carry == "keyframe":                     # the base came from the newest keyframe
                assert gen.state.last_retrieved[0] == latest
        err[carry] = float(np.abs(rgb_to_float(f.rgb) - rgb_to_float(truth[-1].rgb)).mean())
    assert err["keyframe"] < 0.8 * err["frame"], err
