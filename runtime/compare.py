"""The classroom's views: the model beside the truth, and a map of the spatial memory.

`--compare` (procedural scenes): each new frame of the model beside the true frame the scene's renderer draws
at the same pose, and a heat map of their difference, with the PSNR live on the HUD. `--memory-map`: where
the keyframes of the spatial memory stand, the ones the last tick drew from in yellow, the player in white
with a tick showing the heading.
"""
from __future__ import annotations


import numpy as np

from worldloop.worldgen.model import metrics
from worldloop.worldgen.poses import Frame, heading_vectors


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """worldgen's PSNR, shown at most 99 dB (identical pictures)."""
    return min(99.0, metrics.psnr(a, b))


def heat(a: np.ndarray, b: np.ndarray, full_scale: float = 96.0) -> np.ndarray:
    """(H, W, 3) uint8: the per-pixel colour difference, black (none) through red and yellow to white."""
    d = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2) / full_scale
    d = np.clip(d, 0.0, 1.0)
    r = np.clip(3 * d, 0, 1)
    g = np.clip(3 * d - 1, 0, 1)
    bl = np.clip(3 * d - 2, 0, 1)
    return (np.stack([r, g, bl], 2) * 255).astype(np.uint8)


class Comparison:
    """The truth at the model's poses, rendered by the scene's own renderer in this thread's GL context."""

    def __init__(self, spec, cfg):
        from worldloop.worldgen.procedural.render import GroundTruthRenderer
        from .glcontext import thread_context
        if spec.from_picture:
            raise ValueError(f"--compare: scene '{spec.name}' starts from a picture and has no ground truth")
        self.cfg = cfg
        self.renderer = GroundTruthRenderer(spec, ctx=thread_context())
        self._key, self.image, self.psnr = None, None, None

    def update(self, frame: Frame) -> tuple[np.ndarray, float]:
        """(model | truth | difference as one (H, 3W, 3) picture, PSNR in dB) for `frame`, made once a frame."""
        key = (id(frame), frame.pose)
        if key != self._key:
            truth = self.renderer.render(frame.pose, self.cfg.intrinsics)
            self.image = np.concatenate([frame.rgb, truth.rgb, heat(frame.rgb, truth.rgb)], axis=1)
            self.psnr = psnr(frame.rgb, truth.rgb)
            self._key = key
        return self.image, self.psnr

    def release(self) -> None:
        self.renderer.release()


def memory_map(stats: dict, pose, size: int = 160, reach_m: float = 60.0) -> np.ndarray:
    """(size, size, 4) uint8 RGBA: a top-down map centred on the player, north (-z) up, `reach_m` to each edge;
    keyframes as grey dots, those in use yellow, the player white with its heading."""
    img = np.zeros((size, size, 4), np.uint8)
    img[..., 3] = 150
    scale = (size / 2) / reach_m

    def px(x, z):
        return int(round(size / 2 + (x - pose.x) * scale)), int(round(size / 2 + (z - pose.z) * scale))

    def dot(c, r, colour):
        u, v = c
        img[max(0, v - r):v + r + 1, max(0, u - r):u + r + 1, :3] = colour
        img[max(0, v - r):v + r + 1, max(0, u - r):u + r + 1, 3] = 255

    used = set(stats.get("in_use", []))
    for i, (x, z, _) in enumerate(stats.get("keyframe_poses", [])):
        c = px(x, z)
        if 0 <= c[0] < size and 0 <= c[1] < size:
            dot(c, 2, (255, 210, 40) if i in used else (150, 150, 150))
    fwd, _ = heading_vectors(pose.yaw)
    for t in np.linspace(0, 8, 9):
        dot(px(pose.x + fwd[0] * t / scale, pose.z + fwd[2] * t / scale), 0, (255, 255, 255))
    dot(px(pose.x, pose.z), 2, (255, 255, 255))
    return img
