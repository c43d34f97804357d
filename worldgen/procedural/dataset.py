"""Dataset shards: one scene each, frames of RGB-D along player-like trajectories, loadable with numpy alone.

Layout of a dataset folder (docs/formats.md has every field):
    manifest.json                 what the dataset is and which shards it holds
    scene_00003.npz               rgb, depth, pose, action, episode, ... (np.savez, no pickle)
    scene_00003.json              the shard's sidecar: its sha256 and counts; written last, so its presence
                                  marks the shard finished (a resumed run skips it)
    paths/scene_00003_ep000.ndjson  each episode as an action log
"""
from __future__ import annotations

import json
import multiprocessing as mp
import queue
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import FileRefused
from ..actionlog import ActionLog, write_action_log
from ..files import atomic_write_text, clean_stale_temps, read_json, read_npz, replacing, sha256_file
from ..poses import Action, Intrinsics, Pose, apply_action
from .noise import hash_ints, seed_rng
from .spec import BIOMES, SceneSpec, biome_default, inside_folder, spec_from_toml
from .trajectories import MotionConfig, Trajectory, loop_path, orbit, random_walk

FORMAT = "worldloop.dataset"
SHARD_FORMAT = "worldloop.shard"
VERSION = 1
RENDER_BATCH = 64


class DatasetError(FileRefused):
    """A dataset folder or shard that fails validation; the message names the file and the field."""


@dataclass(frozen=True)
class DatasetConfig:
    scenes: int = 8
    frames_per_scene: int = 1000
    res: int = 128
    fov_y_deg: float = 70.0
    base_seed: int = 0
    motion: MotionConfig = MotionConfig()

    def scene_spec(self, index: int) -> SceneSpec:
        """Scene `index` of the dataset: biomes in turn, seeds hashed from the base seed."""
        seed = int(hash_ints(self.base_seed, index, 0xDA7A) % np.uint64(2**31 - 1))
        return biome_default(BIOMES[index % len(BIOMES)], seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)


def plan_trajectories(world, frames: int, rng: np.random.Generator, motion: MotionConfig) -> list[Trajectory]:
    """Trajectories whose frames (start pose included) add up to exactly `frames`; about half are loops."""
    out: list[Trajectory] = []
    pose = world.spawn_pose()
    total = 0
    while total < frames:
        left = frames - total
        choice = rng.random()
        traj = None
        if left >= 17 and choice < 0.5:
            n = int(min(left - 1, rng.choice([16, 32, 64, 128, 256, 512])))
            traj = loop_path(world, pose, max(n, 16), rng, motion)
            if traj is not None and len(traj.poses) > left:
                traj = None
        elif left >= 17 and choice < 0.65:
            traj = orbit(world, pose, int(min(left - 1, rng.integers(64, 400))), rng, motion)
        if traj is None:
            traj = random_walk(world, pose, int(min(left - 1, rng.integers(64, 600))), rng, motion)
        out.append(traj)
        total += len(traj.poses)
        if traj.kind != "orbit":
            pose = traj.poses[-1]
    return out


def build_scene_shard(cfg: DatasetConfig, index: int, out_dir: Path, renderer_factory, progress=None) -> dict:
    """Render scene `index` into out_dir/scene_XXXXX.npz plus its sidecar and action logs; returns the sidecar."""
    spec = cfg.scene_spec(index)
    renderer = renderer_factory(spec)
    world = renderer.world
    rng = seed_rng(cfg.base_seed, index, 0x7EA)
    trajs = plan_trajectories(world, cfg.frames_per_scene, rng, cfg.motion)
    intr = Intrinsics(cfg.res, cfg.res, cfg.fov_y_deg)
    poses = [p for t in trajs for p in t.poses]
    actions = np.zeros((len(poses), 5), np.float64)
    episode = np.zeros(len(poses), np.uint32)
    row = 0
    name = f"scene_{index:05d}"
    for e, t in enumerate(trajs):
        n = len(t.poses)
        actions[row + 1:row + n] = t.actions_array()
        episode[row:row + n] = e
        row += n
        log = ActionLog(spec.to_dict(), t.start, t.actions, cfg.motion.tick_hz, t.kind,
                        {"dataset_scene": index, "episode": e})
        write_action_log(log, out_dir / "paths" / f"{name}_ep{e:03d}.ndjson")
    rgb = np.zeros((len(poses), cfg.res, cfg.res, 3), np.uint8)
    depth = np.zeros((len(poses), cfg.res, cfg.res), np.float32)
    for s in range(0, len(poses), RENDER_BATCH):
        rgb[s:s + RENDER_BATCH], depth[s:s + RENDER_BATCH] = renderer.render_batch(poses[s:s + RENDER_BATCH], intr)
        if progress:
            progress(min(RENDER_BATCH, len(poses) - s))
    renderer.release()
    meta = {"format": SHARD_FORMAT, "version": VERSION, "scene_index": index, "tick_hz": cfg.motion.tick_hz,
            "spec_hash": spec.hash(), "motion": asdict(cfg.motion)}
    with replacing(out_dir / f"{name}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, rgb=rgb, depth=depth, pose=np.array([p.as_array() for p in poses]), action=actions,
                 episode=episode, episode_kind=np.array([t.kind for t in trajs]),
                 intrinsics=np.array([intr.width, intr.height, intr.fov_y_deg], np.float64),
                 scene_toml=np.array(spec.to_toml()), meta_json=np.array(json.dumps(meta)))
    sidecar = {"format": SHARD_FORMAT, "version": VERSION, "file": f"{name}.npz", "scene_index": index,
               "biome": spec.biome, "seed": spec.seed, "spec_hash": spec.hash(), "frames": len(poses),
               "episodes": len(trajs), "loops": sum(t.kind == "loop" for t in trajs),
               "sha256": sha256_file(out_dir / f"{name}.npz")}
    atomic_write_text(out_dir / f"{name}.json", json.dumps(sidecar, indent=1))
    return sidecar


@dataclass
class Shard:
    rgb: np.ndarray        # (F, H, W, 3) uint8
    depth: np.ndarray      # (F, H, W) float32, metres
    pose: np.ndarray       # (F, 5) float64 x, y, z, yaw, pitch
    action: np.ndarray     # (F, 5) float64: action[i] takes pose[i-1] to pose[i]; zero at an episode start
    episode: np.ndarray    # (F,) uint32
    episode_kind: np.ndarray
    intrinsics: Intrinsics
    spec: SceneSpec
    meta: dict


MAX_SHARD_ENTRY_BYTES = 4 << 30   # 20,000 frames at 128x128
SHARD_KEYS = ("rgb", "depth", "pose", "action", "episode", "episode_kind", "intrinsics", "scene_toml", "meta_json")


def load_shard(path) -> Shard:
    """Load a shard with numpy alone (allow_pickle=False); a wrong file raises DatasetError."""
    path = Path(path)
    d = read_npz(path, DatasetError, MAX_SHARD_ENTRY_BYTES, SHARD_KEYS)
    try:
        meta = json.loads(str(d["meta_json"]))
    except (ValueError, RecursionError, SystemError):
        raise DatasetError(f"{path}: field meta_json is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != SHARD_FORMAT or \
            not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise DatasetError(f"{path}: field meta_json: not a {SHARD_FORMAT} version <= {VERSION}")
    n = len(d["pose"]) if d["pose"].ndim == 2 else -1
    for key, ndim in (("rgb", 4), ("depth", 3), ("pose", 2), ("action", 2), ("episode", 1)):
        if d[key].ndim != ndim or len(d[key]) != n or d[key].dtype.kind not in "fiu":
            raise DatasetError(f"{path}: field {key} has shape {d[key].shape} and type {d[key].dtype}, which do "
                               f"not fit the others")
    if d["episode_kind"].ndim != 1 or d["episode_kind"].dtype.kind != "U":
        raise DatasetError(f"{path}: field episode_kind must be a list of names")
    if d["intrinsics"].shape != (3,) or not np.isfinite(d["intrinsics"]).all():
        raise DatasetError(f"{path}: field intrinsics must be three numbers")
    w, h, fov = d["intrinsics"]
    return Shard(d["rgb"], d["depth"], d["pose"], d["action"], d["episode"], d["episode_kind"],
                 Intrinsics(int(w), int(h), float(fov)), spec_from_toml(str(d["scene_toml"]), f"{path}:scene_toml"),
                 meta)


def write_manifest(out_dir: Path, cfg: DatasetConfig) -> dict:
    """Gather every finished shard's sidecar into manifest.json."""
    shards = sorted((json.loads(p.read_text()) for p in out_dir.glob("scene_*.json")),
                    key=lambda s: s["scene_index"])
    manifest = {"format": FORMAT, "version": VERSION, "config": cfg.to_dict(), "shards": shards,
                "frames": sum(s["frames"] for s in shards), "complete": len(shards) == cfg.scenes}
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def check_shard(path: Path, expect: dict, res: int) -> list[str]:
    """Problems found in one shard (empty when it is sound)."""
    problems = []
    if sha256_file(path) != expect.get("sha256"):
        return [f"{path}: sha256 does not match the manifest (file changed or truncated)"]
    try:
        s = load_shard(path)
    except DatasetError as e:
        return [str(e)]
    f = len(s.pose)
    shapes = {"rgb": (f, res, res, 3), "depth": (f, res, res), "action": (f, 5), "episode": (f,)}
    for key, shape in shapes.items():
        if getattr(s, key).shape != shape:
            problems.append(f"{path}: field {key} has shape {getattr(s, key).shape}, expected {shape}")
    if problems:
        return problems
    if s.rgb.dtype != np.uint8 or s.depth.dtype != np.float32:
        problems.append(f"{path}: rgb must be uint8 and depth float32")
    if not np.isfinite(s.depth).all() or (s.depth <= 0).any():
        problems.append(f"{path}: field depth has non-finite or non-positive values")
    if f != expect.get("frames"):
        problems.append(f"{path}: {f} frames, manifest says {expect.get('frames')}")
    for i in range(1, f):  # every pose follows from the one before by its action
        if s.episode[i] == s.episode[i - 1]:
            p = apply_action(Pose.from_array(s.pose[i - 1]), Action.from_array(s.action[i]))
            if not np.array_equal(p.as_array(), s.pose[i]):
                problems.append(f"{path}: frame {i}: pose does not follow from the previous pose and action")
                break
    return problems


def check_dataset(root) -> tuple[dict, list[str]]:
    """Validate manifest.json and every shard it lists; returns (manifest, problems)."""
    root = Path(root)
    mpath = root / "manifest.json"
    manifest = read_json(mpath, DatasetError, "no manifest (is this a dataset folder?)")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or \
            not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise DatasetError(f"{mpath}: field format/version: not a {FORMAT} version <= {VERSION}")
    config, shards = manifest.get("config"), manifest.get("shards")
    if not isinstance(config, dict) or not isinstance(config.get("res"), int) or not 8 <= config["res"] <= 2048 \
            or not isinstance(config.get("scenes"), int):
        raise DatasetError(f"{mpath}: field config: expected a table with res (8 to 2048) and scenes")
    if not isinstance(shards, list) or not all(isinstance(sh, dict) for sh in shards):
        raise DatasetError(f"{mpath}: field shards: expected a list of tables")
    res = config["res"]
    problems = []
    if not manifest.get("complete"):
        problems.append(f"{mpath}: only {len(shards)} of {config['scenes']} scenes "
                        f"are finished (run data gen again to resume)")
    for i, sh in enumerate(shards):
        problems += check_shard(inside_folder(mpath, f"shards[{i}].file", sh.get("file"), DatasetError), sh, res)
    return manifest, problems


def shard_indices(scenes: int, shard: str | None) -> list[int]:
    """Scene indices this process renders: all, or those with index % N == i for --shard i/N."""
    if not shard:
        return list(range(scenes))
    try:
        i, n = (int(v) for v in shard.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise DatasetError(f"--shard must look like i/N with 0 <= i < N, got {shard!r}") from None
    return [k for k in range(scenes) if k % n == i]


def pending_scenes(out_dir: Path, indices: list[int]) -> list[int]:
    return [k for k in indices if not (out_dir / f"scene_{k:05d}.json").exists()]


_WORKER: dict = {}     # a worker process's progress queue and stop event (set by _init_worker)


class _Stopped(Exception):
    """The parent was interrupted: a worker leaves its scene unfinished (its shard is written whole or not)."""


def _init_worker(progress_q, stop_event) -> None:
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM):   # a Ctrl-C at the terminal reaches every process: the
        signal.signal(sig, signal.SIG_IGN)         # parent decides, and tells the workers by the event
    _WORKER.update(q=progress_q, stop=stop_event)


def _render_scene_worker(cfg: DatasetConfig, index: int, out_dir: str) -> dict:
    """Process entry point: one EGL context per worker process."""
    from .render import GroundTruthRenderer

    def progress(n):
        if _WORKER["stop"].is_set():
            raise _Stopped
        _WORKER["q"].put(n)
    return build_scene_shard(cfg, index, Path(out_dir), GroundTruthRenderer, progress)


def generate(cfg: DatasetConfig, out_dir, shard: str | None = None, workers: int = 1, show_progress=True) -> dict:
    """Render every pending scene of this shard into out_dir, then rewrite the manifest."""
    from tqdm import tqdm
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out_dir)                # shards a killed run left half-written
    mpath = out_dir / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text()).get("config")
        if old != json.loads(json.dumps(cfg.to_dict())):
            raise DatasetError(f"{mpath}: this folder holds a dataset made with other settings ({old}); "
                               f"choose another --out or the same settings")
    todo = pending_scenes(out_dir, shard_indices(cfg.scenes, shard))
    bar = tqdm(total=len(todo) * cfg.frames_per_scene, unit="frame", disable=not show_progress,
               desc=f"rendering {len(todo)} scene(s)", smoothing=0.1)
    if workers <= 1 or len(todo) <= 1:
        from .render import GroundTruthRenderer
        for k in todo:
            build_scene_shard(cfg, k, out_dir, GroundTruthRenderer, bar.update)
    else:
        ctx = mp.get_context("spawn")
        q, stop = ctx.Queue(), ctx.Event()
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(q, stop))
        try:
            futures = [pool.submit(_render_scene_worker, cfg, k, str(out_dir)) for k in todo]
            while not all(f.done() for f in futures) or not q.empty():
                try:
                    bar.update(q.get(timeout=0.2))
                except queue.Empty:
                    pass
            for f in futures:
                f.result()  # re-raise a worker's error here
        except BaseException:           # Ctrl-C or a worker's error: the others stop within a render batch
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            raise
        pool.shutdown()
    bar.close()
    return write_manifest(out_dir, cfg)
