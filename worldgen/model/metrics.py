"""Image metrics for evaluation: PSNR and SSIM (optionally over a pixel mask), sharpness, mean colour.

Images are (H, W, 3) uint8. SSIM uses a 7x7 uniform window on luma, as in the original paper's simplified
form; masked means average the per-pixel map over the mask.
"""
from __future__ import annotations

import math

import numpy as np

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all pixels or over a (H, W) mask; nan when the mask is empty."""
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return float("nan")
        d = d[mask]
    return 10 * math.log10(255.0 ** 2 / max(float(d.mean()), 1e-10))


def _box(x: np.ndarray, k: int = 7) -> np.ndarray:
    """Mean over a k x k window (edges clamped), via summed-area tables."""
    p = k // 2
    xp = np.pad(x, p, mode="edge")
    s = np.pad(xp.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = x.shape
    return (s[k:k + h, k:k + w] - s[:h, k:k + w] - s[k:k + h, :w] + s[:h, :w]) / (k * k)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, y = _luma(a), _luma(b)
    mx, my = _box(x), _box(y)
    vx = _box(x * x) - mx * mx
    vy = _box(y * y) - my * my
    cxy = _box(x * y) - mx * my
    return ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    m = ssim_map(a, b)
    if mask is not None:
        return float(m[mask].mean()) if mask.any() else float("nan")
    return float(m.mean())


def sharpness(img: np.ndarray) -> float:
    """Mean gradient magnitude of the luma."""
    y = _luma(img)
    gx = np.diff(y, axis=1)[:-1]
    gy = np.diff(y, axis=0)[:, :-1]
    return float(np.sqrt(gx * gx + gy * gy).mean())


def mean_colour_error(gen: np.ndarray, gt: np.ndarray) -> float:
    """Largest per-channel difference of mean colour, relative to ground truth's mean."""
    mg = gen.reshape(-1, 3).mean(0)
    mt = gt.reshape(-1, 3).mean(0)
    return float(np.max(np.abs(mg - mt) / np.maximum(mt, 1.0)))
