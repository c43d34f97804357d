"""Pictures and films of procedural worlds: a fly-through mp4 with its contact sheet, and a biome gallery."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..poses import Intrinsics, Pose
from ..video import VideoWriter, contact_sheet
from .noise import seed_rng
from .render import GroundTruthRenderer
from .spec import BIOMES, SceneSpec, biome_default
from .trajectories import MotionConfig, random_walk


def flythrough(spec: SceneSpec, out_mp4, sheet_png, seconds: float = 20.0, res: int = 256,
               motion: MotionConfig = MotionConfig(), progress=None) -> tuple[Path, Path]:
    """Walk a player-like path from the spawn; write it as an mp4 and a 4x3 contact sheet."""
    renderer = GroundTruthRenderer(spec)
    world = renderer.world
    ticks = int(seconds * motion.tick_hz)
    traj = random_walk(world, world.spawn_pose(), ticks, seed_rng(spec.seed, 0xF1), motion)
    intr = Intrinsics(res, res)
    picks = set(np.linspace(0, len(traj.poses) - 1, 12).astype(int).tolist())
    stills, labels = [], []
    with VideoWriter(out_mp4, res, res, motion.tick_hz) as video:
        for s in range(0, len(traj.poses), 64):
            rgb, _ = renderer.render_batch(traj.poses[s:s + 64], intr)
            for i, frame in enumerate(rgb):
                video.write(frame)
                if s + i in picks:
                    stills.append(frame)
                    labels.append(f"t={(s + i) / motion.tick_hz:.1f}s")
            if progress:
                progress(len(rgb))
    contact_sheet(stills, labels, cols=4).save(sheet_png)
    renderer.release()
    return Path(out_mp4), Path(sheet_png)


def compass_views(spec: SceneSpec, res: int = 192, pitch: float = -0.08) -> list[np.ndarray]:
    """The view from the spawn towards -z, +x, +z and -x (north, east, south, west)."""
    renderer = GroundTruthRenderer(spec)
    p = renderer.world.spawn_pose()
    poses = [Pose(p.x, p.y, p.z, -k * math.pi / 2, pitch) for k in range(4)]
    rgb, _ = renderer.render_batch(poses, Intrinsics(res, res))
    renderer.release()
    return list(rgb)


def biome_gallery(out_png, seed: int = 1, res: int = 192) -> Path:
    """One row per biome: the four compass views from its spawn."""
    images, labels = [], []
    for biome in BIOMES:
        for k, view in enumerate(compass_views(biome_default(biome, seed), res)):
            images.append(view)
            labels.append(f"{biome} seed {seed} " + "NESW"[k])
    contact_sheet(images, labels, cols=4).save(out_png)
    return Path(out_png)
