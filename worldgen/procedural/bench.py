"""Ground-truth rendering throughput: frames per second including readback, per resolution."""
from __future__ import annotations

import time

from ..poses import Intrinsics
from .render import GroundTruthRenderer
from .spec import SceneSpec
from .trajectories import random_walk
from .noise import seed_rng


def bench_render(spec: SceneSpec, sizes=(64, 128, 256), frames: int = 384, batch: int = 64) -> list[dict]:
    """Render the same player-like path at each size; the first batch warms chunk caches and is not timed."""
    renderer = GroundTruthRenderer(spec)
    world = renderer.world
    traj = random_walk(world, world.spawn_pose(), frames + batch - 1, seed_rng(spec.seed, 0xBE))
    rows = []
    for size in sizes:
        intr = Intrinsics(size, size)
        renderer.render_batch(traj.poses[:batch], intr)
        t0 = time.perf_counter()
        for s in range(batch, batch + frames, batch):
            renderer.render_batch(traj.poses[s:s + batch], intr)
        dt = time.perf_counter() - t0
        rows.append({"res": size, "frames": frames, "seconds": dt, "fps": frames / dt})
    renderer.release()
    return rows
