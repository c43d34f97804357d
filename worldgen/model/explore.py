"""The explore suite: long paths into places the start frame never showed, judged for realism.

Paths (held-out seeds, one scene each, every biome): a trek (110 m straight on, at a run), an about-face
(turn 180 degrees, walk 40 s into what was behind, turn back), a double spin (two slow full turns), a zigzag
(42 s of 60-degree turns) and, in three biomes, a 2-minute wander. Over the late half of every path, every
`sample_every` ticks, the generated frame, the true frame at the same pose and the true frame half a sample
later are kept, with the never-seen mask: true world points the start frame (the only truth the generator
is given) did not show from at most twice as far (sky excluded, since it has no place). The measures of `realism` run on them pooled, for whole frames and for never-seen
pixels, each beside the same figure for the truth.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..actionlog import ActionLog, write_action_log
from ..poses import Frame, Pose
from ..procedural.noise import hash_ints
from ..procedural.spec import BIOMES, biome_default
from . import realism
from .config import ModelConfig
from .evaluate import EvalError, path_poses, read_paths, visible_in
from .geometry import Camera

EXPLORE_SEED = 7_707_707        # the explore suite's scenes: seeds never used by training, the standard suite
KINDS = ("trek", "aboutface", "spin2", "zigzag", "wander")   # or a bundled scene (tests hold it)
WANDER_BIOMES = (0, 2, 4)       # meadow, desert, coast: three 2-minute wanders keep the run near 20 minutes
SHEET_TICKS = (0, 16, 64, 128, 256, 512)
MIN_NEVER_SEEN = 0.05           # a frame joins the never-seen tests when at least this share is never-seen
BLUR_SIGMA_PX = 0.8             # the calibration's blur: a C2ST that cannot see it is too weak to count
SKY_FRACTION = 0.99             # depth at or beyond this share of the renderer's far plane is sky


def explore_spec(biome_index: int, kind_index: int):
    biome = BIOMES[biome_index % len(BIOMES)]
    return biome_default(biome, int(hash_ints(EXPLORE_SEED, biome_index, kind_index) % np.uint64(2**31 - 1)))


# -- paths ------------------------------------------------------------------------------------------------------
def _walk_heading(w, heading: float, ticks: int, speed_mps: float) -> float:
    """Walk `ticks` along `heading` (yaw), facing it, steering round what blocks the way; returns the heading."""
    dt = 1.0 / w.cfg.tick_hz
    for _ in range(ticks):
        p = w.pose
        vel = (-math.sin(heading) * speed_mps * dt, -math.cos(heading) * speed_mps * dt)
        if not w.world.is_free(p.x + vel[0] * 60, p.z + vel[1] * 60, w.cfg.clearance_m):
            heading += 0.02         # about 2 m ahead is blocked: bear right until it is not
        err = math.remainder(heading - p.yaw, 2 * math.pi)
        w.step(vel, float(np.clip(err * 0.25, -w.cfg.turn_rps * dt, w.cfg.turn_rps * dt)), 0.0)
    return heading


def _free_heading(world, start: Pose, reach_m: float) -> float:
    """Of 24 headings, the first (from the start's) with a free straight walk of reach_m; else the start's."""
    from ..procedural.trajectories import segment_free
    for k in range(24):
        yaw = start.yaw + k * 2 * math.pi / 24
        end = (start.x - math.sin(yaw) * reach_m, start.z - math.cos(yaw) * reach_m)
        if segment_free(world, (start.x, start.z), end, 0.5):
            return yaw
    return start.yaw


def explore_trajectory(kind: str, world, start: Pose, rng: np.random.Generator, motion, short: bool = False):
    """One path of the suite from `start`; `short` makes a 20x shorter one of the same shape (for tests)."""
    from ..procedural.trajectories import Walker, random_walk
    hz = motion.tick_hz
    n = (lambda s: max(4, int(s * hz / 20))) if short else (lambda s: int(s * hz))
    if kind == "wander":
        return random_walk(world, start, n(120), rng, motion)
    w = Walker(world, start, motion, "explore")
    if kind == "trek":
        heading = _free_heading(world, start, 110.0)
        w.turn_to(heading, 0.0)
        _walk_heading(w, heading, n(110.0 / motion.run_mps), motion.run_mps)
    elif kind == "aboutface":
        _walk_heading(w, start.yaw, n(3), motion.walk_mps)
        w.turn_to(w.pose.yaw + math.pi, 0.0)
        _walk_heading(w, w.pose.yaw, n(40), motion.walk_mps)
        w.turn_to(w.pose.yaw - math.pi, 0.0)
        _walk_heading(w, w.pose.yaw, n(4), motion.walk_mps)
    elif kind == "spin2":
        rate = 0.35 / hz            # rad per tick: a slow look round, 18 s a turn
        w.yaw_rate = rate
        for _ in range(int(math.ceil((4 * math.pi / rate) / (20 if short else 1)))):
            w.step((0.0, 0.0), rate, 0.0)
    elif kind == "zigzag":
        base, side = start.yaw, 1
        for _ in range(12):
            base = _walk_heading(w, base + side * math.radians(30), n(3.5), motion.walk_mps) - side * math.radians(30)
            side = -side
    else:
        raise ValueError(f"unknown explore path kind '{kind}' (known: {', '.join(KINDS)})")
    return w.traj


def build_explore_suite(out_dir, tick_hz: float = 30.0, short: bool = False, limit: int | None = None) -> list[Path]:
    """Write the explore suite's action logs (deterministic, held-out seeds) into out_dir."""
    from ..procedural.trajectories import MotionConfig
    from ..procedural.world import World
    out_dir = Path(out_dir)
    motion = MotionConfig(tick_hz=tick_hz)
    plan = [(b, k) for b in range(len(BIOMES)) for k in range(4)] + [(b, 4) for b in WANDER_BIOMES]
    written = []
    for n, (b, k) in enumerate(plan[:limit]):
        spec = explore_spec(b, k)
        world = World(spec)
        traj = explore_trajectory(KINDS[k], world, world.spawn_pose(), np.random.default_rng([EXPLORE_SEED, n]),
                                  motion, short)
        log = ActionLog(spec.to_dict(), traj.start, traj.actions, tick_hz, "eval",
                        {"category": KINDS[k], "suite": "explore"})
        path = out_dir / f"{n:02d}_{KINDS[k]}_{spec.biome}.ndjson"
        write_action_log(log, path)
        written.append(path)
    return written


# -- running a path ---------------------------------------------------------------------------------------------
def never_seen(cam: Camera, depth: np.ndarray, pose: Pose, past, sky_m: float, max_ratio: float = 2.0) -> np.ndarray:
    """(H, W) bool: pixels whose true surface no frame in `past` [(depth, pose), ...] showed from at most
    `max_ratio` times as far (seen from farther, its detail was never shown). Sky pixels are never never-seen.

    The suite passes the start frame alone: it is the only truth the generator is given, so these are the
    pixels the generator had to invent. Against every earlier true frame (the issue's first reading) the
    bundled model's paths had 0.1% never-seen pixels in their late halves, since walking on shows each place
    ahead from afar first.
    """
    h, w = depth.shape
    pts = cam.points_world(depth, pose)
    flat = depth.reshape(-1)
    todo = np.flatnonzero(flat < sky_m)
    for d, p in reversed(past):
        if not len(todo):
            break
        shown, z = visible_in(cam, pts[todo], d, p)    # the standard suite's seen-before rule...
        todo = todo[~(shown & (z <= max_ratio * flat[todo]))]   # ...and near enough to have shown its detail
    mask = np.zeros(h * w, bool)
    mask[todo] = True
    return mask.reshape(h, w)


@dataclass
class PathSamples:
    """What one path leaves for the pooled measures; arrays are stacked over the sampled ticks."""

    name: str
    kind: str
    biome: str
    ticks: list[int]
    gen_rgb: np.ndarray          # (N, H, W, 3) uint8
    gen_depth: np.ndarray        # (N, H, W) float32 metres
    true_rgb: np.ndarray
    true_depth: np.ndarray
    alt_rgb: np.ndarray          # the true frame half a sample later: the truth at other poses
    unseen: np.ndarray           # (N, H, W) bool
    start_rgb: np.ndarray        # (H, W, 3)
    alt_unseen: np.ndarray = None  # (N, H, W) bool: the never-seen mask at the alt frames' own poses
    sheet: dict = field(default_factory=dict)   # tick -> (true, generated)
    distance_m: float = 0.0
    turned_rad: float = 0.0


def run_path(make_generator, cfg: ModelConfig, log: ActionLog, renderer, name: str,
             sample_every: int = 8, chunk: int = 192) -> PathSamples:
    """Run one path open loop, rendering its truth in chunks; keep the late half's samples and the sheet."""
    cam = Camera(cfg.intrinsics)
    poses, acts = path_poses(cfg, log)
    last = len(poses) - 1
    half = max(1, sample_every // 2)
    want = [t for t in range(last // 2, last - half + 1) if t % sample_every == 0 and t > 0]
    keep = set(want) | {t + half for t in want} | {t for t in SHEET_TICKS if t <= last} | {last}
    sky_m = SKY_FRACTION * renderer.config.far_m
    gen = None
    got = {}
    gen_frames: dict[int, Frame] = {}
    for c0 in range(0, last + 1, chunk):
        rgb, depth = renderer.render_batch(poses[c0:c0 + chunk], cfg.intrinsics)
        for i in range(len(rgb)):
            t = c0 + i
            if t == 0:
                gen = make_generator()
                gen_frames[0] = gen.start(Frame(rgb[0], depth[0], poses[0]))
            else:
                f = gen.step(acts[t - 1])
                if not np.isfinite(f.depth).all():
                    raise EvalError(f"{name}: tick {t}: non-finite depth")
                if t in keep:
                    gen_frames[t] = f
            if t == 0:
                start = [(depth[0].copy(), poses[0])]
            if t in want or t - half in want:      # the alt frames get their own mask (the truth at its pose)
                got[t] = (rgb[i].copy(), depth[i].copy(), never_seen(cam, depth[i], poses[t], start, sky_m))
            elif t in keep:
                got[t] = (rgb[i].copy(), depth[i].copy(), None)
    s = PathSamples(name, log.meta.get("category", log.kind), log.scene.get("biome", "?"), want,
                    np.stack([gen_frames[t].rgb for t in want]), np.stack([gen_frames[t].depth for t in want]),
                    np.stack([got[t][0] for t in want]), np.stack([got[t][1] for t in want]),
                    np.stack([got[t + half][0] for t in want]), np.stack([got[t][2] for t in want]),
                    got[0][0], np.stack([got[t + half][2] for t in want]))
    s.sheet = {t: (got[t][0], gen_frames[t].rgb) for t in sorted({t for t in SHEET_TICKS if t <= last} | {last})}
    s.distance_m = float(sum(math.hypot(b.x - a.x, b.z - a.z) for a, b in zip(poses, poses[1:])))
    s.turned_rad = float(sum(abs(math.remainder(b.yaw - a.yaw, 2 * math.pi)) for a, b in zip(poses, poses[1:])))
    return s


# -- pooled measures --------------------------------------------------------------------------------------------
def _split(samples: list[PathSamples], eligible: list[np.ndarray], seed: int = 0, block: int = 64):
    """Pooled index arrays (take, test): alternate `block`-tick stretches of every path go to train and test,
    and every biome keeps the same number of frames in each (a fixed-seed draw), so the classifier cannot
    score by telling biomes apart."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0] + [len(s.ticks) for s in samples])
    by = {}
    for s, off, ok in zip(samples, offsets, eligible):
        for j, t in enumerate(s.ticks):
            if ok[j]:
                by.setdefault((s.biome, (t // block) % 2 == 1), []).append(off + j)
    take, test = [], []
    if not by:
        return np.zeros(0, int), np.zeros(0, bool)
    for is_test in (False, True):
        groups = [v for (b, te), v in by.items() if te == is_test]
        biomes = {b for (b, te) in by if te == is_test}
        if len(biomes) < len({b for (b, _) in by}):
            return np.zeros(0, int), np.zeros(0, bool)     # a biome without frames on one side: no fair test
        n = min(len(v) for v in groups)
        for v in groups:
            pick = rng.choice(v, n, replace=False)
            take += list(pick)
            test += [is_test] * n
    return np.array(take, int), np.array(test, bool)


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else float(a / b)


def c2st_block(true, other: dict, test, masks, scale: int, steps: tuple = (600, 2000)) -> dict:
    """C2ST of true (under `masks`) against each of `other` (name -> (frames, their masks)) at one scale (1:
    full; 4: area-averaged 4x)."""
    def prep(x):
        return x if scale == 1 else realism.area_down(x.astype(np.float32), scale)

    def prep_mask(m):
        return None if m is None else (m if scale == 1 else realism.area_down(m.astype(np.float32), scale) > 0.5)
    t = prep(true)
    # small frames need more steps to learn a slight blur (1000 quarter-scale frames a side: 0.51 after 6
    # epochs, 0.62 after 40); at full scale 168 frames a side and 60 steps learnt nothing (0.5 against blur)
    return {k: realism.c2st(t, prep(v), test, min_steps=steps[scale != 1], epochs=6 if steps[0] >= 600 else 1,
                            masks=prep_mask(masks), masks_b=prep_mask(mv))
            for k, (v, mv) in other.items()}


def measure(samples: list[PathSamples], show=print, c2st_steps: tuple = (600, 2000)) -> dict:
    """The pooled report: whole frames and never-seen pixels, each figure beside the truth's."""
    cat = {k: np.concatenate([getattr(s, k) for s in samples]) for k in
           ("gen_rgb", "gen_depth", "true_rgb", "true_depth", "alt_rgb", "unseen", "alt_unseen")}
    starts = np.concatenate([np.repeat(s.start_rgb[None], len(s.ticks), 0) for s in samples])
    frac = cat["unseen"].mean(axis=(1, 2))
    out = {"frames": int(len(frac)), "never_seen_share": float(frac.mean())}
    for region, eligible_all in (("whole", [np.ones(len(s.ticks), bool) for s in samples]),
                                 ("never_seen", [s.unseen.mean(axis=(1, 2)) >= MIN_NEVER_SEEN for s in samples])):
        idx, test = _split(samples, eligible_all)
        masks = None if region == "whole" else cat["unseen"][idx]
        alt_masks = None if region == "whole" else cat["alt_unseen"][idx]
        row: dict = {"frames_c2st": int(len(idx))}
        if len(idx):
            true, alt, gen = cat["true_rgb"][idx], cat["alt_rgb"][idx], cat["gen_rgb"][idx]
            blur = realism.gaussian_blur(true, BLUR_SIGMA_PX)     # the same frames: only the blur tells
            for scale, name in ((1, "full"), (4, "quarter")):
                show(f"explore: C2ST {region}, {name} scale ({len(idx)} frames a side)")
                # every set under its own frames' mask: the truth at other poses under the mask of those poses
                # (under the first poses' mask, what the mask cut out of them told them apart: 0.655)
                r = c2st_block(true, {"generated": (gen, masks), "true": (alt, alt_masks), "blurred": (blur, masks)},
                               test, masks, scale, c2st_steps)
                row[f"c2st_{name}"] = r["generated"]
                row[f"c2st_{name}_true_vs_true"] = r["true"]
                row[f"c2st_{name}_true_vs_blurred"] = r["blurred"]
                weak = r["blurred"] is None or r["blurred"] < 0.6
                row[f"c2st_{name}_calibrated"] = not weak and r["true"] is not None and abs(r["true"] - 0.5) < 0.1
        sel = np.concatenate([e for e in eligible_all])
        m = None if region == "whole" else cat["unseen"][sel]
        ma = None if region == "whole" else cat["alt_unseen"][sel]
        g, t, a = cat["gen_rgb"][sel], cat["true_rgb"][sel], cat["alt_rgb"][sel]
        if len(g) >= 2:
            fg, ft, fa = realism.random_features(g, m), realism.random_features(t, m), realism.random_features(a, ma)
            row["frechet"] = realism.frechet_distance(fg, fa)
            row["frechet_true_vs_true"] = realism.frechet_distance(ft, fa)
        row["top_octave_ratio"] = _ratio(realism.top_octave_power(g, m), realism.top_octave_power(t, m))
        ut = realism.upright_edges(cat["true_depth"][sel], m)
        row["upright_ratio"] = _ratio(realism.upright_edges(cat["gen_depth"][sel], m), ut)
        row["upright_true_per_frame"] = ut
        cg = _copy(g, starts[sel], m)
        ct = _copy(t, starts[sel], m)
        row["copy_share"], row["copy_share_true"] = cg, ct
        sg, st = realism.streak_similarity(g, m), realism.streak_similarity(t, m)
        for k in ("rows", "cols"):
            row[f"streak_{k}_ratio"] = _ratio(sg[k], st[k])
        out[region] = row
    seen = ~cat["unseen"]
    from .metrics import psnr
    vals = [psnr(g, t, m) for g, t, m in zip(cat["gen_rgb"], cat["true_rgb"], seen) if m.any()]
    out["psnr_seen"] = float(np.mean(vals)) if vals else None
    return out


def _copy(frames, starts, masks):
    """copy_share per start frame (each path has its own), pooled over patches."""
    hits = total = 0.0
    keys = [s.tobytes() for s in starts]
    for key in dict.fromkeys(keys):
        sel = np.array([k == key for k in keys])
        share = realism.copy_share(frames[sel], starts[sel][0], None if masks is None else masks[sel])
        if share is not None:
            w = int(sel.sum())
            hits += share * w
            total += w
    return hits / total if total else None


SAMPLES_FORMAT = "worldloop.explore_samples"
_SAMPLE_ARRAYS = ("gen_rgb", "gen_depth", "true_rgb", "true_depth", "alt_rgb", "unseen", "start_rgb", "alt_unseen")
SAMPLES_VERSION = 2     # 2: alt_unseen


def save_samples(s: PathSamples, path: Path, key: dict) -> None:
    """One path's samples as an .npz of plain arrays (no pickle) with a JSON header; `key` says what made them
    (weights, rules, sampling), so a later run reuses them only for the same."""
    from ..files import atomic_write_bytes
    import io
    ticks = sorted(s.sheet)
    head = {"format": SAMPLES_FORMAT, "version": SAMPLES_VERSION, "key": key, "name": s.name, "kind": s.kind, "biome": s.biome,
            "ticks": [int(t) for t in s.ticks], "sheet_ticks": [int(t) for t in ticks],
            "distance_m": s.distance_m, "turned_rad": s.turned_rad}
    arrays = {k: getattr(s, k) for k in _SAMPLE_ARRAYS}
    arrays["sheet_true"] = np.stack([s.sheet[t][0] for t in ticks])
    arrays["sheet_gen"] = np.stack([s.sheet[t][1] for t in ticks])
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_samples(path: Path, key: dict) -> PathSamples | None:
    """The samples saved at `path` if they were made with `key`; None if absent or made otherwise; EvalError
    naming the file if it is not a samples file."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(bytes(z["header"]).decode())
            if head.get("format") != SAMPLES_FORMAT:
                raise ValueError(f"not a {SAMPLES_FORMAT}")
            if head.get("version") != SAMPLES_VERSION:
                return None                    # made by an older suite: generated again
            if head["key"] != key:
                return None
            arrays = {k: z[k] for k in _SAMPLE_ARRAYS}
            sheet = {int(t): (a, b) for t, a, b in zip(head["sheet_ticks"], z["sheet_true"], z["sheet_gen"])}
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise EvalError(f"{path}: not explore samples ({e})") from None
    return PathSamples(head["name"], head["kind"], head["biome"], list(head["ticks"]), sheet=sheet,
                       distance_m=float(head["distance_m"]), turned_rad=float(head["turned_rad"]), **arrays)


def per_path(s: PathSamples) -> dict:
    from .metrics import psnr
    vals = [psnr(g, t, ~m) for g, t, m in zip(s.gen_rgb, s.true_rgb, s.unseen) if (~m).any()]
    m = s.unseen
    return {"path": s.name, "kind": s.kind, "biome": s.biome, "samples": len(s.ticks),
            "last_tick": int(max(s.sheet)), "distance_m": round(s.distance_m, 2),
            "turned_deg": round(math.degrees(s.turned_rad), 1), "never_seen_share": float(m.mean()),
            "psnr_seen": float(np.mean(vals)) if vals else None,
            "top_octave_ratio": _ratio(realism.top_octave_power(s.gen_rgb), realism.top_octave_power(s.true_rgb)),
            "upright_ratio_never_seen": _ratio(realism.upright_edges(s.gen_depth, m),
                                               realism.upright_edges(s.true_depth, m)),
            "copy_share_never_seen": realism.copy_share(s.gen_rgb, s.start_rgb, m),
            "copy_share_never_seen_true": realism.copy_share(s.true_rgb, s.start_rgb, m)}


def check_targets(summary: dict, before: dict | None) -> dict:
    """The explore targets of the generative-world issue, each with its value and whether it is met."""
    w, n = summary.get("whole", {}), summary.get("never_seen", {})
    out = {}

    def put(name, value, ok):
        out[name] = {"value": value, "met": bool(value is not None and ok(value))}

    put("c2st_quarter <= 0.80", w.get("c2st_quarter"), lambda v: v <= 0.80)
    put("c2st_full <= 0.95", w.get("c2st_full"), lambda v: v <= 0.95)
    fd_before = (before or {}).get("whole", {}).get("frechet")
    out["frechet <= before / 2"] = {"value": w.get("frechet"), "before": fd_before,
                                    "met": bool(fd_before and w.get("frechet") is not None
                                                and w["frechet"] <= fd_before / 2)}
    put("upright never-seen within 35%", n.get("upright_ratio"), lambda v: abs(v - 1) <= 0.35)
    ct = n.get("copy_share_true")
    out["copy never-seen <= 2x true"] = {"value": n.get("copy_share"), "true": ct,
                                         "met": bool(n.get("copy_share") is not None and ct is not None
                                                     and n["copy_share"] <= max(2 * ct, 0.005))}
    for region, row in (("whole", w), ("never_seen", n)):
        for k in ("rows", "cols"):
            put(f"streak_{k} {region} within 20%", row.get(f"streak_{k}_ratio"), lambda v: abs(v - 1) <= 0.20)
    return out


# -- pictures ---------------------------------------------------------------------------------------------------
def contact_sheet(s: PathSamples, out_png: Path, zoom: int = 2) -> None:
    """True (top row) over generated (bottom row) at the sheet's ticks, pixels doubled."""
    from PIL import Image, ImageDraw
    ticks = sorted(s.sheet)
    h, w = s.start_rgb.shape[:2]
    H, W = h * zoom, w * zoom
    img = Image.new("RGB", (len(ticks) * (W + 4) + 70, 2 * H + 40), (20, 20, 24))
    d = ImageDraw.Draw(img)
    d.text((4, 4), f"{s.name}: {s.kind}, {s.biome}, {s.distance_m:.0f} m, {math.degrees(s.turned_rad):.0f} deg",
           fill=(235, 235, 235))
    d.text((4, 22 + H // 2), "true", fill=(200, 200, 200))
    d.text((4, 36 + H + H // 2), "generated", fill=(200, 200, 200))
    for k, t in enumerate(ticks):
        x = 70 + k * (W + 4)
        d.text((x + 2, 18 + 2 * H + 6), f"t={t}", fill=(230, 230, 230))
        true, gen = s.sheet[t]
        img.paste(Image.fromarray(true).resize((W, H), Image.NEAREST), (x, 18))
        img.paste(Image.fromarray(gen).resize((W, H), Image.NEAREST), (x, 20 + H))
    img.save(out_png)


def plot_summary(summary: dict, out_png: Path, title: str = "") -> None:
    """Left: C2ST accuracy with its calibration; right: generated-over-true ratios (1 = like the truth)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.2))
    labels, x = [], 0
    for region in ("whole", "never_seen"):
        row = summary.get(region, {})
        for scale in ("full", "quarter"):
            vals = [row.get(f"c2st_{scale}{s}") for s in ("", "_true_vs_true", "_true_vs_blurred")]
            for j, (v, c) in enumerate(zip(vals, ("tab:red", "tab:gray", "tab:blue"))):
                a1.bar(x + j * 0.27, v if v is not None else 0, 0.25, color=c,
                       label=("generated", "true vs true", "true vs blurred")[j] if x == 0 else None)
            labels.append(f"{region}\n{scale}")
            x += 1
    a1.axhline(0.5, color="k", lw=0.8)
    a1.set(xticks=np.arange(x) + 0.27, xticklabels=labels, ylim=(0.4, 1.0), ylabel="C2ST accuracy",
           title="classifier two-sample test (0.5: indistinguishable)")
    a1.legend(fontsize=8)
    keys = ("top_octave_ratio", "upright_ratio", "streak_rows_ratio", "streak_cols_ratio")
    for j, region in enumerate(("whole", "never_seen")):
        vals = [summary.get(region, {}).get(k) for k in keys]
        a2.bar(np.arange(len(keys)) + j * 0.4, [v if v is not None else 0 for v in vals], 0.38, label=region)
    a2.axhline(1.0, color="k", lw=0.8)
    a2.set(xticks=np.arange(len(keys)) + 0.2, xticklabels=[k.replace("_ratio", "") for k in keys],
           ylabel="generated / true", title="spectrum, structure, streaks")
    a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def write_report(report: dict, out_json: Path) -> None:
    from ..files import atomic_write_text

    def clean(v):            # a figure with no pixels behind it is null, never NaN
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    atomic_write_text(out_json, json.dumps(clean(report), indent=1))


def run_explore(checkpoint, paths=None, out_json=None, out_png=None, sheets_dir=None, before_json=None,
                show_progress: bool = True, invent: bool | None = None, settle: bool = True, sample_every: int = 8,
                short: bool = False, limit: int | None = None, c2st_steps: tuple = (600, 2000),
                samples_dir=None, drawer=None) -> dict:
    """The explore suite (or the given action logs) on a checkpoint; returns the report dict.

    c2st_steps: the classifiers' least training steps at full and quarter scale (tests make them tiny).
    samples_dir: keep each path's samples there, and reuse those made by the same weights, rules, path and
    sampling (so the measures can be rerun without generating again). drawer: a trained drawer (drawer.py,
    `worldloop train-drawer`) that draws what is due after the network."""
    import tempfile

    import moderngl
    import torch
    from tqdm import tqdm

    from ..files import sha256_file
    from ..procedural.render import GroundTruthRenderer
    from ..procedural.spec import spec_from_dict
    from .checkpoint import model_id, paths as ckpt_paths
    from .generator import NeuralGenerator, TorchNet, load_torch_net
    torch.set_num_threads(2)
    cfg, net, side = load_torch_net(checkpoint)
    net_fn = TorchNet(net)
    draw_fn, drawer_sha = None, None
    if drawer is not None:
        from .generator import TorchDrawer
        from .train_drawer import load_drawer
        draw_fn = TorchDrawer(load_drawer(drawer)[0])
        drawer_sha = sha256_file(Path(drawer).with_suffix(".safetensors"))
    tmp = None
    if paths is None:
        tmp = tempfile.TemporaryDirectory()
        build_explore_suite(tmp.name, cfg.tick_hz, short=short, limit=limit)
        paths = tmp.name
    before = None
    if before_json:
        before = json.loads(Path(before_json).read_text()).get("summary")
    weights_sha = sha256_file(ckpt_paths(checkpoint)[0])
    if samples_dir is not None:
        samples_dir = Path(samples_dir)
        samples_dir.mkdir(parents=True, exist_ok=True)
    ctx = moderngl.create_standalone_context(backend="egl")
    samples = []
    try:
        for f, log in tqdm(read_paths(paths), desc="explore", unit="path", disable=not show_progress):
            key = {"weights_sha256": weights_sha, "invent": invent, "settle": settle,
                   **({"drawer_sha256": drawer_sha} if drawer_sha else {}),
                   "sample_every": sample_every, "path_sha256": sha256_file(f)}
            cached = samples_dir / f"{f.stem}.npz" if samples_dir is not None else None
            got = load_samples(cached, key) if cached is not None else None
            if got is None:
                r = GroundTruthRenderer(spec_from_dict(log.scene, str(f)), ctx=ctx)
                try:
                    got = run_path(lambda: NeuralGenerator(cfg, net_fn, invent, settle, draw_fn), cfg, log, r, f.stem,
                                   sample_every)
                finally:
                    r.release()
                if cached is not None:
                    save_samples(got, cached, key)
            samples.append(got)
    finally:
        ctx.release()
    summary = measure(samples, show=(lambda m: tqdm.write(m)) if show_progress else (lambda m: None),
                      c2st_steps=c2st_steps)
    report = {"format": "worldloop.eval_explore", "version": 1, "checkpoint": str(ckpt_paths(checkpoint)[1]),
              "model_id": model_id(side), "weights_sha256": sha256_file(ckpt_paths(checkpoint)[0]),
              "suite": "explore" if tmp is not None else None,
              "invent": False if drawer is not None else cfg.exemplar_fill if invent is None else invent,
              "drawer": str(drawer) if drawer is not None else None, "drawer_sha256": drawer_sha,
            "settle": cfg.settle if settle else "none",
              "sample_every": sample_every, "summary": summary, "targets": check_targets(summary, before),
              "paths": [per_path(s) for s in samples]}
    if out_json:
        write_report(report, Path(out_json))
    if out_png:
        plot_summary(summary, Path(out_png), f"{Path(str(checkpoint)).name}: explore suite")
    if sheets_dir:
        Path(sheets_dir).mkdir(parents=True, exist_ok=True)
        for s in samples:
            contact_sheet(s, Path(sheets_dir) / f"{s.name}.png")
    if tmp is not None:
        tmp.cleanup()
    return report
