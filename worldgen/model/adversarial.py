"""The adversarial stage of training: a patch discriminator that tells the generator's rollout frames from the
true frames at the same poses, and the generator's losses against it.

A regression (L1) fills what the generator cannot know with its average: smooth ground, a brown band where
trees and rocks should stand, and every tick's correction blurs a little more. A discriminator scored on
patches of RGB and encoded depth asks for something that looks like the world instead: sharp texture, and
upright things with depth steps where the scene has them (LaMa's recipe; pix2pixHD's feature matching keeps it
steady). The discriminator sees frames decoded exactly as the runtime decodes them (the model's settle rule),
from rollouts on the model's own outputs, so what it judges is what a player would see.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class PatchDiscriminator(nn.Module):
    """RGB + encoded depth (B, 4, H, W) -> patch logits (B, 1, H/8, W/8), each seeing about 46 pixels: pix2pix's
    PatchGAN with the least-squares loss of pix2pixHD. With spectral normalisation and the hinge loss it stayed
    at chance on the bundled data for 200 steps; shown the image's high frequencies amplified beside it (the
    RGB less its 3x3 mean, times 8) it taught the generator a two-pixel grid that every tick added to (model.md),
    so `highpass` is off by default."""

    def __init__(self, in_ch: int = 4, width: int = 48, highpass: bool = False):
        super().__init__()
        w = width
        self.highpass = highpass
        self.layers = nn.ModuleList([
            nn.Conv2d(in_ch + (3 if highpass else 0), w, 4, stride=2, padding=1),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
        ])
        self.out = nn.Conv2d(4 * w, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits, the features of every layer, for feature matching)."""
        h = x
        if self.highpass:
            rgb = x[:, :3]
            h = torch.cat([x, 8.0 * (rgb - F.avg_pool2d(rgb, 3, 1, 1, count_include_pad=False))], 1)
        feats = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            feats.append(h)
        return self.out(h), feats


def patch_weights(logits: torch.Tensor, drawn: torch.Tensor | None) -> torch.Tensor | None:
    """(B, 1, h, w) per-logit weights: 1 where the logit's patch (its cell of the logit grid) holds a pixel the
    network draws (`drawn`, (B, 1, H, W), 1 where the runtime takes the network's colour), else 0; None
    without a mask. Two limits of this rule as measured (configs/drawn.toml): a logit sees about 54 pixels, more
    than its 8x8 cell, so a patch counted as true may still show drawn pixels near its edge; and the network's
    depth correction applies on every pixel, so depth off the drawn patches goes unjudged."""
    if drawn is None:
        return None
    return (F.adaptive_max_pool2d(drawn, logits.shape[-2:]) > 0).to(logits.dtype)


def generator_losses(disc: PatchDiscriminator, fake: torch.Tensor, real: torch.Tensor,
                     drawn: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(least-squares adversarial loss, feature matching loss) for the generator's frames `fake` against
    `real`. With `drawn`, the adversarial loss is over the patches holding pixels the network draws only: the
    rest of the frame is the geometry's, which the network cannot change."""
    logits, f_fake = disc(fake)
    with torch.no_grad():
        _, f_real = disc(real)
    fm = sum((a - b).abs().mean() for a, b in zip(f_fake, f_real)) / len(f_fake)
    w = patch_weights(logits, drawn)
    if w is None:
        return ((logits - 1.0) ** 2).mean(), fm
    return (w * (logits - 1.0) ** 2).sum() / w.sum().clamp(min=1.0), fm


def discriminator_loss(disc: PatchDiscriminator, fake: torch.Tensor, real: torch.Tensor,
                       drawn: torch.Tensor | None = None) -> torch.Tensor:
    """Least squares: true patches towards 1, generated ones towards 0. With `drawn`, a generated patch that
    holds no pixel the network drew counts as true (LaMa's rule): it is the geometry's, and telling it apart
    teaches the generator nothing it can act on."""
    real_logits, _ = disc(real)
    fake_logits, _ = disc(fake.detach())
    w = patch_weights(fake_logits, drawn)
    target = 0.0 if w is None else 1.0 - w
    return 0.5 * (((real_logits - 1.0) ** 2).mean() + ((fake_logits - target) ** 2).mean())
