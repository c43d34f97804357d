"""worldloop.env: the Gymnasium environment passes the env checker without a warning, is deterministic for a
seed, and N worlds in one vector give exactly the frames of N single ones."""
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from worldloop.env import DiscreteActions, WorldEnv, WorldVectorEnv
from worldloop.tasks import Explore, FollowPath, ReachGoal
from worldloop.worldgen.poses import Pose


@pytest.mark.parametrize("observe", [("rgb",), ("rgb", "depth", "pose", "task")])
def test_the_env_checker_passes_without_a_warning(observe):
    env = gym.make("worldloop/World-v0", scene="meadow", task="reach", observe=observe).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)
    obs, info = env.reset(seed=3)
    assert set(info) >= {"pose", "tick"} and info["tick"] == 0
    if len(observe) > 1:
        assert set(obs) == set(observe) and obs["task"].shape == (3,) and obs["depth"].dtype == np.float32
    env.close()


def run(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards = []
    for a in actions:
        o, r, term, trunc, info = env.step(a)
        out.append(o)
        rewards.append(r)
    return out, rewards, info


def test_the_same_seed_gives_the_same_episode_and_another_seed_another_spawn():
    env = WorldEnv("meadow", task="explore")
    acts = [env.action_space.high * np.array([1, 0, 0, 0.5, 0], np.float32)] * 8
    a, ra, ia = run(env, 11, acts)
    b, rb, ib = run(env, 11, acts)
    c, _, ic = run(env, 12, acts)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and ra == rb
    assert not np.allclose(ia["pose"], ic["pose"])
    assert sum(ra) > 0                                   # walking and turning sees new ground
    # the scene from the options, and a pose given there
    obs, info = env.reset(seed=1, options={"scene": "snow", "pose": Pose(3.0, 0.0, 4.0, 0.5, 0.0)})
    assert env.world.spec.name == "snow" and info["pose"][0] == 3.0 and info["pose"][3] == 0.5
    with pytest.raises(ValueError, match="unknown"):
        env.reset(options={"weather": "rain"})
    env.close()


def test_bad_actions_are_a_clear_error():
    env = WorldEnv("meadow")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(4))
    d = DiscreteActions(env)
    with pytest.raises(ValueError, match="not one of 0..6"):
        d.step(9)
    with pytest.raises(ValueError, match="observe"):
        WorldEnv("meadow", observe=("rgb", "smell"), world=env.world)
    env.close()


def test_the_discrete_keys_walk_and_turn():
    env = DiscreteActions(WorldEnv("meadow", spawn="fixed"))
    _, info = env.reset(seed=0)
    p0 = info["pose"]
    for _ in range(10):
        _, _, _, _, info = env.step(1)                  # forward
    walked = math.hypot(info["pose"][0] - p0[0], info["pose"][2] - p0[2])
    assert walked == pytest.approx(10 * 2.5 / 30, rel=1e-6)
    for _ in range(10):
        _, _, _, _, info = env.step(5)                  # turn left: yaw grows
    assert info["pose"][3] - p0[3] == pytest.approx(math.radians(90) / 3, rel=1e-6)
    env.close()


def test_a_vector_gives_exactly_the_frames_of_single_worlds_with_the_same_seeds():
    n, steps = 3, 9
    venv = WorldVectorEnv(n, "meadow", task="reach", max_steps=6, observe=("rgb", "pose", "task"))
    singles = [WorldEnv("meadow", task="reach", max_steps=6, observe=("rgb", "pose", "task"), world=None)
               for _ in range(n)]
    ov, _ = venv.reset(seed=5)
    for i, e in enumerate(singles):
        o, _ = e.reset(seed=5 + i)
        assert np.array_equal(o["rgb"], ov["rgb"][i])
    rng = np.random.default_rng(0)
    done, ended = [False] * n, 0
    for t in range(steps):
        acts = (rng.uniform(-1, 1, (n, 5)) * venv.single_action_space.high).astype(np.float32)
        ov, rv, tv, uv, _ = venv.step(acts)
        for i, e in enumerate(singles):
            if done[i]:                                  # the vector resets a world the step after its end
                o, _ = e.reset()
                r, term, trunc = 0.0, False, False
            else:
                o, r, term, trunc, _ = e.step(acts[i])
            done[i] = term or trunc
            ended += done[i]
            assert np.array_equal(o["rgb"], ov["rgb"][i]) and np.array_equal(o["pose"], ov["pose"][i])
            assert r == pytest.approx(rv[i]) and (term, trunc) == (tv[i], uv[i])
    assert ended >= n                                     # every episode ended on the way (max_steps 6) and restarted
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros((2, 5)))
    venv.close()


def test_the_oracle_vector_runs_true_worlds():
    venv = WorldVectorEnv(2, "meadow", backend="oracle", task="explore")
    obs, _ = venv.reset(seed=0)
    obs2, r, *_ = venv.step(np.tile(venv.single_action_space.high * np.array([1, 0, 0, 1, 0], np.float32), (2, 1)))
    assert obs.shape == (2, 128, 128, 3) and not np.array_equal(obs[0], obs[1]) and (r > 0).all()
    venv.close()


class _Pose:
    def __init__(self, x, z, yaw):
        self.x, self.y, self.z, self.yaw, self.pitch = x, 0.0, z, yaw, 0.0


def test_tasks_reward_what_they_say():
    reach = ReachGoal(goal=(0.0, -5.0), radius_m=1.0)
    reach.reset(_Pose(0, 0, 0), None, None)
    assert reach.observe(_Pose(0, 0, 0))[:2] == pytest.approx([1.0, 0.0])    # dead ahead (yaw 0 looks at -z)
    assert reach.observe(_Pose(0, 0, math.pi / 2))[1] == pytest.approx(-1.0)  # turned left: the goal is right
    r, done = reach.step(_Pose(0, -1, 0), None)
    assert r == pytest.approx(1.0) and not done
    r, done = reach.step(_Pose(0, -4.5, 0), None)
    assert done and r == pytest.approx(3.5 + reach.bonus)
    ex = Explore()
    ex.reset(_Pose(0, 0, 0), None, None)
    assert ex.step(_Pose(0, 0, 0), None)[0] == 0.0                # standing still sees nothing new
    assert ex.step(_Pose(0, 0, math.pi), None)[0] > 1.0           # turning round sees what was behind
    path = FollowPath(points=[(10.0, 0.0)])
    path.reset(_Pose(0, 0, 0), None, None)
    r, done = path.step(_Pose(0, -3, 0), None)
    assert r == pytest.approx(3.0) and not done
    r, _ = path.step(_Pose(2, -3, 0), None)                       # sideways: no progress, a cost
    assert r == pytest.approx(-0.05 * 2)
    assert path.step(_Pose(0, -9.5, 0), None)[1]


def test_scenes_stay_from_episode_to_episode_and_poses_are_checked():
    env = WorldEnv("meadow", backend="oracle", max_steps=2)
    env.reset(seed=0, options={"scene": "snow"})
    env.reset(seed=1)
    assert env.world.spec.name == "snow"                 # a plain reset keeps the scene
    for bad, what in (([0, 0, 0, 0, 2.0], "pitch within 80"), ([np.nan] * 5, "not a place"), ([1, 2], "shape")):
        with pytest.raises(ValueError, match=what):
            env.reset(options={"pose": bad})
    with pytest.raises(ValueError, match="a dict"):
        env.reset(options=["scene"])
    env.close()
    venv = WorldVectorEnv(2, "meadow", backend="oracle", max_steps=2)
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step(np.zeros((2, 5)))
    venv.reset(seed=np.int64(3), options={"scene": "snow"})
    for _ in range(4):                                   # through an autoreset
        venv.step(np.zeros((2, 5)))
    assert [s.name for s in venv.specs] == ["snow", "snow"]
    venv.close()


def test_an_observation_is_the_agents_own():
    """Scribbling on an observation does not reach the world: the next frames are those of a clean run."""
    env = WorldEnv("meadow", task="explore")
    a = env.action_space.high * np.array([1, 0, 0, 0.5, 0], np.float32)
    clean = [env.reset(seed=4)[0]] + [env.step(a)[0] for _ in range(4)]
    obs, _ = env.reset(seed=4)
    dirty = [obs.copy()]
    for _ in range(4):
        obs[:] = 0
        obs, *_ = env.step(a)
        dirty.append(obs.copy())
    assert all(np.array_equal(x, y) for x, y in zip(clean, dirty))
    env.close()
