"""The generator's configuration: one frozen dataclass, saved inside every checkpoint and export."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..poses import Intrinsics


@dataclass(frozen=True)
class ModelConfig:
    res: int = 128
    fov_y_deg: float = 70.0
    tick_hz: float = 30.0
    # The action range the model was trained on, per tick: forward_m, right_m, up_m, yaw_rad, pitch_rad.
    # The runtime clamps every action to it.
    action_max: tuple = (0.14, 0.14, 0.2, 0.06, 0.03)
    channels: tuple = (32, 64, 128)     # U-Net widths at 1/2, 1/4 and 1/8 of the resolution
    blocks: int = 1                     # residual blocks per level (twice that at the bottom)
    full_res_channels: int = 16         # width of the thin full-resolution path
    film_hidden: int = 64
    memory_size: int = 256              # keyframes kept; the oldest is evicted first
    memory_topk: int = 2                # keyframes splatted into each new view
    keyframe_min_move_m: float = 1.5    # a frame becomes a keyframe only if no keyframe is this close...
    keyframe_min_turn_rad: float = 0.35  # ...and within this angle of its view
    far_m: float = 1000.0
    # After the network (step.decode, finish), applied the same way in training's adversarial stage and at run
    # time. settle: which pixels keep the geometry's colour instead of the network's ("all": memory's and those
    # the warp sampled back exactly, the first model's rule; "memory": memory's only, so the network may sharpen
    # and grow what the warp magnifies; "none"). exemplar_fill: the hand-written far-detail fill (invent.py).
    # The defaults are the first model's, which older checkpoints were trained for.
    settle: str = "all"
    exemplar_fill: bool = True
    # haze: the warp gives a surface the haze of its new distance (fog.py), estimated from the start frame
    haze: bool = False
    # refine_depth: the warp moves each splatted depth onto the source's surface (geometry.refine_depth); off,
    # the splat's nearest-point depth, which shrinks the ground's depth about 1% a tick walking forward
    refine_depth: bool = False
    # carry: what a new frame's base is carried from. "frame": the previous frame's warp, memory only where it
    # does not cover (every pixel resampled every tick); "keyframe": the latest keyframe sampled back (one hop
    # from a frozen frame, a new keyframe every keyframe_min_move_m), then the next keyframe by overlap, then
    # the previous frame's warp
    carry: str = "frame"

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.res, self.res, self.fov_y_deg)

    def clamp_action(self, a: np.ndarray) -> np.ndarray:
        m = np.asarray(self.action_max)
        return np.clip(a, -m, m)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @staticmethod
    def from_dict(d: dict, src: str = "<config>") -> "ModelConfig":
        fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"{src}: unknown model config key(s) {', '.join(sorted(unknown))}")
        for k, v in d.items():
            _check_field(src, k, v)
        cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        if cfg.carry not in CARRY_RULES:
            raise ValueError(f"{src}: carry = {cfg.carry!r}, expected one of {', '.join(CARRY_RULES)}")
        if cfg.settle not in SETTLE_RULES:
            raise ValueError(f"{src}: settle = {cfg.settle!r}, expected one of {', '.join(SETTLE_RULES)}")
        for key in ("exemplar_fill", "haze", "refine_depth"):
            if not isinstance(getattr(cfg, key), bool):
                raise ValueError(f"{src}: {key} = {getattr(cfg, key)!r}, expected true or false")
        return cfg


SETTLE_RULES = ("all", "memory", "none")
CARRY_RULES = ("frame", "keyframe")

# Each number's type and range (a checkpoint from a stranger must not ask for a 15 TB network): (kind, low,
# high, length for lists). Booleans and settle are checked in from_dict.
FIELD_RANGES = {"res": (int, 16, 512, None), "fov_y_deg": (float, 10.0, 150.0, None),
                "tick_hz": (float, 1.0, 240.0, None), "action_max": (float, 1e-6, 10.0, 5),
                "channels": (int, 1, 512, 3), "blocks": (int, 1, 8, None), "full_res_channels": (int, 1, 256, None),
                "film_hidden": (int, 1, 4096, None), "memory_size": (int, 1, 4096, None),
                "memory_topk": (int, 1, 8, None), "keyframe_min_move_m": (float, 0.01, 100.0, None),
                "keyframe_min_turn_rad": (float, 0.01, 3.2, None), "far_m": (float, 10.0, 1e5, None)}


def _check_field(src: str, key: str, value) -> None:
    if key not in FIELD_RANGES:
        return
    kind, lo, hi, n = FIELD_RANGES[key]
    values = value if n is not None else [value]
    if n is not None and not (isinstance(value, (list, tuple)) and len(value) == n):
        raise ValueError(f"{src}: {key} must be a list of {n} numbers")
    for v in values:
        ok = not isinstance(v, bool) and isinstance(v, int if kind is int else (int, float))
        if not ok or not lo <= v <= hi:                     # NaN fails the range
            raise ValueError(f"{src}: {key} = {value!r}: expected {'whole ' if kind is int else ''}"
                             f"number(s) from {lo:g} to {hi:g}")
    if key == "res" and value % 8:
        raise ValueError(f"{src}: res = {value}: must be a multiple of 8 (the network halves it three times)")
