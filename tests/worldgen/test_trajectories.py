"""Player-like paths: on the ground, never in water or objects, loops that close, logs that replay exactly."""
import math

import numpy as np
import pytest

from worldloop.worldgen.actionlog import ActionLog, ActionLogError, read_action_log, write_action_log
from worldloop.worldgen.poses import rollout
from worldloop.worldgen.procedural.spec import biome_default
from worldloop.worldgen.procedural.trajectories import MotionConfig, loop_path, orbit, random_walk
from worldloop.worldgen.procedural.world import EYE_HEIGHT_M, World

CFG = MotionConfig()


@pytest.fixture(scope="module")
def worlds():
    return {b: World(biome_default(b, seed=5)) for b in ("forest", "village", "coast")}


def assert_grounded_and_clear(world, traj):
    for p in traj.poses:
        ground = float(world.height(p.x, p.z))
        assert p.y == pytest.approx(ground + EYE_HEIGHT_M, abs=1e-6)
        assert ground >= world.spec.terrain.water_level_m          # never under water
        for o in world.objects_near(p.x, p.z, 0.0):
            pytest.fail(f"pose {p} is inside {o.kind} at ({o.x:.1f}, {o.z:.1f}) r={o.radius:.1f}")
    steps = np.diff(traj.poses_array()[:, [0, 2]], axis=0)
    # each step is far shorter than the clearance, so no step can jump through a footprint
    assert np.hypot(*steps.T).max() < CFG.clearance_m


@pytest.mark.parametrize("biome", ["forest", "village", "coast"])
def test_walks_stay_on_the_ground_and_clear_of_objects(worlds, biome):
    world = worlds[biome]
    traj = random_walk(world, world.spawn_pose(), 900, np.random.default_rng(3), CFG)
    assert len(traj.actions) == 900
    assert_grounded_and_clear(world, traj)
    acts = traj.actions_array()
    assert (np.abs(acts) <= CFG.action_limits() + 1e-9).all()
    assert np.abs(acts[:, 0]).max() > 0.6 * CFG.run_mps / CFG.tick_hz     # it runs at times
    assert np.abs(acts[:, 1]).max() > 0.5 * CFG.strafe_mps / CFG.tick_hz  # it strafes
    assert np.ptp(traj.poses_array()[:, 4]) > 0.3                         # it looks up and down
    assert (np.abs(acts[:, :2]).sum(1) < 1e-6).sum() > 5                   # it pauses


@pytest.mark.parametrize("style", ["out_back", "abA", "abcA", "spin"])
@pytest.mark.parametrize("ticks", [16, 64, 256, 512])
def test_loops_return_exactly_to_their_start(worlds, style, ticks):
    world = worlds["village"]
    start = world.spawn_pose()
    traj = loop_path(world, start, ticks, np.random.default_rng(ticks), CFG, style=style)
    assert traj is not None
    assert 16 <= len(traj.actions) <= 512
    end = traj.poses[-1]
    assert math.hypot(end.x - start.x, end.z - start.z) < 1e-9
    assert end.y == pytest.approx(start.y, abs=1e-9)
    assert abs(math.remainder(end.yaw - start.yaw, 2 * math.pi)) < 1e-9
    assert end.pitch == pytest.approx(start.pitch, abs=1e-9)
    if style != "spin":
        far = max(math.hypot(p.x - start.x, p.z - start.z) for p in traj.poses)
        assert far > 0.2                            # it went somewhere before coming back
    assert_grounded_and_clear(world, traj)


def test_orbit_circles_a_landmark_facing_it(worlds):
    world = worlds["village"]
    traj = orbit(world, world.spawn_pose(), 300, np.random.default_rng(0), CFG)
    assert traj is not None and len(traj.actions) >= 16
    assert_grounded_and_clear(world, traj)
    centre = min(world.objects_near(traj.start.x, traj.start.z, 40.0),
                 key=lambda o: abs(math.hypot(o.x - traj.start.x, o.z - traj.start.z)))
    for p in traj.poses[::10]:
        fwd = np.array([-math.sin(p.yaw), -math.cos(p.yaw)])
        to = np.array([centre.x - p.x, centre.z - p.z])
        assert fwd @ to / np.linalg.norm(to) > 0.95   # the object stays straight ahead


def test_action_log_replays_poses_exactly(worlds, tmp_path):
    world = worlds["forest"]
    traj = random_walk(world, world.spawn_pose(), 400, np.random.default_rng(8), CFG)
    path = tmp_path / "walk.ndjson"
    write_action_log(ActionLog(world.spec.to_dict(), traj.start, traj.actions, CFG.tick_hz, "walk"), path)
    log = read_action_log(path)
    assert log.actions == traj.actions
    assert rollout(log.start, log.actions) == traj.poses     # bit-identical poses
    assert log.scene == world.spec.to_dict()


@pytest.mark.parametrize("text, words", [
    ("", ["empty"]),
    ('{"format": "other"}\n', [":1:", "format"]),
    ('{"format": "worldloop.actionlog", "version": 9, "scene": {}, "start_pose": [0,0,0,0,0]}\n', ["version 9"]),
    ('{"format": "worldloop.actionlog", "version": 1, "scene": {}, "start_pose": [0,0]}\n', ["start_pose"]),
    ('{"format": "worldloop.actionlog", "version": 1, "scene": {}, "start_pose": [0,0,0,0,0]}\n'
     '{"t": 0, "action": [0, 0, 0, 0]}\n', [":2:", "field 'action'"]),
    ('{"format": "worldloop.actionlog", "version": 1, "scene": {}, "start_pose": [0,0,0,0,0]}\n{oops\n',
     [":2:", "not JSON"]),
])
def test_bad_action_logs_are_refused_with_line_and_field(tmp_path, text, words):
    path = tmp_path / "bad.ndjson"
    path.write_text(text)
    with pytest.raises(ActionLogError) as err:
        read_action_log(path)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)
