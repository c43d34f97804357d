"""Far detail for what a turn reveals: the generator's exemplar fill.

When the view turns past what the generator has seen, the strip at the frame's edge is new. The network fills
it with what is likely on average: sky, the horizon's colour and the ground, but none of the small far
objects (trees, rocks, houses) that a real horizon keeps showing; a regression cannot draw an object whose
place it cannot know. So after the network, the far part of each new edge strip takes the far objects of an
exemplar: the start frame, which is sharp, read column by column as the turn goes on, at the same elevation
as the pixel it fills. Only far upright things are copied (`object_mask`), and only onto far pixels, so sky,
ground and near objects stay the network's.

The exemplar is read in order while a turn goes on, so an object comes in whole, a column a tick; when the
reading runs off its end it starts again at a random column, mirrored half the time (the generator's random
state decides, so a run is reproducible and a save resumes it exactly). What was invented is a generated
frame like any other: the spatial memory keeps it, and a revisit shows it again.
"""
from __future__ import annotations

import numpy as np

from .geometry import Camera, object_mask, rows_at_elevation

INVENT_NEAR_M = 25.0     # only things farther than this are copied, and only onto pixels farther than this:
                         # with 12 m, a start frame's near tree came in at the edge and smeared into the sky


class Exemplar:
    """The frame far detail is copied from, with where the reading stands at each edge of the view."""

    def __init__(self, rgb: np.ndarray, depth: np.ndarray, pitch: float, cam: Camera):
        self.rgb = np.array(rgb, np.uint8)           # copies: the caller's frame may change later
        self.depth = np.array(depth, np.float32)
        self.pitch = float(pitch)
        self.elevation = cam.elevation(self.pitch).copy()
        self.objects = object_mask(self.depth)
        w = self.rgb.shape[1]
        self.cursor = {"right": 0, "left": w}    # the next column to read going right; the one after it going left
        self.mirror = {"right": False, "left": False}

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"exemplar_rgb": self.rgb, "exemplar_depth": self.depth}

    def meta(self) -> dict:
        return {"pitch": self.pitch, "cursor": dict(self.cursor), "mirror": dict(self.mirror)}

    @classmethod
    def from_saved(cls, arrays: dict, meta: dict, cam: Camera) -> "Exemplar":
        rgb, depth = arrays["exemplar_rgb"], arrays["exemplar_depth"]
        if rgb.dtype != np.uint8 or depth.dtype != np.float32:
            raise ValueError(f"exemplar arrays are {rgb.dtype} and {depth.dtype}, not uint8 and float32")
        pitch = float(meta["pitch"])
        if not abs(pitch) < np.pi / 2:
            raise ValueError(f"pitch {pitch} is not a camera pitch")
        ex = cls(rgb, depth, pitch, cam)
        w = rgb.shape[1]
        ex.cursor = {k: int(meta["cursor"][k]) for k in ("right", "left")}
        if not all(0 <= c <= w for c in ex.cursor.values()):
            raise ValueError(f"cursor {ex.cursor} outside 0..{w}")
        ex.mirror = {k: bool(meta["mirror"][k]) for k in ("right", "left")}
        return ex

    def _columns(self, side: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """The next n exemplar columns for a strip n wide at `side`, in the strip's order from the inside out."""
        w = self.rgb.shape[1]
        right = side == "right"
        out = []
        for _ in range(n):
            c = self.cursor[side]
            if (c >= w) if right else (c <= 0):             # run off the end: start again
                self.mirror[side] = bool(rng.random() < 0.5)
                c = int(rng.integers(0, w // 2)) if right else int(rng.integers(w // 2, w + 1))
            col = c if right else c - 1
            out.append(w - 1 - col if self.mirror[side] else col)
            self.cursor[side] = c + 1 if right else c - 1
        return np.array(out, np.int64)

    def fill(self, rgb: np.ndarray, depth: np.ndarray, known: np.ndarray, elevation: np.ndarray,
             rng: np.random.Generator) -> int:
        """In place: far objects into the far part of the edge strips (pixels `known` nowhere in their row
        towards that edge). Returns how many pixels were written."""
        w = known.shape[1]
        rows_ok = known.any(1)
        right = ~np.maximum.accumulate(known[:, ::-1], axis=1)[:, ::-1] & rows_ok[:, None]
        left = ~np.maximum.accumulate(known, axis=1) & rows_ok[:, None]
        written = 0
        for side, strip in (("right", right), ("left", left)):
            widths = strip.sum(1)
            widths = widths[widths > 0]
            if not len(widths):
                continue
            width = max(1, int(np.median(widths)))      # how far the view turned; a ragged row does not decide
            cols = self._columns(side, width, rng)         # inside out: the strip's first column reads first
            targets = np.arange(w - width, w) if side == "right" else np.arange(width - 1, -1, -1)
            for x, b in zip(targets, cols):
                ys = np.flatnonzero(strip[:, x] & (depth[:, x] > INVENT_NEAR_M))
                if not len(ys):
                    continue
                yf = rows_at_elevation(self.elevation[:, b], elevation[ys, x], outside=np.nan)
                if yf is None:
                    continue
                inside = np.isfinite(yf)                    # elevations the exemplar does not show: left alone
                ys, yb = ys[inside], np.rint(yf[inside]).astype(np.int64)
                d = self.depth[yb, b]
                ok = self.objects[yb, b] & (d > INVENT_NEAR_M)
                rgb[ys[ok], x] = self.rgb[yb[ok], b]
                depth[ys[ok], x] = d[ok]
                written += int(ok.sum())
        return written
