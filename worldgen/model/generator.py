"""The neural generator behind the runtime's Generator interface: start, step, export and restore state.

The network is any callable `net(inputs (B, 24, H, W) float32, action (B, 5) float32) -> (B, 4, H, W)` on
numpy arrays, so torch, ONNX Runtime and TensorRT plug into the same step.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..poses import Action, Frame
from .config import ModelConfig
from .geometry import Camera
from .step import GeneratorState, finish, prepare

NetFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class NeuralGenerator:
    """Autoregressive RGB-D generation: it sees its start frame, the actions and its own outputs only."""

    def __init__(self, cfg: ModelConfig, net: NetFn, invent: bool | None = None, settle: bool = True,
                 drawer=None):
        self.cfg, self.net = cfg, net
        self.drawer = drawer        # drawer.py: a numpy callable (B, 9, H, W) -> (B, 4, H, W), or None
        self.invent = cfg.exemplar_fill if invent is None else invent   # the far-detail fill (invent.py)
        self.settle = settle        # apply the model's settle rule (ModelConfig.settle, step.decode)
        self.cam = Camera(cfg.intrinsics)
        self.state: GeneratorState | None = None
        self.applied_action = np.zeros(5)

    def start(self, frame: Frame, seed: int = 0) -> Frame:
        if frame.rgb.shape != (self.cfg.res, self.cfg.res, 3):
            raise ValueError(f"start frame is {frame.rgb.shape}, the model wants {self.cfg.res}x{self.cfg.res}")
        self.state = GeneratorState(self.cfg, self.cam, frame, seed, self.invent, self.settle, self.drawer)
        return self.state.frame()

    def step(self, action: Action | np.ndarray) -> Frame:
        """One tick. The action is clamped to the trained range here, once; `applied_action` is what was
        applied (what a recording must keep)."""
        prep = prepare(self.state, action)
        self.applied_action = prep.action_clamped
        out = self.net(prep.inputs[None], prep.action[None])[0]
        return finish(self.state, prep, out)

    def export_state(self):
        return self.state.export()

    def restore_state(self, arrays, meta) -> None:
        self.state.restore(arrays, meta)


class TorchNet:
    """A RefineNet as a numpy callable (eager, no grad)."""

    def __init__(self, net, device=None):
        import torch
        self.torch, self.module = torch, net.eval()
        self.device = device if device is not None else next(net.parameters()).device

    def __call__(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        t = self.torch
        with t.inference_mode():
            return self.module(t.from_numpy(x).to(self.device), t.from_numpy(a).to(self.device)).cpu().numpy()


class TorchDrawer:
    """A DrawNet as a numpy callable (eager, no grad)."""

    def __init__(self, net):
        import torch
        self.torch, self.module = torch, net.eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.module(self.torch.from_numpy(x)).numpy()


def load_torch_net(path):
    """(config, RefineNet with the checkpoint's weights, sidecar)."""
    import torch
    from .checkpoint import CheckpointError, load_checkpoint
    from .network import RefineNet
    cfg, tensors, side = load_checkpoint(path)
    with torch.device("meta"):                 # the shapes the config implies, with no memory behind them
        want = {k: tuple(v.shape) for k, v in RefineNet(cfg).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items() if not k.startswith("opt.")}
    if want != got:
        bad = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got[k]]
        raise CheckpointError(f"{path}: weights do not fit the model config (first difference: {bad[0]})")
    net = RefineNet(cfg)
    try:
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items() if not k.startswith("opt.")})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model config: {str(e).splitlines()[0]}") from None
    return cfg, net.eval(), side
