"""The generator's step, shared by training, evaluation, export and the runtime.

A step is three parts: `prepare` (numpy: clamp the action, warp the previous frame and the retrieved memory
keyframes to the new pose, build the network's inputs), the network (torch, ONNX Runtime or TensorRT: any
callable from inputs to outputs), and `finish` (numpy: decode the outputs into a Frame, update the state).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..poses import Action, Frame, Pose, apply_action
from .config import ModelConfig
from .geometry import Camera, Warped, fill_holes, near_silhouettes, plucker_map, splat_one, warp
from .drawer import carry_seen, draw
from .fog import Haze, estimate as estimate_haze
from .invent import Exemplar
from .memory import SpatialMemory

IN_CHANNELS = 24
OUT_CHANNELS = 4
REVISIT_OVERLAP = 0.9  # an old keyframe seeing this much of the new view makes it a revisit: memory decides
REVISIT_AGE_TICKS = 60  # ...where old means at least this many ticks ago (not the walk's latest keyframe)
MOMENT_SCALE = 10.0   # Plucker moments of a one-tick move are a few centimetres; bring them near unit size
STATE_FORMAT = "worldloop.generator_state"
STATE_VERSION = 3     # 2: the exemplar of the far-detail fill (invent.py); 3: the distance each pixel was drawn from


def rgb_to_float(rgb: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]: the one place frames become floats."""
    return rgb.astype(np.float32) * (1.0 / 255.0)


def rgb_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded: the one place floats become frames."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def encode_depth(depth_m: np.ndarray, far_m: float) -> np.ndarray:
    """Metres -> log depth in about [-0.4, 1] (1 = the sky)."""
    return (np.log(np.clip(depth_m, 0.05, far_m)) / np.log(far_m)).astype(np.float32)


def decode_depth(enc: np.ndarray, far_m: float) -> np.ndarray:
    return np.clip(np.exp(enc.astype(np.float64) * np.log(far_m)), 0.05, far_m).astype(np.float32)


@dataclass
class Prepared:
    inputs: np.ndarray      # (IN_CHANNELS, H, W) float32
    action: np.ndarray      # (5,) float32, normalised by the trained range to [-1, 1]
    base_rgb: np.ndarray    # (H, W, 3) float32 [0, 1]: the warp the network corrects where it is not settled
    base_denc: np.ndarray   # (H, W) float32 encoded depth
    pose: Pose              # the new pose
    action_clamped: np.ndarray  # (5,) float64, the action actually applied
    known: np.ndarray       # (H, W) bool: pixels the warp or memory cover
    settled: np.ndarray     # (H, W) bool: pixels whose colour the geometry settles (see `decode`)
    seen: np.ndarray | None = None  # (H, W) float32: the distance each pixel was drawn from (drawer.py), inf: never


def assemble(cfg: ModelConfig, prev_rgb: np.ndarray, prev_depth: np.ndarray, wp: Warped, wm: Warped,
             plucker: np.ndarray, revisit: bool = False, elevation: np.ndarray | None = None):
    """(network inputs, base RGB, base encoded depth, known, settled). The base image is the previous frame's
    warp (the freshest view) where it is valid, memory where it is not, and what neither covers filled from
    beside it along the row (`fill_holes`); on a revisit memory wins wherever it is valid, so a place looks as
    it did the first time. Known: the pixels the warp or memory cover. Settled: those whose colour the geometry
    decides (see `decode`): memory's (one splat from a frozen keyframe, so nothing accumulates, and on a
    revisit what the player saw), or the previous frame's sampled back at the surface's exact spot, except
    beside the outline of a near thing."""
    far = cfg.far_m
    use_mem = wm.valid & (~wp.valid | revisit)
    use_warp = wp.valid & ~use_mem
    base_rgb = np.where(use_mem[..., None], wm.rgb, wp.rgb)
    base_d = np.where(use_mem, wm.depth, wp.depth)
    known = use_mem | use_warp
    settled = settled_by_rule(cfg.settle, use_mem, use_warp & wp.sampled)   # `warp` says what it sampled
    if known.any():
        base_rgb, base_d = fill_holes(base_rgb, base_d, known, elevation)   # what neither knows: see fill_holes
    else:                                                         # nothing lands in view: keep the last frame
        base_rgb, base_d = prev_rgb, prev_depth
    base_denc = encode_depth(base_d, far)
    settled &= ~near_silhouettes(base_d)
    x = np.empty((IN_CHANNELS, *base_d.shape), np.float32)      # written channel by channel, (C, H, W)
    x[0:3] = base_rgb.transpose(2, 0, 1)
    x[3] = base_denc
    for at, wk in ((4, wp), (9, wm)):
        x[at:at + 3] = wk.rgb.transpose(2, 0, 1)
        x[at + 3] = encode_depth(wk.depth, far) * wk.valid
        x[at + 4] = wk.valid
    x[14:17] = prev_rgb.transpose(2, 0, 1)
    x[17] = encode_depth(prev_depth, far)
    x[18:21] = plucker[..., :3].transpose(2, 0, 1)
    x[21:24] = plucker[..., 3:].transpose(2, 0, 1) * MOMENT_SCALE
    return x, base_rgb.astype(np.float32, copy=False), base_denc, known, settled


def settled_by_rule(rule: str, from_memory: np.ndarray, sampled_back: np.ndarray) -> np.ndarray:
    """The pixels whose colour the geometry keeps (ModelConfig.settle): "all" memory's and those the warp
    sampled back exactly; "memory" memory's only; "none" nothing."""
    if rule == "all":
        return from_memory | sampled_back
    if rule == "memory":
        return from_memory.copy()
    if rule == "none":
        return np.zeros_like(from_memory)
    raise ValueError(f"settle rule {rule!r}: expected all, memory or none")


def start_haze(cfg: ModelConfig, cam: Camera, frame: Frame) -> Haze | None:
    """The haze the warp gives back (fog.py), estimated from the start frame; None where the model does not."""
    if not cfg.haze:
        return None
    return estimate_haze(frame.rgb, frame.depth, cam.rays, cam.elevation(frame.pose.pitch), cfg.far_m)


class GeneratorState:
    """Everything a generator needs to continue: tick, pose, previous frame, memory, random state."""

    def __init__(self, cfg: ModelConfig, cam: Camera, frame: Frame, seed: int = 0, invent: bool | None = None,
                 settle: bool = True, drawer=None):
        self.cfg, self.cam = cfg, cam
        # the drawer (drawer.py): a network that draws what is due once; None: none. It replaces the far-detail
        # fill after the network (invent.py), otherwise the model config's choice unless told otherwise
        self.drawer = drawer
        self.invent = False if drawer is not None else cfg.exemplar_fill if invent is None else invent
        self.seed = int(seed)
        self.settle = settle        # apply the model's settle rule (decode); False: correct every pixel
        self.tick = 0
        self.pose = frame.pose
        self.rgb = frame.rgb.copy()
        self.depth = frame.depth.astype(np.float32, copy=True)
        self.seen = self.depth.copy()       # the start frame is drawn from where it stands
        self.last_retrieved: list[int] = []  # the ticks of the keyframes the last step drew from (the memory view)
        self.memory = SpatialMemory(cfg, cam)
        self.memory.insert_if_novel(self.rgb, self.depth, self.pose, 0)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.exemplar = Exemplar(frame.rgb, frame.depth, frame.pose.pitch, cam)
        self.haze = start_haze(cfg, cam, frame)

    def frame(self) -> Frame:
        return Frame(self.rgb, self.depth, self.pose)

    def export(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays, json-able meta): the full state, for saves; no pickle."""
        arrays = {"prev_rgb": self.rgb, "prev_depth": self.depth, "seen": self.seen, **self.memory.to_arrays(),
                  **self.exemplar.to_arrays()}
        meta = {"format": STATE_FORMAT, "version": STATE_VERSION, "tick": self.tick,
                "pose": list(self.pose.as_array()), "rng": self.rng.bit_generator.state,
                "exemplar": self.exemplar.meta(), "haze": self.haze.to_meta() if self.haze is not None else None}
        return arrays, json.loads(json.dumps(meta))

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Take an exported state; ValueError (naming the field) if it does not fit this model."""
        r = self.cfg.res
        want = {"prev_rgb": (r, r, 3), "prev_depth": (r, r), "exemplar_rgb": (r, r, 3), "exemplar_depth": (r, r)}
        for k, shape in want.items():
            if k not in arrays or arrays[k].shape != shape:
                raise ValueError(f"field {k}: expected shape {shape}, got "
                                 f"{arrays[k].shape if k in arrays else 'nothing'}")
        n = len(arrays.get("memory_pose", []))
        if n > self.cfg.memory_size:
            raise ValueError(f"field memory_pose: {n} keyframes, more than the model keeps ({self.cfg.memory_size})")
        version = meta.get("version")
        if version == 2:                  # before the drawer: every pixel drawn from where it stands
            arrays = {**arrays, "seen": arrays.get("prev_depth")}
        if "seen" not in arrays or getattr(arrays["seen"], "shape", None) != (r, r):
            raise ValueError(f"field seen: expected shape {(r, r)}")
        for k in ("prev_depth", "memory_depth", "memory_pose", "exemplar_depth"):
            if k in arrays and (arrays[k].dtype.kind != "f" or not np.isfinite(arrays[k]).all()):
                raise ValueError(f"field {k}: holds NaN or Inf, or is not a float array")
        for k, shape in {"memory_rgb": (n, r, r, 3), "memory_depth": (n, r, r), "memory_tick": (n,)}.items():
            if k not in arrays or arrays[k].shape != shape:
                raise ValueError(f"field {k}: expected shape {shape}")
        if arrays["seen"].dtype.kind != "f" or np.isnan(arrays["seen"]).any() or (arrays["seen"] <= 0).any():
            raise ValueError("field seen: holds NaN or values at or below 0, or is not a float array")
        if meta.get("format") != STATE_FORMAT or version not in (2, STATE_VERSION):
            raise ValueError(f"field format/version: not a {STATE_FORMAT} version 2 or {STATE_VERSION}")
        try:
            exemplar = Exemplar.from_saved(arrays, meta["exemplar"], self.cam)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"field exemplar: {e}") from None
        haze = None
        if self.cfg.haze:
            try:
                haze = Haze.from_meta(meta["haze"])
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"field haze: {e}") from None
        self.tick = int(meta["tick"])
        self.pose = Pose.from_array(meta["pose"])
        self.rgb = arrays["prev_rgb"].copy()
        self.depth = arrays["prev_depth"].copy()
        self.seen = arrays["seen"].astype(np.float32)
        self.last_retrieved = []
        self.memory.load_arrays(arrays)
        self.rng.bit_generator.state = meta["rng"]
        self.exemplar = exemplar
        self.haze = haze


def prepare(state: GeneratorState, action: Action | np.ndarray) -> Prepared:
    """Clamp the action, warp the previous frame and the best memory keyframes to the new pose."""
    a = state.cfg.clamp_action(action.as_array() if isinstance(action, Action) else np.asarray(action, np.float64))
    new_pose = apply_action(state.pose, Action.from_array(a))
    mem = state.memory
    found = mem.retrieve(new_pose)
    revisit = is_revisit([score for _, score in found], [state.tick + 1 - mem.ticks[i] for i, _ in found])
    order = [i for i, _ in found]
    carry_key = state.cfg.carry == "keyframe" and not revisit and len(mem) > 0
    if carry_key:
        order = latest_first(order, int(np.argmax(mem.ticks)), state.cfg.memory_topk)
    state.last_retrieved = [mem.ticks[i] for i in order]   # for the memory view (by the keyframe's tick, which
    # an eviction does not shift); not part of the saved state
    keys = [(rgb_to_float(mem.rgb[i]), mem.depth[i], mem.poses[i]) for i in order]
    return prepare_arrays(state.cfg, state.cam, rgb_to_float(state.rgb), state.depth, state.pose, keys, a,
                          revisit, state.haze, state.seen if state.drawer is not None else None, new_pose,
                          memory_first=carry_key)


def latest_first(order: list[int], latest: int, k: int) -> list[int]:
    """carry = "keyframe": the latest keyframe first (the least magnified, one hop from a frozen frame), then the
    best of the rest by overlap, k in all."""
    return ([latest] + [i for i in order if i != latest])[:k]


def is_revisit(scores: list[float], ages_ticks: list[int]) -> bool:
    """The best keyframe sees nearly all of the new view and was made long ago: the player came back."""
    return bool(scores) and scores[0] >= REVISIT_OVERLAP and ages_ticks[0] >= REVISIT_AGE_TICKS


def warp_keyframes(cfg: ModelConfig, cam: Camera, keyframes: list, pose: Pose, haze: Haze | None = None) -> Warped:
    """Keyframes (best first) warped to `pose`; each fills only what the better ones left empty, so the
    keyframe that matches the view best, the first visit on a tie, decides what a revisited place looks like."""
    h = w = cfg.res
    rgb, depth = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    valid = np.zeros((h, w), bool)
    for key in keyframes:
        if haze is not None or cfg.carry == "keyframe":   # sampled back (with haze: that of the new distance)
            wk = warp(cam, key[0], key[1], key[2], pose, haze, cfg.refine_depth)
        else:
            wk = splat_one(cam, *key, pose, cfg.refine_depth)   # nearest point: one hop from a frozen keyframe
        take = wk.valid & ~valid
        rgb[take], depth[take] = wk.rgb[take], wk.depth[take]
        valid |= take
    return Warped(rgb, depth, valid)


def prepare_arrays(cfg: ModelConfig, cam: Camera, prev_rgb: np.ndarray, prev_depth: np.ndarray, prev_pose: Pose,
                   keyframes: list, action: np.ndarray, revisit: bool = False, haze: Haze | None = None,
                   seen_prev: np.ndarray | None = None, new_pose: Pose | None = None,
                   memory_first: bool = False) -> Prepared:
    """The network's inputs from plain arrays: prev_rgb float32 [0, 1], depth metres, keyframes as
    (rgb float32, depth, pose) tuples, and an action already clamped to the trained range. With `seen_prev`
    (the distance each previous pixel was drawn from), the same for the new pixels: carried through the warp,
    a keyframe's pixel drawn from where it stands now, inf where neither covers. `new_pose`: the action applied
    to prev_pose, where the caller has it already (the pose is computed once a step). `memory_first` (carry =
    "keyframe"): memory wins wherever it is valid, as on a revisit, but the distance each pixel was drawn from
    follows the previous frame's, since the player did not come back."""
    if new_pose is None:
        new_pose = apply_action(prev_pose, Action.from_array(action))
    wp = warp(cam, prev_rgb, prev_depth, prev_pose, new_pose, haze, cfg.refine_depth)
    wm = warp_keyframes(cfg, cam, keyframes, new_pose, haze)
    x, base_rgb, base_denc, known, settled = assemble(cfg, prev_rgb, prev_depth, wp, wm,
                                                      plucker_map(cam, prev_pose, new_pose), revisit or memory_first,
                                                      cam.elevation(new_pose.pitch))
    act = (np.asarray(action) / np.asarray(cfg.action_max)).astype(np.float32)
    seen = None
    if seen_prev is not None:
        seen = carry_seen(cam, seen_prev, wp.depth, wp.valid, prev_pose, new_pose)
        seen = np.where(wm.valid & (~wp.valid | revisit), wm.depth, seen).astype(np.float32)
    return Prepared(x, act, base_rgb, base_denc, new_pose, np.asarray(action, np.float64), known, settled, seen)


def decode(cfg: ModelConfig, prep: Prepared, out: np.ndarray, settle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Network output (4, H, W) -> RGB uint8 and depth metres: corrections over the base. The depth one applies
    everywhere; with `settle` the colour one only where the geometry did not settle the colour
    (`Prepared.settled`): a pixel the warp sampled back exactly, or memory showed, keeps that colour. There a
    correction gained little in one tick and, repeated every tick, blurred the picture (model.md)."""
    if not np.isfinite(out).all():
        raise FloatingPointError("the network produced NaN or Inf")
    corr = out[:3].transpose(1, 2, 0)
    if settle:
        corr = np.where(prep.settled[..., None], np.float32(0.0), corr)
    rgb = rgb_to_uint8(prep.base_rgb + corr)
    depth = decode_depth(prep.base_denc + out[3], cfg.far_m)
    return rgb, depth


def finish(state: GeneratorState, prep: Prepared, out: np.ndarray) -> Frame:
    rgb, depth = decode(state.cfg, prep, out, state.settle)
    if state.drawer is not None and prep.seen is not None:   # what is due drawn once (drawer.py)
        rgb, depth, state.seen = draw(state.drawer, state.cam, rgb, depth, prep.seen, prep.pose, state.seed,
                                      state.cfg.far_m)
    else:
        state.seen = depth
    if state.invent:                                 # far detail where a turn reveals what was never seen (invent.py)
        state.exemplar.fill(rgb, depth, prep.known, state.cam.elevation(prep.pose.pitch), state.rng)
    state.rgb, state.depth, state.pose = rgb, depth, prep.pose
    state.tick += 1
    state.memory.insert_if_novel(rgb, depth, prep.pose, state.tick)
    return Frame(rgb, depth, prep.pose)
