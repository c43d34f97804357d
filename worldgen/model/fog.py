"""Atmospheric perspective in the warp: a far surface brought near loses its haze.

Every world is seen through haze: a surface at distance d shows its own colour s mixed with the haze colour F
as c = F + (s - F) * exp(-k d). A warp that moves a surface from distance d0 to d1 and keeps its colour keeps
the haze of d0: on a long walk the pale far land is magnified into the ground underfoot, and trees ahead come
near as pale ghosts (the first model's treks ended in a grey-green wash). The transfer below gives the surface
the haze of its new distance, c1 = F + (c0 - F) * exp(k (d1 - d0)) with the gain capped: haze thick enough to
have hidden the surface hid its colour too, and that is left to the network.

F and k are estimated once, from the start frame alone (the generator does not peek at the world): F from the
farthest land it shows (haze is total there) or, with no far land, the sky just above the horizon; k from how
the ground's colour closes on F with distance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_GAIN = 4.0          # at most this much of a colour's distance from the haze is restored (haze below 75%)
SKY_FRACTION = 0.999    # depth at least this share of far_m is the sky
K_RANGE = (0.002, 0.010)   # per metre: what an estimate may come to. The worlds' haze is 0.004-0.009; a ground
                           # close to the haze's colour (snow, water) reads 2-4x too thick


@dataclass(frozen=True)
class Haze:
    colour: np.ndarray   # (3,) float32 in [0, 1]
    k: float             # per metre

    def to_meta(self) -> dict:
        return {"colour": [float(c) for c in self.colour], "k": float(self.k)}

    @staticmethod
    def from_meta(meta: dict) -> "Haze":
        colour = np.asarray(meta["colour"], np.float32)
        k = float(meta["k"])
        if colour.shape != (3,) or not np.isfinite(colour).all() or not (0 <= colour.min() and colour.max() <= 1):
            raise ValueError(f"haze colour {meta['colour']!r}: expected three numbers in [0, 1]")
        if not K_RANGE[0] <= k <= K_RANGE[1]:
            raise ValueError(f"haze k {k!r}: expected {K_RANGE[0]}..{K_RANGE[1]}")
        return Haze(colour, k)

    def transfer(self, rgb: np.ndarray, dist_from: np.ndarray, dist_to: np.ndarray) -> np.ndarray:
        """rgb (N, 3) float32 of surfaces seen from dist_from, as they look from dist_to (N,)."""
        if self.k <= 0:
            return rgb
        gain = np.minimum(np.exp(self.k * (dist_from - dist_to)), MAX_GAIN).astype(np.float32)
        return np.clip(self.colour + (rgb - self.colour) * gain[:, None], 0.0, 1.0)


def ray_norms(rays: np.ndarray) -> np.ndarray:
    """Planar depth -> distance along the ray: the length of each camera ray whose z is -1."""
    return np.sqrt((rays ** 2).sum(-1))


def estimate(rgb: np.ndarray, depth: np.ndarray, rays: np.ndarray, elevation: np.ndarray, far_m: float) -> Haze:
    """The haze of a world from one RGB-D frame (uint8 rgb, planar depth in metres, camera rays (H*W, 3) with
    z = -1, the pixels' elevation tangents)."""
    c = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    d = depth.reshape(-1).astype(np.float64) * ray_norms(rays)
    el = elevation.reshape(-1)
    sky = depth.reshape(-1) >= SKY_FRACTION * far_m
    land = ~sky & np.isfinite(d)
    colour = _horizon_colour(c[sky], el[sky])
    if colour is None:                    # no sky to read: the farthest land shown is the nearest thing to haze
        colour = np.median(c[land][d[land] >= np.quantile(d[land], 0.95)], 0) if land.any() \
            else np.full(3, 0.8, np.float32)
    # k: the ground's distance from the haze colour falls as exp(-k d); medians in distance bins, then a line
    # through their logs (the ground's own colour varies; the medians see past it)
    near = land & (d >= 3.0) & (d < 120.0)
    if near.sum() < 32:
        return Haze(colour.astype(np.float32), K_RANGE[0])
    gap = np.linalg.norm(c[near] - colour, axis=1)
    dn = d[near]
    edges = np.quantile(dn, np.linspace(0, 1, 9))
    xs, ys = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (dn >= a) & (dn <= b)
        g = np.median(gap[sel]) if sel.sum() >= 4 else 0.0
        if g > 0.01:
            xs.append(np.median(dn[sel]))
            ys.append(np.log(g))
    k = K_RANGE[0]
    if len(xs) >= 3 and np.ptp(xs) > 10.0:
        k = -float(np.polyfit(xs, ys, 1)[0])
    return Haze(colour.astype(np.float32), float(np.clip(k, *K_RANGE)))


def _horizon_colour(c: np.ndarray, tan_el: np.ndarray) -> np.ndarray | None:
    """The sky's colour at the horizon, which is the haze's: a sky shades from its horizon colour to its zenith
    colour along a power of the ray's height, so a line through the colours of the sky's pixels against that
    power meets the horizon colour where it is 0 (medians in bins, so that the sun's glow does not decide)."""
    up = tan_el / np.sqrt(1.0 + tan_el ** 2)
    ok = up >= 0
    if ok.sum() < 16:
        return None
    x, c = up[ok] ** 0.55, c[ok]
    edges = np.quantile(x, np.linspace(0, 1, 9))
    xs, cs = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (x >= a) & (x <= b)
        if sel.sum() >= 4:
            xs.append(np.median(x[sel]))
            cs.append(np.median(c[sel], 0))
    if len(xs) < 3 or np.ptp(xs) < 0.05:
        return np.median(c, 0)
    fit = np.polyfit(np.asarray(xs), np.asarray(cs), 1)      # (2, 3): slope and intercept per channel
    return np.clip(fit[1], 0.0, 1.0).astype(np.float32)
