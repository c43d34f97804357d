"""Open-loop evaluation against exact ground truth, with two baselines, and the standard suite of paths.

For each path the generator starts from the ground-truth RGB-D frame at the start pose and runs the actions
open loop; ground truth is rendered at the same poses. At t in MEASURE_STEPS: PSNR and SSIM over all pixels,
over pixels seen before (visible in an earlier ground-truth frame of the path) and over newly revealed ones;
the same for the baselines "copy" (the start frame, the last frame an open-loop method is given) and
"warpchain" (each frame warped from the previous one with ground-truth depth by the model's own warp, holes
kept from the previous frame); a sharpness ratio and the mean-colour error. Loops add PSNR at the return and
self-consistency (the return frame against the generated frame at the same pose on the first visit).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..actionlog import ActionLog, read_action_log, write_action_log
from ..poses import Action, Frame, Pose, apply_action
from ..procedural.noise import hash_ints
from ..procedural.spec import BIOMES, biome_default, spec_from_dict
from .config import ModelConfig
from .geometry import Camera, warp
from .metrics import mean_colour_error, psnr, sharpness, ssim
from .step import rgb_to_float, rgb_to_uint8

MEASURE_STEPS = (1, 4, 16, 64, 256, 1024)
SUITE_SEED = 4_242_424   # the standard suite's scenes: seeds never used by training or validation


class EvalError(RuntimeError):
    """Evaluation found something that must fail the run (NaN or Inf in a generated frame)."""


def path_poses(cfg: ModelConfig, log: ActionLog) -> tuple[list[Pose], list[np.ndarray]]:
    """The poses the generator reaches (actions clamped to its trained range) and the clamped actions."""
    acts = [cfg.clamp_action(a.as_array()) for a in log.actions]
    poses = [log.start]
    for a in acts:
        poses.append(apply_action(poses[-1], Action.from_array(a)))
    return poses, acts


def visible_in(cam: Camera, pts: np.ndarray, depth: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(shown, distance): which world points (N, 3) the true frame (depth, pose) shows (inside the view and
    not hidden: its depth there agrees within 3% + 5 cm), and how far from that camera each is."""
    h, w = depth.shape
    u, v, z = cam.project(pts, pose)
    ui, vi = np.floor(u).astype(int), np.floor(v).astype(int)
    ok = (z > 0.05) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    ref = np.zeros_like(z)
    ref[ok] = depth[vi[ok], ui[ok]]
    return ok & (np.abs(ref - z) < 0.03 * z + 0.05), z


def seen_before(cam: Camera, depths: list[np.ndarray], poses: list[Pose], t: int, max_checks: int = 96):
    """(H, W) bool: pixels of ground-truth frame t whose surface is visible in an earlier frame."""
    pts = cam.points_world(depths[t], poses[t])
    seen = np.zeros(len(pts), bool)
    stride = max(1, t // max_checks)
    for s in range(0, t, stride):
        seen |= visible_in(cam, pts, depths[s], poses[s])[0]
    return seen.reshape(cam.intr.height, cam.intr.width)


def warp_chain(cam: Camera, gt_rgb, gt_depth, poses) -> list[np.ndarray]:
    """The baseline that warps its own previous frame with ground-truth depth; holes keep the old pixel."""
    out = [gt_rgb[0]]
    for t in range(1, len(poses)):
        prev = rgb_to_float(out[-1])
        wp = warp(cam, prev, gt_depth[t - 1], poses[t - 1], poses[t])
        out.append(rgb_to_uint8(np.where(wp.valid[..., None], wp.rgb, prev)))
    return out


def _scores(gen, gt, seen) -> dict:
    return {"psnr": psnr(gen, gt), "ssim": ssim(gen, gt), "psnr_seen": psnr(gen, gt, seen),
            "psnr_new": psnr(gen, gt, ~seen), "ssim_seen": ssim(gen, gt, seen), "ssim_new": ssim(gen, gt, ~seen)}


def evaluate_path(make_generator, cfg: ModelConfig, log: ActionLog, render) -> dict:
    """Metrics of one path. make_generator() -> an object with start(Frame) and step(action) -> Frame;
    render(spec, poses) -> (rgb (T, H, W, 3) uint8, depth (T, H, W))."""
    cam = Camera(cfg.intrinsics)
    spec = spec_from_dict(log.scene, "<path scene>")
    poses, acts = path_poses(cfg, log)
    gt_rgb, gt_depth = render(spec, poses)
    gen = make_generator()
    frames = [gen.start(Frame(gt_rgb[0], gt_depth[0], poses[0])).rgb]
    for a in acts:
        try:
            f = gen.step(a)
        except FloatingPointError as e:
            raise EvalError(f"tick {len(frames)}: {e}") from None
        if not np.isfinite(f.depth).all():
            raise EvalError(f"tick {len(frames)}: non-finite depth")
        frames.append(f.rgb)
    chain = warp_chain(cam, gt_rgb, list(gt_depth), poses)
    result = {"kind": log.kind, "category": log.meta.get("category", log.kind), "ticks": len(acts), "steps": {}}
    for t in [t for t in MEASURE_STEPS if t <= len(acts)]:
        seen = seen_before(cam, list(gt_depth), poses, t)
        row = {"model": _scores(frames[t], gt_rgb[t], seen), "copy": _scores(gt_rgb[0], gt_rgb[t], seen),
               "warpchain": _scores(chain[t], gt_rgb[t], seen), "seen_fraction": float(seen.mean()),
               "sharpness_ratio": sharpness(frames[t]) / max(sharpness(gt_rgb[t]), 1e-6),
               "mean_colour_error": mean_colour_error(frames[t], gt_rgb[t])}
        result["steps"][str(t)] = row
    end, start = poses[-1], poses[0]
    if len(acts) and math.hypot(end.x - start.x, end.z - start.z) < 1e-6 and \
            abs(math.remainder(end.yaw - start.yaw, 2 * math.pi)) < 1e-6 and abs(end.pitch - start.pitch) < 1e-6:
        result["loop"] = {"psnr_return": psnr(frames[-1], gt_rgb[-1]),
                          "self_consistency": psnr(frames[-1], frames[0]),
                          "copy_return": psnr(gt_rgb[0], gt_rgb[-1])}
    result["frames"] = frames            # dropped before writing JSON; kept for pictures
    result["gt"] = gt_rgb
    return result


def aggregate(results: list[dict]) -> dict:
    """Means per measured step (over the paths that reach it), per category for loops."""
    summary: dict = {"steps": {}}
    for t in MEASURE_STEPS:
        rows = [r["steps"][str(t)] for r in results if str(t) in r["steps"]]
        if not rows:
            continue
        s = {"paths": len(rows)}
        for who in ("model", "copy", "warpchain"):
            for k in ("psnr", "ssim", "psnr_seen", "psnr_new", "ssim_seen", "ssim_new"):
                vals = [row[who][k] for row in rows if not math.isnan(row[who][k])]
                s[f"{who}_{k}"] = float(np.mean(vals)) if vals else float("nan")
        s["sharpness_ratio"] = float(np.mean([row["sharpness_ratio"] for row in rows]))
        s["mean_colour_error"] = float(np.max([row["mean_colour_error"] for row in rows]))
        summary["steps"][str(t)] = s
    loops: dict = {}
    for r in results:
        if "loop" in r:
            loops.setdefault(r["category"], []).append(r["loop"])
    summary["loops"] = {c: {k: float(np.mean([x[k] for x in v])) for k in v[0]} | {"paths": len(v)}
                        for c, v in loops.items()}
    return summary


def check_targets(summary: dict, step_ms: float | None = None) -> dict:
    """The world-model issue's targets, each with its measured value and whether it is met."""
    st, loops = summary["steps"], summary["loops"]
    out = {}

    def put(name, value, ok):
        out[name] = {"value": value, "met": bool(ok) if value is not None and not math.isnan(value) else False}

    if "1" in st:
        put("psnr_t1 >= 30", st["1"]["model_psnr"], st["1"]["model_psnr"] >= 30)
    if "16" in st:
        gain = st["16"]["model_psnr"] - st["16"]["copy_psnr"]
        put("psnr_t16 - copy >= 3", gain, gain >= 3)
    if "256" in st:
        put("psnr_seen_t256 >= 25", st["256"]["model_psnr_seen"], st["256"]["model_psnr_seen"] >= 25)
        put("sharpness_t256 >= 0.7", st["256"]["sharpness_ratio"], st["256"]["sharpness_ratio"] >= 0.7)
    for cat in ("spin", "loop256"):
        if cat in loops:
            v = loops[cat]["self_consistency"]
            put(f"self_consistency_{cat} >= 28", v, v >= 28)
    if "1024" in st:
        put("psnr_t1024 >= 15", st["1024"]["model_psnr"], st["1024"]["model_psnr"] >= 15)
        put("colour_t1024 <= 0.10", st["1024"]["mean_colour_error"], st["1024"]["mean_colour_error"] <= 0.10)
    if step_ms is not None:
        put("step_ms <= 25", step_ms, step_ms <= 25)
    return out


# -- the standard suite ---------------------------------------------------------------------------------------
SUITE = (("straight", 0), ("straight", 1), ("turn", 2), ("turn", 3), ("spin", 4), ("spin", 5),
         ("loop16", 0), ("loop16", 6), ("loop64", 1), ("loop64", 3), ("loop256", 2), ("loop256", 5),
         ("wander", 0))


def suite_spec(biome_index: int):
    biome = BIOMES[biome_index % len(BIOMES)]
    return biome_default(biome, int(hash_ints(SUITE_SEED, biome_index) % np.uint64(2**31 - 1)))


def build_standard_suite(out_dir, tick_hz: float = 30.0) -> list[Path]:
    """Write the standard suite's action logs (deterministic, held-out seeds) into out_dir."""
    from ..procedural.trajectories import MotionConfig, Walker, loop_path, random_walk
    from ..procedural.world import World
    out_dir = Path(out_dir)
    motion = MotionConfig(tick_hz=tick_hz)
    dt = 1.0 / tick_hz
    written = []
    for n, (cat, b) in enumerate(SUITE):
        spec = suite_spec(b)
        world = World(spec)
        start = world.spawn_pose()
        rng = np.random.default_rng([SUITE_SEED, n])
        if cat == "straight":
            w = Walker(world, start, motion, "eval")
            s, c = math.sin(start.yaw), math.cos(start.yaw)
            vel = (-s * motion.walk_mps * dt, -c * motion.walk_mps * dt)
            w.vel[:] = vel                      # already walking at the first tick
            for _ in range(64):
                w.step(vel, 0.0, 0.0)
            traj = w.traj
        elif cat == "turn":
            w = Walker(world, start, motion, "eval")
            w.yaw_rate = rate = (-1) ** n * 0.8 * motion.turn_rps * dt   # already turning at the first tick
            for _ in range(48):
                w.step((0.0, 0.0), rate, 0.0)
            traj = w.traj
        elif cat == "wander":
            traj = random_walk(world, start, 1024, rng, motion)
        else:
            ticks = {"spin": 136, "loop16": 16, "loop64": 64, "loop256": 256}[cat]
            style = {"spin": "spin", "loop16": "out_back", "loop64": "out_back", "loop256": "abA"}[cat]
            traj = loop_path(world, start, ticks, rng, motion, style=style)
        log = ActionLog(spec.to_dict(), traj.start, traj.actions, tick_hz, "eval",
                        {"category": cat, "suite": "standard"})
        path = out_dir / f"{n:02d}_{cat}_{spec.biome}.ndjson"
        write_action_log(log, path)
        written.append(path)
    return written


def read_paths(paths) -> list[tuple[Path, ActionLog]]:
    """An action log or a folder of them (*.ndjson, sorted)."""
    p = Path(paths)
    files = sorted(p.glob("*.ndjson")) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"{p}: no action logs (*.ndjson)")
    return [(f, read_action_log(f)) for f in files]


def write_report(results: list[dict], summary: dict, targets: dict, out_json: Path, meta: dict) -> None:
    from ..files import atomic_write_text
    clean = [{k: v for k, v in r.items() if k not in ("frames", "gt")} for r in results]
    report = {"format": "worldloop.eval", "version": 1, **meta, "summary": summary, "targets": targets,
              "paths": clean}
    atomic_write_text(out_json, json.dumps(report, indent=1))


def plot_report(summary: dict, out_png: Path, title: str = "") -> None:
    """PSNR against tick for the model and both baselines: all pixels, seen before, newly revealed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ts = sorted(int(t) for t in summary["steps"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, key, name in zip(axes, ("psnr", "psnr_seen", "psnr_new"), ("all pixels", "seen before", "newly revealed")):
        for who, style in (("model", "o-"), ("warpchain", "s--"), ("copy", "^:")):
            ax.plot(ts, [summary["steps"][str(t)][f"{who}_{key}"] for t in ts], style, label=who)
        ax.set(xscale="log", xlabel="tick", title=name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR dB")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def loop_strip(result: dict, out_png: Path, every: int = 16) -> None:
    """Generated frames (top) against ground truth (bottom) every `every` ticks along a path."""
    from PIL import Image, ImageDraw
    frames, gt = result["frames"], result["gt"]
    ticks = list(range(0, len(frames), every))
    if ticks[-1] != len(frames) - 1:
        ticks.append(len(frames) - 1)
    h, w = gt[0].shape[:2]
    img = Image.new("RGB", (len(ticks) * (w + 2), 2 * h + 18), (20, 20, 24))
    draw = ImageDraw.Draw(img)
    for k, t in enumerate(ticks):
        x = k * (w + 2)
        draw.text((x + 2, 2), f"t={t}", fill=(230, 230, 230))
        img.paste(Image.fromarray(frames[t]), (x, 16))
        img.paste(Image.fromarray(gt[t]), (x, 18 + h))
    img.save(out_png)


def run_eval(checkpoint, paths=None, suite: str | None = None, out_json=None, out_png=None, strip_png=None,
             show_progress: bool = True, invent: bool | None = None, settle: bool = True) -> dict:
    """Evaluate a checkpoint on action logs (a file or folder) or on a named suite; returns the report dict."""
    import tempfile

    import moderngl
    import torch
    from tqdm import tqdm

    from ..files import sha256_file
    from ..procedural.render import GroundTruthRenderer
    from .checkpoint import model_id, paths as ckpt_paths
    from .generator import NeuralGenerator, TorchNet, load_torch_net
    torch.set_num_threads(2)
    cfg, net, side = load_torch_net(checkpoint)
    net_fn = TorchNet(net)
    tmp = None
    if suite is not None:
        if suite != "standard":
            raise ValueError(f"unknown suite '{suite}' (known: standard)")
        tmp = tempfile.TemporaryDirectory()
        build_standard_suite(tmp.name, cfg.tick_hz)
        paths = tmp.name
    logs = read_paths(paths)
    ctx = moderngl.create_standalone_context(backend="egl")
    renderers: dict[str, GroundTruthRenderer] = {}

    def render(spec, poses):
        key = spec.hash()
        if key not in renderers:
            renderers[key] = GroundTruthRenderer(spec, ctx=ctx)
        return renderers[key].render_batch(poses, cfg.intrinsics)

    results = []
    for f, log in tqdm(logs, desc="evaluating", unit="path", disable=not show_progress):
        r = evaluate_path(lambda: NeuralGenerator(cfg, net_fn, invent, settle), cfg, log, render)
        r["path"] = f.name
        results.append(r)
    for r in renderers.values():
        r.release()
    ctx.release()
    summary = aggregate(results)
    targets = check_targets(summary)
    meta = {"checkpoint": str(ckpt_paths(checkpoint)[1]), "model_id": model_id(side),
            "weights_sha256": sha256_file(ckpt_paths(checkpoint)[0]), "suite": suite, "paths_given": str(paths)
            if suite is None else None, "invent": cfg.exemplar_fill if invent is None else invent,
            "settle": cfg.settle if settle else "none"}
    if out_json:
        write_report(results, summary, targets, Path(out_json), meta)
    if out_png:
        plot_report(summary, Path(out_png), f"{Path(str(checkpoint)).name}: {suite or paths}")
    if strip_png:
        loops = [r for r in results if r["category"] == "loop256"] or [r for r in results if "loop" in r]
        if loops:
            loop_strip(loops[0], Path(strip_png))
    if tmp is not None:
        tmp.cleanup()
    return {"summary": summary, "targets": targets, "results": results}
