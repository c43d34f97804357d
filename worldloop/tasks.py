"""Tasks for agents in a generated world: reward and termination from the pose and the actions only.

The agent's world is the generated one; a task never looks at the true frames. Each task is a small object:

    reset(pose, rng, world)  -> None       # a new episode from `pose`; world: the scene's procedural World
    step(pose, action)       -> (reward, terminated)
    observe(pose)            -> (n,) float32 or None   # what the task tells the agent (a goal's bearing)
    size                     : int          # n (0: nothing to observe)
"""
from __future__ import annotations

import math

import numpy as np

from worldloop.worldgen.poses import Pose, heading_vectors


def bearing(pose: Pose, x: float, z: float) -> tuple[float, float]:
    """(distance m, bearing rad: 0 straight ahead, positive to the left) of (x, z) from the pose."""
    dx, dz = x - pose.x, z - pose.z
    fwd, right = heading_vectors(pose.yaw)
    ahead, side = dx * fwd[0] + dz * fwd[2], dx * right[0] + dz * right[2]
    return math.hypot(dx, dz), math.atan2(-side, ahead)


class ReachGoal:
    """Walk to a goal: a landmark of the scene (the nearest house, tower, rock or tree from the start, at least
    `min_m` away) or a fixed point. Reward: metres of distance closed each tick, `bonus` on arrival (within
    `radius_m`), which ends the episode."""

    size = 3

    def __init__(self, goal: tuple[float, float] | None = None, kinds=("house", "tower", "rock", "tree"),
                 min_m: float = 6.0, max_m: float = 40.0, radius_m: float = 2.0, bonus: float = 10.0):
        self.fixed, self.kinds, self.min_m, self.max_m = goal, tuple(kinds), min_m, max_m
        self.radius_m, self.bonus = radius_m, bonus
        self.goal = goal
        self.name = "point"

    def reset(self, pose: Pose, rng: np.random.Generator, world) -> None:
        if self.fixed is not None:
            self.goal, self.name = (float(self.fixed[0]), float(self.fixed[1])), "point"
        else:
            near = [o for o in (world.objects_near(pose.x, pose.z, self.max_m) if world is not None else [])
                    if o.kind in self.kinds and self.min_m <= math.hypot(o.x - pose.x, o.z - pose.z)]
            if near:
                o = min(near, key=lambda o: math.hypot(o.x - pose.x, o.z - pose.z))
                # the goal is beside the landmark, on the side facing the start (its footprint is solid)
                d = math.hypot(o.x - pose.x, o.z - pose.z)
                k = max(0.0, d - o.radius - 1.0) / d
                self.goal, self.name = (pose.x + (o.x - pose.x) * k, pose.z + (o.z - pose.z) * k), o.kind
            else:            # no landmark in reach: a point straight ahead
                fwd, _ = heading_vectors(pose.yaw)
                self.goal, self.name = (pose.x + fwd[0] * self.min_m * 2, pose.z + fwd[2] * self.min_m * 2), "point"
        self.dist = bearing(pose, *self.goal)[0]

    def step(self, pose: Pose, action) -> tuple[float, bool]:
        d = bearing(pose, *self.goal)[0]
        reward, self.dist = self.dist - d, d
        if d <= self.radius_m:
            return reward + self.bonus, True
        return reward, False

    def observe(self, pose: Pose) -> np.ndarray:
        d, b = bearing(pose, *self.goal)
        return np.array([math.cos(b), math.sin(b), min(d, 100.0) / 50.0], np.float32)


class Explore:
    """See new ground: the ground is cut into `cell_m` cells; a cell is seen when it lies within `reach_m` and
    the horizontal field of view of the heading. Reward: square metres newly seen each tick, over 100."""

    size = 0

    def __init__(self, cell_m: float = 2.0, reach_m: float = 25.0, fov_deg: float = 70.0):
        self.cell_m, self.reach_m, self.half_fov = cell_m, reach_m, math.radians(fov_deg) / 2
        n = int(math.ceil(reach_m / cell_m))
        gx, gz = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
        self._offsets = np.stack([gx.ravel(), gz.ravel()], 1)

    def _visible(self, pose: Pose) -> set:
        base = np.array([round(pose.x / self.cell_m), round(pose.z / self.cell_m)])
        cells = base + self._offsets
        cx, cz = cells[:, 0] * self.cell_m - pose.x, cells[:, 1] * self.cell_m - pose.z
        fwd, right = heading_vectors(pose.yaw)
        ahead, side = cx * fwd[0] + cz * fwd[2], cx * right[0] + cz * right[2]
        dist = np.hypot(cx, cz)
        inside = (dist <= self.reach_m) & (np.abs(np.arctan2(side, ahead)) <= self.half_fov)
        return set(map(tuple, cells[inside].tolist()))

    def reset(self, pose: Pose, rng, world) -> None:
        self.seen = self._visible(pose)

    def step(self, pose: Pose, action) -> tuple[float, bool]:
        new = self._visible(pose) - self.seen
        self.seen |= new
        return len(new) * self.cell_m ** 2 / 100.0, False

    def observe(self, pose: Pose):
        return None


class FollowPath:
    """Walk along a path given as points (metres) in the start pose's heading frame, [(ahead, right), ...].
    Reward: metres of progress along the path each tick, less `off_cost` a metre away from it; reaching
    within `radius_m` of the last point ends the episode."""

    size = 3

    def __init__(self, points=((8.0, 0.0), (14.0, 6.0), (14.0, 14.0)), off_cost: float = 0.05,
                 radius_m: float = 2.0):
        self.local = np.asarray(points, np.float64).reshape(-1, 2)
        if len(self.local) < 1:
            raise ValueError("FollowPath: points must hold at least one (ahead, right) point")
        self.off_cost, self.radius_m = off_cost, radius_m

    def reset(self, pose: Pose, rng, world) -> None:
        fwd, right = heading_vectors(pose.yaw)
        pts = [(pose.x, pose.z)] + [(pose.x + a * fwd[0] + r * right[0], pose.z + a * fwd[2] + r * right[2])
                                    for a, r in self.local]
        self.points = np.array(pts)
        seg = np.diff(self.points, axis=0)
        self.seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.cum = np.concatenate([[0.0], np.cumsum(self.seg_len)])
        self.progress = 0.0

    def _project(self, x: float, z: float) -> tuple[float, float]:
        """(distance along the path of the nearest point on it, distance from it)."""
        best = (0.0, float("inf"))
        for i in range(len(self.seg_len)):
            p, q = self.points[i], self.points[i + 1]
            L = self.seg_len[i]
            t = 0.0 if L == 0 else float(np.clip(((x - p[0]) * (q[0] - p[0]) + (z - p[1]) * (q[1] - p[1])) / L ** 2, 0, 1))
            d = math.hypot(x - (p[0] + t * (q[0] - p[0])), z - (p[1] + t * (q[1] - p[1])))
            if d < best[1]:
                best = (self.cum[i] + t * L, d)
        return best

    def step(self, pose: Pose, action) -> tuple[float, bool]:
        along, off = self._project(pose.x, pose.z)
        gain = max(0.0, along - self.progress)
        self.progress = max(self.progress, along)
        end = self.points[-1]
        done = math.hypot(pose.x - end[0], pose.z - end[1]) <= self.radius_m
        return gain - self.off_cost * off, done

    def observe(self, pose: Pose) -> np.ndarray:
        """The bearing and distance of the path's point 4 m beyond the agent's progress."""
        target = min(self.progress + 4.0, self.cum[-1])
        i = int(np.clip(np.searchsorted(self.cum, target) - 1, 0, len(self.seg_len) - 1))
        t = 0.0 if self.seg_len[i] == 0 else (target - self.cum[i]) / self.seg_len[i]
        p, q = self.points[i], self.points[i + 1]
        d, b = bearing(pose, p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
        return np.array([math.cos(b), math.sin(b), min(d, 100.0) / 50.0], np.float32)


TASKS = {"reach": ReachGoal, "explore": Explore, "follow": FollowPath}


def make_task(task):
    """A task object from a name (reach, explore, follow) or the object itself; None: explore."""
    if task is None:
        return Explore()
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task: unknown task '{task}' (known: {', '.join(TASKS)})")
        return TASKS[task]()
    for m in ("reset", "step", "observe"):
        if not callable(getattr(task, m, None)):
            raise TypeError(f"task: {type(task).__name__} has no {m}() (see worldloop.tasks)")
    return task
