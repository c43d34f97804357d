"""The far-detail fill of new edge strips (worldgen/model/invent.py)."""

import numpy as np
import pytest

from worldloop.worldgen.model.generator import NeuralGenerator
from worldloop.worldgen.model.geometry import SKY_DEPTH_M, Camera, object_mask
from worldloop.worldgen.model.invent import INVENT_NEAR_M, Exemplar
from worldloop.worldgen.poses import Action, Pose

from helpers import SMALL, zero_net

N = SMALL.res


def ground_and_sky(horizon: int = 30) -> np.ndarray:
    """Planar depth of a flat world seen level: sky above `horizon`, ground nearer row by row below it."""
    depth = np.full((N, N), SKY_DEPTH_M, np.float32)
    rows = np.arange(horizon, N)
    depth[horizon:] = (1.7 * N / (rows - horizon + 0.5))[:, None]
    return depth


def test_object_mask_marks_upright_things_not_ground_or_sky():
    depth = ground_and_sky()
    depth[20:32, 10:14] = 80.0                     # a far house standing on the horizon
    depth[40:50, 40:42] = 6.0                      # a near post
    mask = object_mask(depth)
    assert mask[20:32, 10:14].all() and mask[41:50, 40:42].all()
    assert not mask[:20].any()                     # sky
    assert not mask[33:39, 20:30].any()            # ground at middle distance


def test_a_new_strip_gets_far_objects_at_their_elevation_and_nothing_else():
    cam = Camera(SMALL.intrinsics)
    ex_rgb = np.full((N, N, 3), 100, np.uint8)
    ex_depth = ground_and_sky()
    ex_depth[22:30, 5:8] = 120.0                   # a far object in the exemplar's columns 5..7
    ex_rgb[22:30, 5:8] = (200, 10, 10)
    ex_depth[25:30, 1:3] = 10.0                    # a near one: never copied
    ex_rgb[25:30, 1:3] = (10, 200, 10)
    ex = Exemplar(ex_rgb, ex_depth, 0.0, cam)
    ex.cursor["right"] = 0

    rgb = np.zeros((N, N, 3), np.uint8)
    depth = ground_and_sky()
    known = np.ones((N, N), bool)
    known[:, N - 8:] = False                       # a turn to the right revealed 8 columns
    before_rgb, before_depth = rgb.copy(), depth.copy()
    written = ex.fill(rgb, depth, known, cam.elevation(0.0), np.random.default_rng(0))

    changed = np.any(rgb != before_rgb, axis=-1)
    assert written == changed.sum() >= 8 * 3
    assert (rgb[changed] == (200, 10, 10)).all()   # the far object only: not the far ground below the horizon
    assert not changed[:, :N - 8].any()            # only the new strip
    # the strip reads the exemplar from its cursor, inside out: strip column N-8+k shows exemplar column k
    assert (rgb[22:30, N - 8 + 5:N - 8 + 8] == (200, 10, 10)).all()
    assert np.allclose(depth[22:30, N - 8 + 5:N - 8 + 8], 120.0)
    assert not (rgb == (10, 200, 10)).all(-1).any()       # the near object stays out
    assert (depth[changed] > INVENT_NEAR_M).all()
    assert np.array_equal(depth[:20], before_depth[:20])  # the sky is the network's
    assert ex.cursor["right"] == 8


def test_near_pixels_of_the_strip_are_left_to_the_network():
    cam = Camera(SMALL.intrinsics)
    ex_depth = np.full((N, N), 150.0, np.float32)  # an exemplar that is all far wall
    ex = Exemplar(np.full((N, N, 3), 255, np.uint8), ex_depth, 0.0, cam)
    rgb = np.zeros((N, N, 3), np.uint8)
    depth = np.full((N, N), 5.0, np.float32)       # everything in the view is near
    known = np.ones((N, N), bool)
    known[:, :4] = False                           # a strip at the left edge
    assert ex.fill(rgb, depth, known, cam.elevation(0.0), np.random.default_rng(0)) == 0
    assert not rgb.any()


def test_a_long_turn_reads_on_restarting_at_random_and_resumes_exactly_from_a_save(village_renderer):
    """Turning further than the exemplar is wide makes it start again (the generator's random state picks
    where); a state saved mid-turn continues with identical frames."""
    gen = NeuralGenerator(SMALL, zero_net)
    p = village_renderer.world.spawn_pose()
    gen.start(village_renderer.render(Pose(p.x, p.y, p.z, p.yaw, 0.0), SMALL.intrinsics))
    turn = Action(yaw=-SMALL.action_max[3])         # negative yaw turns right
    cursors = []
    for _ in range(40):
        gen.step(turn)
        cursors.append(gen.state.exemplar.cursor["right"])
    assert cursors[-1] != cursors[0] and len(set(cursors)) > 10      # reading on as the turn goes
    arrays, meta = gen.export_state()
    arrays = {k: v.copy() for k, v in arrays.items()}
    first, after = [], []
    for _ in range(60):
        first.append(gen.step(turn))
        after.append(gen.state.exemplar.cursor["right"])
    assert any(b < a for a, b in zip(after, after[1:]))             # it ran off the end and started again
    gen.restore_state(arrays, meta)
    second = [gen.step(turn) for _ in range(60)]
    assert gen.state.exemplar.cursor["right"] == after[-1]
    assert all(np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth) for a, b in zip(first, second))


def test_a_restored_state_with_a_bad_exemplar_is_refused_naming_the_field(village_renderer):
    gen = NeuralGenerator(SMALL, zero_net)
    gen.start(village_renderer.render(village_renderer.world.spawn_pose(), SMALL.intrinsics))
    gen.step(Action(yaw=-0.05))
    arrays, meta = gen.export_state()
    good = gen.export_state()
    bad_cursor = dict(meta, exemplar=dict(meta["exemplar"], cursor={"right": -3, "left": 10}))
    bad_dtype = dict(arrays, exemplar_depth=arrays["exemplar_depth"].astype(np.float64))
    old = dict(meta, version=1)
    for a, m in ((arrays, bad_cursor), (bad_dtype, meta), (arrays, old)):
        with pytest.raises(ValueError, match="field (exemplar|format/version)"):
            gen.restore_state(a, m)
    gen.restore_state(*good)                       # the good state still loads
    assert gen.state.tick == 1
