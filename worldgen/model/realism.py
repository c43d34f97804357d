"""Realism measures for places with no single right answer: what the explore suite reports.

Each takes generated and true frames at the same poses (uint8 (N, H, W, 3), optionally with a (N, H, W) bool
mask of the pixels to judge) and returns a figure the suite prints beside the same figure for the truth:

- `c2st`: held-out accuracy of a small CNN trained from scratch to tell two sets apart (0.5: it cannot);
- `frechet_distance` of `random_features` (a fixed-seed untrained CNN, Lee et al. 2022);
- `top_octave_power`: energy of the finest octave (what a blur or a smear removes);
- `upright_edges`: steps in depth that stand upright (trunks, walls, rocks against what is behind);
- `copy_share`: share of textured patches that nearly exactly match a patch of the start frame;
- `streak_similarity`: how alike a pixel's fine detail is to its neighbour's a few pixels along the row or
  the column (a smear along a row or a column makes it so).
"""
from __future__ import annotations

import math

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., H, W) float32 luma in [0, 255] of (..., H, W, 3) uint8."""
    return rgb.astype(np.float32) @ LUMA


def area_down(img: np.ndarray, k: int) -> np.ndarray:
    """(N, H/k, W/k, ...) area average over k x k blocks (H and W divisible by k)."""
    n, h, w = img.shape[:3]
    return img.reshape(n, h // k, k, w // k, k, *img.shape[3:]).mean(axis=(2, 4))


def gaussian_blur(rgb: np.ndarray, sigma_px: float) -> np.ndarray:
    """(N, H, W, 3) uint8 blurred by a separable Gaussian of sigma_px (edges clamped)."""
    r = max(1, int(math.ceil(3 * sigma_px)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_px) ** 2)
    k /= k.sum()
    x = rgb.astype(np.float32)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (r, r)
        xp = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        x = sum(k[i] * np.take(xp, np.arange(i, i + n), axis=axis) for i in range(2 * r + 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# -- the classifier two-sample test ---------------------------------------------------------------------------
def _classifier(channels: int, res: int):
    import torch.nn as nn
    widths = (12, 24, 48, 48) if res >= 64 else (16, 32, 48)
    layers, c = [], channels
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(c, w, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1))


def c2st(a: np.ndarray, b: np.ndarray, test: np.ndarray, seed: int = 0, epochs: int = 6, min_steps: int = 0,
         masks: np.ndarray | None = None, masks_b: np.ndarray | None = None) -> float | None:
    """Held-out accuracy of a CNN trained to tell a (label 0) from b (label 1); None with too few samples.

    a, b: (N, H, W, 3) uint8 (or float in [0, 255]) at the same N poses; test: (N,) bool, the held-out ones (the caller splits by
    frame and balances biomes); masks: (N, H, W) bool, pixels outside are zeroed in both sets, so the mask's
    shape says nothing about the label; masks_b: b's own masks where b's frames are at other poses than a's
    (default: `masks`).
    """
    import torch
    if len(a) != len(b) or test.sum() < 8 or (~test).sum() < 8:
        return None
    torch.manual_seed(seed)

    def tensor(x, m):
        t = torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)   # (N, 3, H, W) in [-1, 1]
        if m is not None:
            t = t * torch.from_numpy(m[:, None].astype(np.float32))
        return t

    xa, xb = tensor(a, masks), tensor(b, masks if masks_b is None else masks_b)
    x_tr = torch.cat([xa[~test], xb[~test]])
    y_tr = torch.cat([torch.zeros(int((~test).sum())), torch.ones(int((~test).sum()))])
    net = _classifier(3, a.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(max(epochs, math.ceil(min_steps / math.ceil(len(x_tr) / 32)))):
        order = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(order), 32):
            idx = order[i:i + 32]
            x = x_tr[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5     # mirror half: the test is not about direction
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.inference_mode():
        pa = torch.cat([net(xa[test][i:i + 128])[:, 0] for i in range(0, int(test.sum()), 128)])
        pb = torch.cat([net(xb[test][i:i + 128])[:, 0] for i in range(0, int(test.sum()), 128)])
    return float(((pa < 0).float().sum() + (pb >= 0).float().sum()) / (len(pa) + len(pb)))


# -- random-network Frechet distance --------------------------------------------------------------------------
def random_features(rgb: np.ndarray, masks: np.ndarray | None = None, seed: int = 1234) -> np.ndarray:
    """(N, 128) float64: globally pooled features of a fixed-seed untrained CNN (the same net every call)."""
    import torch
    import torch.nn as nn
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                        nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(), nn.Conv2d(128, 128, 3, 2, 1), nn.ReLU())
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, generator=g)
                m.bias.zero_()
    out = []
    with torch.inference_mode():
        for i in range(0, len(rgb), 128):
            x = torch.from_numpy(rgb[i:i + 128].astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
            if masks is not None:
                x = x * torch.from_numpy(masks[i:i + 128, None].astype(np.float32))
            out.append(net(x).mean(dim=(2, 3)).double().numpy())
    return np.concatenate(out)


def frechet_distance(fa: np.ndarray, fb: np.ndarray) -> float | None:
    """Frechet distance between Gaussians fitted to two feature sets (N, D); None with fewer than 2 each."""
    if len(fa) < 2 or len(fb) < 2:
        return None
    ma, mb = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    # tr sqrt(ca cb) = sum of sqrt eigenvalues of sqrt(ca) cb sqrt(ca), which is symmetric PSD
    w, v = np.linalg.eigh(ca)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cb @ root), 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross)


# -- spectrum, structure, copying, streaks ---------------------------------------------------------------------
def _masked_mean(x: np.ndarray, mask: np.ndarray | None) -> float | None:
    if mask is None:
        return float(x.mean())
    return float(x[mask].mean()) if mask.any() else None


def top_octave_power(rgb: np.ndarray, masks: np.ndarray | None = None) -> float | None:
    """Mean squared luma of the finest octave (the image minus its 2x2 area average), over the masks."""
    y = luma(rgb)
    coarse = np.repeat(np.repeat(area_down(y, 2), 2, axis=1), 2, axis=2)
    return _masked_mean((y - coarse) ** 2, masks)


def upright_edges(depth_m: np.ndarray, masks: np.ndarray | None = None, band_px: int = 16,
                  ratio: float = 1.5, min_rows: int = 4) -> float | None:
    """Mean count per frame of upright depth steps: in each band of rows, the runs of columns holding a
    horizontal depth step of more than `ratio` that stands at least `min_rows` rows tall (in the mask).

    Depth beyond 300 m counts as 300 m, so a trunk against the sky steps and the sky does not step in itself.
    None when nothing is to be judged.
    """
    if len(depth_m) == 0 or (masks is not None and not masks.any()):
        return None
    ld = np.log(np.clip(depth_m, 0.05, 300.0))
    step = np.abs(np.diff(ld, axis=2)) > math.log(ratio)                         # (N, H, W-1)
    tall = step.copy()
    for k in range(1, min_rows):
        tall[:, :-k] &= step[:, k:]
    if masks is not None:
        tall &= masks[:, :, 1:] & masks[:, :, :-1]
    n, h, w = tall.shape
    hb = h // band_px
    cols = tall[:, :hb * band_px].reshape(n, hb, band_px, w).any(axis=2)          # (N, bands, W-1)
    rising = cols[..., 1:] & ~cols[..., :-1]
    return float((rising.sum(axis=(1, 2)) + cols[..., 0].sum(axis=1)).mean())


def copy_share(rgb: np.ndarray, start_rgb: np.ndarray, masks: np.ndarray | None = None, patch: int = 8,
               rms_levels: float = 4.0, min_std: float = 6.0, per_frame: int = 96, seed: int = 0) -> float | None:
    """Share of textured patches (inside the masks) within `rms_levels` RMS of some patch of the start frame
    (any position, or mirrored); None when no patch qualifies.

    Patches are patch x patch on a stride of patch/2; textured means a luma std of at least `min_std`, since
    flat sky or sand matches anything. At most `per_frame` patches per frame are tested (seeded draw).
    """
    import torch
    rng = np.random.default_rng(seed)

    def unfold(x, stride):           # (P, patch*patch*3) float32
        t = torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]
        return torch.nn.functional.unfold(t, patch, stride=stride)[0].T

    ref = torch.cat([unfold(start_rgb, 1), unfold(start_rgb[:, ::-1].copy(), 1)])
    ref_sq = (ref * ref).sum(1)
    hits = total = 0
    h, w = rgb.shape[1:3]
    for i in range(len(rgb)):
        q = unfold(rgb[i], patch // 2)
        ok = q.reshape(len(q), 3, -1).mul(torch.from_numpy(LUMA)[None, :, None]).sum(1).std(1) >= min_std
        if masks is not None:
            inside = unfold(np.repeat(masks[i][..., None], 3, axis=2).astype(np.uint8), patch // 2).min(1).values
            ok &= inside > 0
        idx = np.flatnonzero(ok.numpy())
        if len(idx) == 0:
            continue
        if len(idx) > per_frame:
            idx = rng.choice(idx, per_frame, replace=False)
        qs = q[idx]
        d2 = (qs * qs).sum(1)[:, None] + ref_sq[None] - 2 * qs @ ref.T        # squared distance to every ref
        best = d2.min(1).values.clamp(min=0) / qs.shape[1]
        hits += int((best <= rms_levels ** 2).sum())
        total += len(idx)
    return hits / total if total else None


def streak_similarity(rgb: np.ndarray, masks: np.ndarray | None = None, lag_px: int = 3) -> dict:
    """{'rows', 'cols'}: (1 + correlation) / 2 of fine luma detail (luma minus its 5x5 mean) with the detail
    `lag_px` along the row / column, over pixel pairs inside the masks (0.5: unrelated; 1: smeared)."""
    y = luma(rgb)
    yp = np.pad(y, ((0, 0), (2, 2), (2, 2)), mode="edge")
    c = np.pad(yp.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    h, w = y.shape[1:]
    mean5 = (c[:, 5:5 + h, 5:5 + w] - c[:, :h, 5:5 + w] - c[:, 5:5 + h, :w] + c[:, :h, :w]) / 25.0
    d = y - mean5
    out = {}
    for name, a, b, m in (("rows", d[:, :, :-lag_px], d[:, :, lag_px:], None),
                          ("cols", d[:, :-lag_px], d[:, lag_px:], None)):
        if masks is not None:
            m = (masks[:, :, :-lag_px] & masks[:, :, lag_px:]) if name == "rows" else \
                (masks[:, :-lag_px] & masks[:, lag_px:])
            a, b = a[m], b[m]
        if a.size < 16:
            out[name] = None
            continue
        a, b = a - a.mean(), b - b.mean()
        den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
        out[name] = 0.5 * (1.0 + float((a * b).sum()) / den) if den > 0 else None
    return out
