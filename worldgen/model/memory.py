"""The pose-keyed spatial memory: keyframes of generated frames, retrieved by view overlap.

Insertion rule: a frame becomes a keyframe only when no keyframe stands within `keyframe_min_move_m` of its
position with a view within `keyframe_min_turn_rad` of its heading, so a revisited place keeps the keyframe of
its FIRST visit and looks as it did then. Eviction rule: when full, the oldest keyframe goes.
"""
from __future__ import annotations

import math

import numpy as np

from ..poses import Pose
from .config import ModelConfig
from .geometry import Camera

SPARSE = 8   # an 8x8 grid of each keyframe's pixels scores its overlap with a view


class SpatialMemory:
    def __init__(self, cfg: ModelConfig, cam: Camera):
        self.cfg, self.cam = cfg, cam
        n = cfg.res
        idx = (np.arange(SPARSE) + 0.5) * n / SPARSE
        self._sparse = (idx.astype(int)[:, None] * n + idx.astype(int)[None, :]).reshape(-1)
        self.rgb: list[np.ndarray] = []      # (H, W, 3) uint8
        self.depth: list[np.ndarray] = []    # (H, W) float32 metres
        self.poses: list[Pose] = []
        self.ticks: list[int] = []           # the tick each keyframe was made at
        self._pts: list[np.ndarray] = []     # each keyframe's sampled world points (64, 3) and their weights,
        self._wts: list[np.ndarray] = []     # kept so that scoring all keyframes is one projection
        self._stack = None

    def __len__(self) -> int:
        return len(self.poses)

    def is_novel(self, pose: Pose) -> bool:
        for p in self.poses:
            if math.hypot(p.x - pose.x, p.z - pose.z) < self.cfg.keyframe_min_move_m and \
                    abs(math.remainder(p.yaw - pose.yaw, 2 * math.pi)) < self.cfg.keyframe_min_turn_rad and \
                    abs(p.pitch - pose.pitch) < self.cfg.keyframe_min_turn_rad:
                return False
        return True

    def insert_if_novel(self, rgb: np.ndarray, depth: np.ndarray, pose: Pose, tick: int = 0) -> bool:
        if not self.is_novel(pose):
            return False
        if len(self.poses) >= self.cfg.memory_size:
            del self.rgb[0], self.depth[0], self.poses[0], self.ticks[0], self._pts[0], self._wts[0]
        self.rgb.append(rgb.copy())
        self.depth.append(depth.astype(np.float32, copy=True))
        self.poses.append(pose)
        self.ticks.append(int(tick))
        self._add_samples(self.depth[-1], pose)
        return True

    def _add_samples(self, depth: np.ndarray, pose: Pose) -> None:
        d = depth.reshape(-1)[self._sparse].astype(np.float64)
        pts, w = sample_points(self.cam.rays[self._sparse], d, pose)
        self._pts.append(pts)
        self._wts.append(w)
        self._stack = None

    def retrieve(self, dst: Pose, k: int | None = None) -> list[tuple[int, float]]:
        """(index, overlap) of the k keyframes that see most of the view `dst`, best first (none below 5%)."""
        k = self.cfg.memory_topk if k is None else k
        n = len(self.poses)
        if n == 0:
            return []
        if self._stack is None:
            self._stack = (np.concatenate(self._pts), np.stack(self._wts))
        pts, w = self._stack
        scores = visible_share(self.cam, pts, w, dst)
        order = np.argsort(-np.asarray(scores), kind="stable")[:k]   # stable: the older keyframe on a tie
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0.05]

    # -- state export: plain arrays, no pickle ---------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        n, r = len(self.poses), self.cfg.res
        return {"memory_rgb": np.array(self.rgb, np.uint8).reshape(n, r, r, 3),
                "memory_depth": np.array(self.depth, np.float32).reshape(n, r, r),
                "memory_pose": np.array([p.as_array() for p in self.poses], np.float64).reshape(n, 5),
                "memory_tick": np.array(self.ticks, np.int64)}

    def load_arrays(self, a: dict[str, np.ndarray]) -> None:
        self.rgb = [x.copy() for x in a["memory_rgb"]]
        self.depth = [x.copy() for x in a["memory_depth"]]
        self.poses = [Pose.from_array(p) for p in a["memory_pose"]]
        self.ticks = [int(t) for t in a["memory_tick"]]
        self._pts, self._wts, self._stack = [], [], None
        for d, p in zip(self.depth, self.poses):
            self._add_samples(d, p)


def sample_points(rays: np.ndarray, depth: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """World points of a keyframe's sampled pixels, and their weights: near points say more about a place
    than the sky and far hills."""
    from ..poses import camera_rotation
    r = camera_rotation(pose.yaw, pose.pitch)
    pts = (rays * depth[:, None]) @ r.T + pose.position
    return pts, 1.0 / (1.0 + 0.02 * np.minimum(depth, 200.0))


def visible_share(cam: Camera, pts: np.ndarray, weights: np.ndarray, dst: Pose) -> np.ndarray:
    """(K,) weighted share of each keyframe's points (pts (K*S, 3), weights (K, S)) inside the view `dst`."""
    u, v, z = cam.project(pts, dst)
    inside = (z > 0.1) & (u >= 0) & (u < cam.intr.width) & (v >= 0) & (v < cam.intr.height)
    inside = inside.reshape(weights.shape)
    return (inside * weights).sum(1) / weights.sum(1)


def overlap_score(cam: Camera, rays: np.ndarray, depth: np.ndarray, pose: Pose, dst: Pose) -> float:
    """One keyframe's overlap with the view `dst` (the score retrieval ranks by)."""
    pts, w = sample_points(rays, depth.astype(np.float64), pose)
    return float(visible_share(cam, pts, w[None], dst)[0])
