"""Player-like camera paths through a World: free walks, loops that return to their start, and orbits.

Every path is a start pose plus one Action per tick. Poses are produced by applying each action with
`apply_action`, so replaying the actions from the start pose gives the same poses exactly. The walker never
steps onto water or into an object's footprint, and its eyes stay EYE_HEIGHT_M above the terrain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..poses import Action, Pose, apply_action
from .world import EYE_HEIGHT_M, World

KINDS = ("walk", "loop", "orbit")


@dataclass(frozen=True)
class MotionConfig:
    """Speeds of a player, in metres or radians per second; per-tick values follow from tick_hz."""

    tick_hz: float = 30.0
    walk_mps: float = 1.5
    run_mps: float = 4.0
    strafe_mps: float = 1.2
    turn_rps: float = 1.6
    pitch_rps: float = 0.8
    max_pitch_rad: float = 0.6
    momentum_s: float = 0.25   # time constant of speed changes
    clearance_m: float = 0.5   # kept between the eye and any object's footprint

    def action_limits(self) -> np.ndarray:
        """(5,) largest |action| per tick this motion produces: forward, right, up, yaw, pitch."""
        dt = 1.0 / self.tick_hz
        return np.array([self.run_mps * dt, self.run_mps * dt, 1.5 * self.run_mps * dt,
                         self.turn_rps * dt, self.pitch_rps * dt])


@dataclass
class Trajectory:
    kind: str
    start: Pose
    actions: list[Action] = field(default_factory=list)
    poses: list[Pose] = field(default_factory=list)   # poses[0] is start; len = len(actions) + 1

    def actions_array(self) -> np.ndarray:
        return np.array([a.as_array() for a in self.actions], np.float64).reshape(-1, 5)

    def poses_array(self) -> np.ndarray:
        return np.array([p.as_array() for p in self.poses], np.float64).reshape(-1, 5)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _yaw_towards(dx: float, dz: float) -> float:
    """The yaw whose forward vector (-sin, 0, -cos) points along (dx, dz)."""
    return math.atan2(-dx, -dz)


class Walker:
    """Integrates smoothed velocities into per-tick actions, refusing any step into a blocked spot."""

    def __init__(self, world: World, start: Pose, cfg: MotionConfig, kind: str):
        self.world, self.cfg = world, cfg
        self.traj = Trajectory(kind, start, [], [start])
        self.vel = np.zeros(2)        # world-frame (x, z) velocity, metres per tick
        self.yaw_rate = 0.0           # radians per tick
        self.blocked_ticks = 0

    @property
    def pose(self) -> Pose:
        return self.traj.poses[-1]

    @property
    def ticks(self) -> int:
        return len(self.traj.actions)

    def _alpha(self) -> float:
        return 1.0 - math.exp(-1.0 / (self.cfg.tick_hz * self.cfg.momentum_s))

    def step(self, want_vel_xz, want_yaw_rate: float, want_pitch: float, exact_target=None):
        """One tick: ease velocity and turn rate towards the wanted ones, then move if the spot is free."""
        cfg, p = self.cfg, self.pose
        a = self._alpha()
        self.vel += a * (np.asarray(want_vel_xz, np.float64) - self.vel)
        self.yaw_rate += a * (want_yaw_rate - self.yaw_rate)
        if np.abs(self.vel).max() < 2e-4 and not np.any(want_vel_xz):
            self.vel[:] = 0.0          # come to a real stop rather than creep forever
        if abs(self.yaw_rate) < 2e-5 and want_yaw_rate == 0.0:
            self.yaw_rate = 0.0
        dx, dz = (exact_target[0] - p.x, exact_target[1] - p.z) if exact_target is not None else self.vel
        if not self.world.is_free(p.x + dx, p.z + dz, cfg.clearance_m):
            dx = dz = 0.0
            self.vel[:] = 0.0
            self.blocked_ticks += 1
        s, c = math.sin(p.yaw), math.cos(p.yaw)
        forward, right = -s * dx - c * dz, c * dx - s * dz
        nx, nz = p.x - s * forward + c * right, p.z - c * forward - s * right
        up = float(self.world.height(nx, nz)) + EYE_HEIGHT_M - p.y
        max_dp = cfg.pitch_rps / cfg.tick_hz
        dpitch = float(np.clip(want_pitch - p.pitch, -max_dp, max_dp))
        max_dy = cfg.turn_rps / cfg.tick_hz
        dyaw = float(np.clip(self.yaw_rate, -max_dy, max_dy))
        act = Action(forward, right, up, dyaw, dpitch)
        self.traj.actions.append(act)
        self.traj.poses.append(apply_action(p, act))

    def move_to(self, x: float, z: float, speed_mps: float, face_yaw: float | None = None,
                max_ticks: int = 2000) -> bool:
        """Walk to (x, z), facing the way of travel (or `face_yaw`); lands exactly on the point."""
        v_max = speed_mps / self.cfg.tick_hz
        for _ in range(max_ticks):
            p = self.pose
            dx, dz = x - p.x, z - p.z
            dist = math.hypot(dx, dz)
            if dist < 1e-9:
                return True
            yaw_goal = _yaw_towards(dx, dz) if face_yaw is None else face_yaw
            yaw_err = _wrap(yaw_goal - p.yaw) if dist > 0.3 or face_yaw is not None else 0.0
            speed = min(v_max, 0.12 * dist + 0.2 * v_max) * (1.0 if abs(yaw_err) < 0.6 else 0.2)
            if dist <= max(speed, 0.01) and np.hypot(*self.vel) <= 1.5 * v_max:
                self.step((0, 0), 0.0, 0.0, exact_target=(x, z))
                self.vel[:] = 0.0
                continue
            self.step((dx / dist * speed, dz / dist * speed), yaw_err * 0.25, 0.0)
        return False

    def turn_to(self, yaw: float, pitch: float, max_ticks: int = 600) -> bool:
        """Turn in place until the pose has exactly this yaw and pitch."""
        max_dy = self.cfg.turn_rps / self.cfg.tick_hz
        for _ in range(max_ticks):
            p = self.pose
            err = yaw - p.yaw
            if abs(err) < 1e-12 and abs(pitch - p.pitch) < 1e-12:
                return True
            if abs(err) <= max_dy * 0.5 and abs(pitch - p.pitch) <= self.cfg.pitch_rps / self.cfg.tick_hz:
                self.yaw_rate = err
                self.step((0, 0), err, pitch)
                self.yaw_rate = 0.0
                continue
            rate = math.copysign(min(max_dy, 0.15 * abs(err) + 0.1 * max_dy), err)
            self.step((0, 0), rate, pitch)
        return False


def segment_free(world: World, a, b, clearance: float) -> bool:
    """Is every point of the straight walk from a to b (x, z) standable?"""
    n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / 0.5) + 1)
    return all(world.is_free(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, clearance + 0.3)
               for t in np.linspace(0, 1, n))


def random_walk(world: World, start: Pose, ticks: int, rng: np.random.Generator,
                cfg: MotionConfig = MotionConfig()) -> Trajectory:
    """A wander that walks, runs, strafes, turns, looks up and down and pauses, with momentum."""
    w = Walker(world, start, cfg, "walk")
    dt = 1.0 / cfg.tick_hz
    while w.ticks < ticks:
        behaviour = rng.choice(["walk", "walk", "run", "strafe", "turn", "look", "pause"])
        duration = int(rng.uniform(0.6, 3.0) * cfg.tick_hz)
        turn = rng.uniform(-1, 1) * cfg.turn_rps * dt * (1.0 if behaviour == "turn" else 0.3)
        pitch = rng.uniform(-cfg.max_pitch_rad, cfg.max_pitch_rad) if behaviour == "look" else \
            rng.uniform(-0.15, 0.1)
        fwd = {"walk": cfg.walk_mps, "run": cfg.run_mps, "turn": 0.4 * cfg.walk_mps,
               "look": 0.3 * cfg.walk_mps}.get(behaviour, 0.0) * dt
        right = rng.choice([-1, 1]) * cfg.strafe_mps * dt if behaviour == "strafe" else 0.0
        for _ in range(min(duration, ticks - w.ticks)):
            p = w.pose
            s, c = math.sin(p.yaw), math.cos(p.yaw)
            vel = (-s * fwd + c * right, -c * fwd - s * right)
            ahead = 2.0 / max(math.hypot(*vel), 1e-9)
            if math.hypot(*vel) > 0 and not world.is_free(p.x + vel[0] * ahead, p.z + vel[1] * ahead,
                                                           cfg.clearance_m):
                turn = math.copysign(cfg.turn_rps * dt, turn or 1.0)   # obstacle ahead: turn away
                vel = (vel[0] * 0.2, vel[1] * 0.2)
            w.step(vel, turn, pitch)
    return w.traj


def loop_path(world: World, start: Pose, ticks: int, rng: np.random.Generator,
              cfg: MotionConfig = MotionConfig(), style: str | None = None) -> Trajectory | None:
    """A path that ends exactly at its start pose: out-and-back, A->B->A, A->B->C->A, or a spin.

    `ticks` is the wanted length (16 to 512); the result is within that range. None if no free route fits.
    """
    style = style or str(rng.choice(["out_back", "abA", "abcA", "spin"]))
    if style in ("abA", "abcA") and ticks < 160:
        style = "out_back"   # turning around alone would use up a short budget
    dt = 1.0 / cfg.tick_hz
    for attempt in range(8):
        budget = ticks * (0.85 ** attempt)
        w = Walker(world, start, cfg, "loop")
        home = (start.x, start.z)
        if style == "spin":
            direction = rng.choice([-1.0, 1.0])
            ok = w.turn_to(start.yaw + direction * math.pi, start.pitch) and \
                w.turn_to(start.yaw + direction * 2 * math.pi, start.pitch)
        elif style == "out_back":
            d = 0.45 * budget * cfg.walk_mps * dt
            heading = start.yaw + rng.uniform(-0.6, 0.6)
            b = (start.x - math.sin(heading) * d, start.z - math.cos(heading) * d)
            if not segment_free(world, home, b, cfg.clearance_m):
                continue
            ok = w.move_to(*b, cfg.walk_mps, face_yaw=start.yaw) and \
                w.move_to(*home, cfg.walk_mps, face_yaw=start.yaw) and w.turn_to(start.yaw, start.pitch)
        else:
            corners = 1 if style == "abA" else 2
            turn_ticks = (corners + 1) * math.pi / (cfg.turn_rps * dt) * 0.9
            walk = max(budget - turn_ticks, budget * 0.2) * cfg.walk_mps * dt * 0.6
            d = walk / (2 if corners == 1 else 3)
            a0 = start.yaw + rng.uniform(-1.0, 1.0)
            pts = [(start.x - math.sin(a0) * d, start.z - math.cos(a0) * d)]
            if corners == 2:
                a1 = a0 + rng.choice([-1, 1]) * 2 * math.pi / 3
                pts.append((pts[0][0] - math.sin(a1) * d, pts[0][1] - math.cos(a1) * d))
            route = [home, *pts, home]
            if not all(segment_free(world, route[i], route[i + 1], cfg.clearance_m) for i in range(len(route) - 1)):
                continue
            ok = all(w.move_to(*pt, cfg.walk_mps) for pt in route[1:])
            ok = ok and w.turn_to(start.yaw + 2 * math.pi * round((w.pose.yaw - start.yaw) / (2 * math.pi)),
                                  start.pitch)
        if ok and 16 <= w.ticks <= 512:
            return w.traj
    return None


def orbit(world: World, start_near: Pose, ticks: int, rng: np.random.Generator,
          cfg: MotionConfig = MotionConfig(), search_m: float = 200.0) -> Trajectory | None:
    """Circle the nearest landmark (or tower or building) while facing it; None if there is none."""
    objs = [o for o in world.objects_near(start_near.x, start_near.z, search_m)
            if o.kind in ("landmark", "tower", "building")]
    if not objs:
        return None
    objs.sort(key=lambda o: (o.kind != "landmark", math.hypot(o.x - start_near.x, o.z - start_near.z)))
    target = objs[0]
    dt = 1.0 / cfg.tick_hz
    for _ in range(6):
        r = target.radius + rng.uniform(5.0, 16.0)
        a = rng.uniform(0, 2 * math.pi)
        x, z = target.x + r * math.cos(a), target.z + r * math.sin(a)
        if not world.is_free(x, z, cfg.clearance_m + 0.5):
            continue
        start = world.eye_pose(x, z, _yaw_towards(target.x - x, target.z - z), rng.uniform(-0.05, 0.2))
        w = Walker(world, start, cfg, "orbit")
        direction = rng.choice([-1.0, 1.0])
        speed = rng.uniform(0.6, 1.0) * cfg.walk_mps * dt
        while w.ticks < ticks:
            p = w.pose
            ang = math.atan2(p.z - target.z, p.x - target.x) + direction * speed / r
            nx, nz = target.x + r * math.cos(ang), target.z + r * math.sin(ang)
            before = w.blocked_ticks
            w.vel[:] = (nx - p.x, nz - p.z)
            w.yaw_rate = _wrap(_yaw_towards(target.x - nx, target.z - nz) - p.yaw)
            w.step(w.vel.copy(), w.yaw_rate, p.pitch)
            if w.blocked_ticks > before:
                w.traj.actions.pop()
                w.traj.poses.pop()
                break
        if w.ticks >= 16:
            return w.traj
    return None
