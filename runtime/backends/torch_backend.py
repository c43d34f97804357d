"""The torch backend: the checkpoint's network in torch eager mode on the CPU."""
from __future__ import annotations

from worldloop.worldgen.model.generator import TorchNet, load_torch_net

from .neural import NeuralBackend


class TorchGenerator(NeuralBackend):
    name = "torch"

    def __init__(self, checkpoint, threads: int | None = None, drawer=None):
        import torch
        torch.set_num_threads(threads or 2)
        self.config, net, side = load_torch_net(checkpoint)
        self.net = TorchNet(net)
        self.drawer = None
        if drawer is not None:
            from worldloop.worldgen.model.generator import TorchDrawer
            from worldloop.worldgen.model.train_drawer import load_drawer
            dnet, meta = load_drawer(drawer)
            self._check_drawer(drawer, meta)
            self.drawer = TorchDrawer(dnet)
        self._init_common(checkpoint, side, drawer)
