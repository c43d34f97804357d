"""The refinement network: a small FiLM-conditioned U-Net over pixel-unshuffled inputs, no normalisation.

Inputs (B, 24, H, W) float32 built by step.assemble, and the normalised action (B, 5) in [-1, 1]. Output
(B, 4, H, W): an RGB correction over the base warp (at run time `step.decode` applies it only where
`Prepared.settled` is false) and a correction of its encoded depth. The exported graph is exactly this module.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import ModelConfig
from .step import IN_CHANNELS, OUT_CHANNELS


class FiLMBlock(nn.Module):
    """conv -> FiLM(action) -> SiLU -> conv, plus the input."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        with torch.no_grad():
            self.conv2.weight.mul_(0.1)     # small residuals at the start keep the stack near identity

    def forward(self, x, scale, shift):
        h = self.conv1(F.silu(x))
        h = h * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        return x + self.conv2(F.silu(h))


class RefineNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c0, c1, c2 = cfg.channels
        self.cfg = cfg
        self.stem = nn.Conv2d(IN_CHANNELS * 4, c0, 1)                      # after pixel-unshuffle by 2
        self.enc0 = nn.ModuleList(FiLMBlock(c0) for _ in range(cfg.blocks))
        self.down1 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.enc1 = nn.ModuleList(FiLMBlock(c1) for _ in range(cfg.blocks))
        self.down2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.mid = nn.ModuleList(FiLMBlock(c2) for _ in range(2 * cfg.blocks))
        self.up1 = nn.Conv2d(c2 + c1, c1, 1)
        self.dec1 = nn.ModuleList(FiLMBlock(c1) for _ in range(cfg.blocks))
        self.up0 = nn.Conv2d(c1 + c0, c0, 1)
        self.dec0 = nn.ModuleList(FiLMBlock(c0) for _ in range(cfg.blocks))
        # a thin full-resolution path: fine detail (edges, noise, blur) lives below the U-Net's half resolution
        f = cfg.full_res_channels
        self.fine_in = nn.Conv2d(IN_CHANNELS, f, 3, padding=1)
        self.fine_mid = nn.Conv2d(f, f, 3, padding=1)
        self.up_full = nn.Conv2d(c0, 4 * f, 1)                                    # half res -> full res by shuffle
        self.head = nn.Conv2d(2 * f, OUT_CHANNELS, 3, padding=1)
        nn.init.zeros_(self.head.weight)   # starts as the identity over the base warp
        nn.init.zeros_(self.head.bias)
        self._film_sizes = [b.conv1.out_channels for b in self._blocks()]
        self.film = nn.Sequential(nn.Linear(5, cfg.film_hidden), nn.SiLU(),
                                  nn.Linear(cfg.film_hidden, 2 * sum(self._film_sizes)))
        nn.init.zeros_(self.film[2].weight)   # FiLM starts as the identity: the action's effect is learned
        nn.init.zeros_(self.film[2].bias)

    def _blocks(self):
        return [*self.enc0, *self.enc1, *self.mid, *self.dec1, *self.dec0]

    def forward(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        film = torch.split(self.film(action), [s for s in self._film_sizes for _ in (0, 1)], dim=1)
        films = iter(zip(film[0::2], film[1::2]))

        def run(blocks, h):
            for b in blocks:
                scale, shift = next(films)
                h = b(h, scale, shift)
            return h

        h0 = run(self.enc0, self.stem(F.pixel_unshuffle(x, 2)))                  # (B, c0, H/2, W/2)
        h1 = run(self.enc1, self.down1(F.silu(h0)))                              # (B, c1, H/4, W/4)
        h2 = run(self.mid, self.down2(F.silu(h1)))                               # (B, c2, H/8, W/8)
        u1 = self.up1(torch.cat([F.interpolate(h2, scale_factor=2.0, mode="nearest"), h1], 1))
        u1 = run(self.dec1, u1)
        u0 = self.up0(torch.cat([F.interpolate(F.silu(u1), scale_factor=2.0, mode="nearest"), h0], 1))
        u0 = run(self.dec0, u0)
        fine = self.fine_mid(F.silu(self.fine_in(x)))                              # (B, f, H, W)
        coarse = F.pixel_shuffle(self.up_full(F.silu(u0)), 2)                      # (B, f, H, W)
        return self.head(F.silu(torch.cat([fine, coarse], 1)))                    # (B, 4, H, W)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


class _Res(nn.Module):
    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        with torch.no_grad():
            self.conv2.weight.mul_(0.1)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class DrawNet(nn.Module):
    """The drawer (drawer.py): a U-Net over pixel-unshuffled inputs (frame, depth, due mask, approach,
    world-anchored noise, sky), widths 32 / 64 / 128 at 1/2, 1/4 and 1/8 resolution, dilated blocks at the
    bottom for a wide view of a large hole, and a thin full-resolution path. Output (B, 4, H, W): RGB and
    encoded-depth corrections, which drawer.apply uses on the due pixels only. About 0.6 GMAC at 128x128."""

    def __init__(self, in_ch: int, widths=(32, 64, 128), fine: int = 16):
        super().__init__()
        c0, c1, c2 = widths
        self.stem = nn.Conv2d(in_ch * 4, c0, 1)
        self.enc0 = _Res(c0)
        self.down1 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.enc1 = _Res(c1)
        self.down2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.mid = nn.Sequential(_Res(c2, 1), _Res(c2, 2), _Res(c2, 4))
        self.up1 = nn.Conv2d(c2 + c1, c1, 1)
        self.dec1 = _Res(c1)
        self.up0 = nn.Conv2d(c1 + c0, c0, 1)
        self.dec0 = _Res(c0)
        self.fine_in = nn.Conv2d(in_ch, fine, 3, padding=1)
        self.fine_mid = nn.Conv2d(fine, fine, 3, padding=1)
        self.up_full = nn.Conv2d(c0, 4 * fine, 1)
        self.head = nn.Conv2d(2 * fine, 4, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.enc0(self.stem(F.pixel_unshuffle(x, 2)))
        h1 = self.enc1(self.down1(F.silu(h0)))
        h2 = self.mid(self.down2(F.silu(h1)))
        u1 = self.dec1(self.up1(torch.cat([F.interpolate(h2, scale_factor=2.0, mode="nearest"), h1], 1)))
        u0 = self.dec0(self.up0(torch.cat([F.interpolate(F.silu(u1), scale_factor=2.0, mode="nearest"), h0], 1)))
        fine = self.fine_mid(F.silu(self.fine_in(x)))
        coarse = F.pixel_shuffle(self.up_full(F.silu(u0)), 2)
        return self.head(F.silu(torch.cat([fine, coarse], 1)))
