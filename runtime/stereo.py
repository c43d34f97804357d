"""Stereo: two eyes from one generated frame, each reprojected with the frame's depth to its own pose.

The generator makes one frame a tick, for the head's pose. The display reprojects that frame to each eye's
pose (half the interpupillary distance either side, along the head's right vector) every display frame, as it
already does to the current view between ticks (positional timewarp: reproject.frag). The backward warp finds
a frame pixel for every eye pixel, so a disocclusion takes the surface beside it, never black.

Side by side (`sbs`): the left eye's view in the window's left half, the right eye's in the right half, each
letterboxed square. Options, each documented in docs/stereo.md:

- lens: barrel distortion for a phone in a cardboard viewer, whose lenses pincushion the picture: an eye pixel
  at radius r (from the eye's centre, 1 at the half's edge) shows the view at r (1 + k1 r^2 + k2 r^4), and red
  and blue at (1 - chroma) and (1 + chroma) times that, against the lens's colour fringes;
- comfort: a vignette while the player moves or turns (its strength 0..1), a fixed horizon (a faint level
  line where the horizon lies, so the eye has a steady reference), and snap turning (the view turns in steps
  of 30-45 degrees instead of smoothly: see runtime/app.py's LoopCore).
"""
from __future__ import annotations

from dataclasses import dataclass

from worldloop.worldgen.poses import Pose, heading_vectors

IPD_RANGE_M = (0.04, 0.08)
SNAP_RANGE_DEG = (30.0, 45.0)


@dataclass(frozen=True)
class StereoOptions:
    mode: str = "sbs"
    ipd_m: float = 0.064
    lens: bool = False
    k1: float = 0.22          # barrel terms, Google Cardboard's first viewer's order of magnitude
    k2: float = 0.24
    chroma: float = 0.012     # red at (1 - chroma), blue at (1 + chroma) of green's radius
    vignette: float = 0.0     # 0..1: how dark the edges go while moving
    fixed_horizon: bool = False
    snap_turn_deg: float | None = None

    def __post_init__(self):
        if self.mode != "sbs":
            raise ValueError(f"--stereo {self.mode!r}: the one mode is sbs (side by side)")
        lo, hi = IPD_RANGE_M
        if not lo <= self.ipd_m <= hi:
            raise ValueError(f"--ipd {self.ipd_m:g}: wants metres between {lo:g} and {hi:g} (an adult's is about 0.064)")
        if not 0.0 <= self.vignette <= 1.0:
            raise ValueError(f"--vignette {self.vignette:g}: wants a strength between 0 and 1")
        if self.snap_turn_deg is not None and not SNAP_RANGE_DEG[0] <= self.snap_turn_deg <= SNAP_RANGE_DEG[1]:
            raise ValueError(f"--snap-turn {self.snap_turn_deg:g}: wants degrees between {SNAP_RANGE_DEG[0]:g} and "
                             f"{SNAP_RANGE_DEG[1]:g}")
        for name in ("k1", "k2", "chroma"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"lens {name} {getattr(self, name):g}: wants a value between 0 and 1")


def eye_poses(head: Pose, ipd_m: float) -> tuple[Pose, Pose]:
    """(left, right): the head moved half the interpupillary distance along its right vector either way (the
    camera has no roll, so its right vector is level)."""
    _, right = heading_vectors(head.yaw)
    h = 0.5 * ipd_m
    return (Pose(head.x - h * right[0], head.y, head.z - h * right[2], head.yaw, head.pitch),
            Pose(head.x + h * right[0], head.y, head.z + h * right[2], head.yaw, head.pitch))


def eye_viewports(width: int, height: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(left, right) viewports (x, y, w, h): the largest centred square in each half of the window."""
    half = width // 2
    side = min(half, height)
    y = (height - side) // 2
    return (((half - side) // 2, y, side, side), (half + (width - half - side) // 2, y, side, side))
