"""Small shared pieces of the model tests."""
import numpy as np

from worldloop.worldgen.model.config import ModelConfig

SMALL = ModelConfig(res=64, channels=(8, 16, 16), memory_size=8)


def zero_net(x, a):
    """The untrained network's output: no correction, so a step returns its base warp."""
    return np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)


# A training config that runs in seconds (STEPS is replaced by the step count)
TINY = """
[train]
data_dir = "data"
out_dir = "run"
scenes = 2
frames_per_scene = 80
val_scenes = 1
val_frames_per_scene = 40
steps = STEPS
batch = 4
tf_fraction = 0.5
horizons = [2, 3]
rollout_batch = 2
val_every = 4
ckpt_every = 4
warmup_steps = 2
data_workers = 1

[model]
res = 32
channels = [8, 16, 16]
"""
