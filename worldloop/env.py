"""Gymnasium environments in the generated world: one world (WorldEnv), a discrete wrapper for the usual
move and turn keys (DiscreteActions), and N worlds stepped with one network call a tick (WorldVectorEnv).

    from worldloop.env import WorldEnv
    env = WorldEnv("meadow", task="reach")
    obs, info = env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

Observation: the generated RGB frame, (res, res, 3) uint8; with `observe=("rgb", "depth", "pose", "task")`
(any of them) a Dict of those: depth (res, res) float32 metres, pose (5,) float32 [x, y, z, yaw, pitch], task
what the task tells the agent (a goal's bearing: worldloop.tasks). Action: a Box of the model's trained range
[forward_m, right_m, up_m, yaw_rad, pitch_rad] a tick. `reset(seed=..., options={"scene": ..., "pose": Pose})`
picks the scene and the spawn (the scene's spawn turned to a random heading and moved up to 8 m, from the
seed). `info` carries pose and tick. Rewards come from the task (worldloop.tasks), from the pose and actions
only.
"""
from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from .api import World, check_action, check_pose, scene_spec
from .tasks import make_task
from .worldgen.poses import Pose

FIELDS = ("rgb", "depth", "pose", "task")
SPAWN_REACH_M = 8.0
POSE_LIMIT = np.array([1e6, 1e6, 1e6, 1e6, math.radians(80)], np.float32)   # metres, radians (pitch: 80 deg)
TASK_LIMIT = np.float32(10.0)             # a task's observation: bearings (cos, sin) and distances / 50 m


def spawn_for(world, rng: np.random.Generator, mode: str) -> Pose | None:
    """The start pose of an episode in the procedural `world` (None for a picture scene: its own start).
    mode "random": a heading from the seed and up to SPAWN_REACH_M from the scene's spawn on free, dry
    ground; "fixed": the scene's spawn."""
    if world is None:
        return None
    base = world.spawn_pose()
    if mode == "fixed":
        return base
    yaw = float(rng.uniform(-math.pi, math.pi))
    for _ in range(20):
        r, a = SPAWN_REACH_M * math.sqrt(float(rng.uniform())), float(rng.uniform(0, 2 * math.pi))
        x, z = base.x + r * math.cos(a), base.z + r * math.sin(a)
        if world.is_free(x, z, 1.0):                 # on land, clear of every footprint
            return world.eye_pose(x, z, yaw)
    return world.eye_pose(base.x, base.z, yaw)


class _Episodes:
    """What a single and a vector environment share: the spaces, the spawn, the task's reward, observations."""

    def __init__(self, world: World, task, observe, max_steps: int, spawn: str):
        if isinstance(observe, str):
            observe = (observe,)
        observe = tuple(observe)
        bad = [f for f in observe if f not in FIELDS]
        if bad or not observe:
            raise ValueError(f"observe: {bad or 'nothing'} (choose from {', '.join(FIELDS)})")
        if spawn not in ("random", "fixed"):
            raise ValueError(f"spawn: '{spawn}' is not random or fixed")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps: {max_steps!r} is not a whole number of ticks of at least 1")
        self.world, self.task_proto, self.fields = world, make_task(task), observe
        self.max_steps, self.spawn = max_steps, spawn
        cfg = world.config
        r, amax = cfg.res, np.asarray(cfg.action_max, np.float32)
        self.action_space = spaces.Box(-amax, amax, (5,), np.float32)
        parts = {"rgb": spaces.Box(0, 255, (r, r, 3), np.uint8),
                 "depth": spaces.Box(0.0, np.float32(cfg.far_m), (r, r), np.float32),
                 "pose": spaces.Box(-POSE_LIMIT, POSE_LIMIT, (5,), np.float32),
                 "task": spaces.Box(-TASK_LIMIT, TASK_LIMIT, (int(getattr(self.task_proto, "size", 0)),),
                                    np.float32)}
        self.dict_obs = observe != ("rgb",)
        self.observation_space = spaces.Dict({f: parts[f] for f in observe}) if self.dict_obs else parts["rgb"]
        self._worlds: dict = {}

    def procedural(self, spec):
        """The scene's procedural World (for the spawn and landmarks), kept per scene; None for a picture."""
        if spec.from_picture:
            return None
        key = spec.hash()
        if key not in self._worlds:
            from .worldgen.procedural.world import World as ProceduralWorld
            self._worlds[key] = ProceduralWorld(spec)
        return self._worlds[key]

    def begin(self, rng, options: dict | None, spec):
        """(spec, start pose, task, procedural world) of a new episode; `spec`: the scene of the last one,
        kept unless the options name another."""
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"reset options: a dict, not {type(options).__name__}")
        options = dict(options or {})
        if set(options) - {"scene", "pose"}:
            raise ValueError(f"reset options: unknown {sorted(set(options) - {'scene', 'pose'})} (known: scene, pose)")
        if options.get("scene") is not None:
            spec = scene_spec(options["scene"])
        world = self.procedural(spec)
        pose = options.get("pose")
        if pose is not None:
            pose = check_pose(pose, "reset options: pose")
        else:
            pose = spawn_for(world, rng, self.spawn)
        return spec, pose, copy.deepcopy(self.task_proto), world

    def observation(self, frame, task):
        """The observation of `frame`. Its arrays are the agent's own already: World hands out copies, and a
        vector stacks its worlds' frames into new arrays."""
        if not self.dict_obs:
            return frame.rgb
        out = {}
        for f in self.fields:
            if f == "rgb":
                out[f] = frame.rgb
            elif f == "depth":
                out[f] = frame.depth.astype(np.float32, copy=False)
            elif f == "pose":
                out[f] = frame.pose.as_array().astype(np.float32)
            else:
                t = task.observe(frame.pose)
                out[f] = np.zeros(0, np.float32) if t is None else np.asarray(t, np.float32)
        return out

    @staticmethod
    def info(frame, tick: int) -> dict:
        return {"pose": frame.pose.as_array(), "tick": tick}



class WorldEnv(gym.Env):
    """One generated world as a Gymnasium environment (see the module's docstring). `task`: reach, explore,
    follow or a task object (worldloop.tasks); `max_steps`: ticks before the episode is truncated; `spawn`:
    random (from the seed) or fixed (the scene's spawn); `world`: an existing World to use instead of a new one."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, scene="default", task="explore", backend: str = "auto", checkpoint=None,
                 observe=("rgb",), max_steps: int = 300, spawn: str = "random", render_mode: str | None = None,
                 world: World | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: '{render_mode}' (WorldEnv renders rgb_array)")
        self.world = world if world is not None else World(scene, backend, checkpoint)
        self.ep = _Episodes(self.world, task, observe, max_steps, spawn)
        self.action_space, self.observation_space = self.ep.action_space, self.ep.observation_space
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.world.config.tick_hz}
        self.task, self.steps = None, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        spec, pose, self.task, pworld = self.ep.begin(self.np_random, options, self.world.spec)
        frame = self.world.reset(spec, pose)
        self.task.reset(frame.pose, self.np_random, pworld)
        self.steps = 0
        return self.ep.observation(frame, self.task), self.ep.info(frame, self.world.tick)

    def step(self, action):
        if self.task is None:
            raise RuntimeError("WorldEnv.step before reset()")
        frame = self.world.step(check_action(action))
        reward, terminated = self.task.step(frame.pose, self.world.applied_action)
        self.steps += 1
        truncated = self.steps >= self.ep.max_steps and not terminated
        return (self.ep.observation(frame, self.task), float(reward), bool(terminated), bool(truncated),
                self.ep.info(frame, self.world.tick))

    def render(self):
        if self.render_mode == "rgb_array":
            return self.world.frame.rgb          # World.frame is a copy
        return None

    def close(self):
        self.world.close()


class DiscreteActions(gym.ActionWrapper):
    """The usual keys as Discrete(7): 0 nothing, 1 forward, 2 back, 3 step left, 4 step right, 5 turn left,
    6 turn right; at `walk_mps` metres and `turn_dps` degrees a second (the game's defaults)."""

    NAMES = ("none", "forward", "back", "left", "right", "turn_left", "turn_right")

    def __init__(self, env, walk_mps: float = 2.5, turn_dps: float = 90.0):
        super().__init__(env)
        dt = 1.0 / env.unwrapped.world.config.tick_hz
        m, t = walk_mps * dt, math.radians(turn_dps) * dt
        self.table = np.array([[0, 0, 0, 0, 0], [m, 0, 0, 0, 0], [-m, 0, 0, 0, 0], [0, -m, 0, 0, 0],
                               [0, m, 0, 0, 0], [0, 0, 0, t, 0], [0, 0, 0, -t, 0]], np.float32)
        self.action_space = spaces.Discrete(len(self.table))

    def action(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action: {action!r} is not one of 0..{len(self.table) - 1} ({', '.join(self.NAMES)})")
        return self.table[int(action)]


class WorldVectorEnv(gym.vector.VectorEnv):
    """N generated worlds stepped together, Gymnasium's VectorEnv API: one network call a tick for all (the onnx
    batch export; torch takes a batch too), the geometry of each world beside it. Episodes end and restart
    one world at a time (autoreset NEXT_STEP: the step after a world's episode ends resets it), in the scene it
    was in. On the onnx backend the same seeds give exactly the frames of N WorldEnv."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, scene="default", task="explore", backend: str = "auto", checkpoint=None,
                 observe=("rgb",), max_steps: int = 300, spawn: str = "random", render_mode: str | None = None):
        from .batch import is_neural, new_lane
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs: {num_envs!r} is not a whole number of at least 1")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: '{render_mode}' (WorldVectorEnv renders rgb_array)")
        num_envs = int(num_envs)
        self.world = World(scene, backend, checkpoint)
        self.ep = _Episodes(self.world, task, observe, max_steps, spawn)
        self.num_envs = num_envs
        self.single_action_space, self.single_observation_space = self.ep.action_space, self.ep.observation_space
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.render_mode = render_mode
        backend = self.world.session.backend
        self.neural = is_neural(backend)
        if self.neural:
            self.lanes = [new_lane(backend) for _ in range(num_envs)]
        else:                       # the oracle: a renderer a world
            from .runtime.backends import make_generator
            self.lanes = [make_generator(self.world.backend_name, self.world.checkpoint) for _ in range(num_envs)]
        self.rngs = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self.tasks = [None] * num_envs
        self.specs = [self.world.spec] * num_envs      # each world's scene: kept from episode to episode
        self.steps = np.zeros(num_envs, np.int64)     # ticks since each world's episode began (its info's tick)
        self.frames = [None] * num_envs
        self.done = np.zeros(num_envs, bool)

    def _start(self, i: int, options: dict | None):
        spec, pose, task, pworld = self.ep.begin(self.rngs[i], options, self.specs[i])
        self.specs[i] = spec
        backend = self.world.session.backend
        if self.neural:
            frame = self.lanes[i].start(backend.start_frame(spec, pose))
        else:
            frame = self.lanes[i].start(spec, pose)
        task.reset(frame.pose, self.rngs[i], pworld)
        self.tasks[i], self.frames[i], self.steps[i], self.done[i] = task, frame, 0, False
        return frame

    def reset(self, *, seed=None, options: dict | None = None):
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset: {len(seeds)} seeds for {self.num_envs} worlds")
        obs, infos = [], {}
        for i, s in enumerate(seeds):
            if s is not None or self.tasks[i] is None:
                self.rngs[i] = seeding.np_random(s)[0]
            frame = self._start(i, options)
            obs.append(self.ep.observation(frame, self.tasks[i]))
            infos = self._add_info(infos, self.ep.info(frame, 0), i)
        return self._stack(obs), infos

    def step(self, actions):
        if any(t is None for t in self.tasks):
            raise RuntimeError("WorldVectorEnv.step before reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, 5):
            raise ValueError(f"actions: shape {actions.shape}, expected ({self.num_envs}, 5)")
        acts = np.stack([check_action(a, f"actions[{i}]") for i, a in enumerate(actions)])
        rewards = np.zeros(self.num_envs)
        terms = np.zeros(self.num_envs, bool)
        truncs = np.zeros(self.num_envs, bool)
        restart = [i for i in range(self.num_envs) if self.done[i]]
        live = [i for i in range(self.num_envs) if not self.done[i]]
        for i in restart:
            self._start(i, None)
        if live:
            try:
                if self.neural:
                    from .batch import step_lanes
                    frames = step_lanes(self.world.session.backend, [self.lanes[i] for i in live], acts[live])
                else:
                    frames = [self.lanes[i].step(acts[i]) for i in live]
            except Exception:
                self.done[live] = True      # some worlds may have moved and some not: each starts again next step
                raise
            for i, f in zip(live, frames):
                self.frames[i] = f
                self.steps[i] += 1
                r, term = self.tasks[i].step(f.pose, np.asarray(self.lanes[i].applied_action, np.float64))
                rewards[i], terms[i] = r, term
                truncs[i] = self.steps[i] >= self.ep.max_steps and not term
                self.done[i] = terms[i] or truncs[i]
        obs, infos = [], {}
        for i in range(self.num_envs):
            obs.append(self.ep.observation(self.frames[i], self.tasks[i]))
            infos = self._add_info(infos, self.ep.info(self.frames[i], int(self.steps[i])), i)
        return self._stack(obs), rewards, terms, truncs, infos

    def _stack(self, obs: list):
        if not self.ep.dict_obs:
            return np.stack(obs)
        return {k: np.stack([o[k] for o in obs]) for k in obs[0]}

    def render(self):
        if self.render_mode == "rgb_array":
            return np.stack([f.rgb for f in self.frames])
        return None

    def close_extras(self, **kwargs):
        self.world.close()


gym.register(id="worldloop/World-v0", entry_point="worldloop.env:WorldEnv")
gym.register(id="worldloop/WorldDiscrete-v0", entry_point="worldloop.env:_discrete_env")


def _discrete_env(**kwargs):
    return DiscreteActions(WorldEnv(**kwargs))
