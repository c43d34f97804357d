"""The haze transfer in the warp (fog.py) against exact ground truth."""
import dataclasses

import numpy as np
import pytest

from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.fog import MAX_GAIN, Haze, estimate
from worldloop.worldgen.model.geometry import Camera, warp
from worldloop.worldgen.model.step import rgb_to_float
from worldloop.worldgen.poses import Action, Intrinsics, apply_action
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import biome_default

INTR = Intrinsics(128, 128)


@pytest.fixture(scope="module")
def worlds(gl_ctx):
    rs = {b: GroundTruthRenderer(biome_default(b, seed=1), ctx=gl_ctx) for b in ("village", "forest", "meadow")}
    yield rs
    for r in rs.values():
        r.release()


def start(r, turn=1.5):
    p = apply_action(r.world.spawn_pose(), Action(yaw=turn))
    return p, r.render(p, INTR)


@pytest.mark.parametrize("biome", ["village", "forest", "meadow"])
def test_the_haze_is_read_from_the_start_frame(worlds, biome):
    cam = Camera(INTR)
    r = worlds[biome]
    p, f = start(r)
    h = estimate(f.rgb, f.depth, cam.rays, cam.elevation(p.pitch), 1000.0)
    np.testing.assert_allclose(h.colour, r.world.spec.sky.horizon, atol=0.02)   # the shader's haze colour
    assert h.k == pytest.approx(r.world.spec.fog.density, rel=0.25)


@pytest.mark.parametrize("biome", ["village", "forest", "meadow"])
def test_far_land_brought_near_loses_its_haze(worlds, biome):
    """30 m straight on in one warp: land seen from afar, now nearer, is much closer to the true colour."""
    cam = Camera(INTR)
    r = worlds[biome]
    p, f0 = start(r)
    h = estimate(f0.rgb, f0.depth, cam.rays, cam.elevation(p.pitch), 1000.0)
    dst = apply_action(p, Action(forward=30.0))
    f1 = r.render(dst, INTR)
    plain = warp(cam, rgb_to_float(f0.rgb), f0.depth, p, dst)
    hazed = warp(cam, rgb_to_float(f0.rgb), f0.depth, p, dst, h)
    np.testing.assert_array_equal(plain.sampled, hazed.sampled)    # geometry is untouched
    np.testing.assert_array_equal(plain.depth, hazed.depth)
    same = plain.sampled & (f1.depth > 30) & (f1.depth < 900) & (np.abs(plain.depth - f1.depth) < 0.05 * f1.depth)
    assert same.sum() > 100
    truth = rgb_to_float(f1.rgb)
    err_plain = np.abs(plain.rgb - truth)[same].mean()
    err_hazed = np.abs(hazed.rgb - truth)[same].mean()
    assert err_hazed < 0.8 * err_plain, (err_plain, err_hazed)


def test_transfer_keeps_a_distance_and_caps_its_gain():
    h = Haze(np.array([0.7, 0.8, 0.9], np.float32), 0.006)
    rgb = np.array([[0.2, 0.5, 0.3], [0.6, 0.7, 0.8]], np.float32)
    d = np.array([50.0, 120.0])
    np.testing.assert_allclose(h.transfer(rgb, d, d), rgb, atol=1e-6)
    far = h.transfer(rgb, d + 40.0, d)                            # nearer: further from the haze colour
    np.testing.assert_allclose(far - h.colour, (rgb - h.colour) * np.exp(0.006 * 40), atol=1e-5)
    huge = h.transfer(rgb[1:], np.array([900.0]), np.array([1.0]))
    np.testing.assert_allclose(huge[0], np.clip(h.colour + (rgb[1] - h.colour) * MAX_GAIN, 0, 1), atol=1e-5)


def test_haze_meta_round_trips_and_refuses_nonsense():
    h = Haze(np.array([0.7, 0.8, 0.9], np.float32), 0.006)
    back = Haze.from_meta(h.to_meta())
    np.testing.assert_array_equal(back.colour, h.colour)
    assert back.k == h.k
    for bad in ({"colour": [0.7, 0.8], "k": 0.006}, {"colour": [0.7, 0.8, float("nan")], "k": 0.006},
                {"colour": [0.7, 0.8, 0.9], "k": 5.0}, {"colour": [0.7, 0.8, 0.9], "k": float("nan")}):
        with pytest.raises(ValueError, match="haze"):
            Haze.from_meta(bad)


def test_the_config_key_is_checked():
    assert ModelConfig.from_dict({"haze": True}).haze is True
    assert dataclasses.replace(ModelConfig()).haze is False        # older checkpoints: no haze transfer
    with pytest.raises(ValueError, match="haze"):
        ModelConfig.from_dict({"haze": "yes"})
