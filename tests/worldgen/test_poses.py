"""The pose and action contract: heading frame, inverse actions, projection."""
import math

import numpy as np
import pytest

from worldloop.worldgen.poses import (Action, Intrinsics, Pose, action_between, apply_action, camera_rotation, rollout,
                            view_matrix)


def test_yaw_zero_looks_along_minus_z_and_positive_yaw_turns_left():
    p = apply_action(Pose(0, 0, 0, 0, 0), Action(forward=1.0))
    assert p.z == pytest.approx(-1.0) and p.x == pytest.approx(0.0)
    left = apply_action(Pose(0, 0, 0, math.pi / 2, 0), Action(forward=1.0))
    assert left.x == pytest.approx(-1.0)        # +90 deg yaw faces -x: a left turn from -z
    r = apply_action(Pose(0, 0, 0, 0, 0), Action(right=1.0))
    assert r.x == pytest.approx(1.0)


def test_positive_pitch_looks_up():
    fwd = -camera_rotation(0.0, 0.3)[:, 2]
    assert fwd[1] > 0


def test_action_between_inverts_apply_action():
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = Pose(*rng.normal(size=3) * 10, rng.uniform(-6, 6), rng.uniform(-1, 1))
        act = Action(*rng.normal(size=5) * 0.1)
        b = apply_action(a, act)
        np.testing.assert_allclose(action_between(a, b).as_array(), act.as_array(), atol=1e-12)


def test_point_ahead_right_projects_right_of_centre():
    intr = Intrinsics(128, 128, 70)
    pose = Pose(0, 1.7, 0, 0.4, -0.1)
    r = camera_rotation(pose.yaw, pose.pitch)
    world_pt = pose.position + r @ np.array([2.0, 1.0, -10.0])   # camera space: right, up, ahead
    cam = view_matrix(pose) @ np.append(world_pt, 1.0)
    np.testing.assert_allclose(cam[:3], [2.0, 1.0, -10.0], atol=1e-9)
    u = intr.fx * cam[0] / -cam[2] + intr.cx
    v = -intr.fy * cam[1] / -cam[2] + intr.cy
    assert u > intr.cx and v < intr.cy


def test_rollout_is_deterministic():
    acts = [Action(0.1, 0.02, 0.0, 0.01, -0.005)] * 50
    assert rollout(Pose(0, 1, 0, 0, 0), acts) == rollout(Pose(0, 1, 0, 0, 0), acts)
