"""Small shared pieces of the model tests."""
import numpy as np

from worldgen.model.config import ModelConfig

SMALL = ModelConfig(res=64, channels=(8, 16, 16), memory_size=8)


def zero_net(x, a):
    """The untrained network's output: no correction, so a step returns its base warp."""
    return np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)
