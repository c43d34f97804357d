"""Training: teacher forcing with noise on the context and memory dropout, then rollouts on the model's own
outputs for growing horizons. Resumable; runs alone or under torchrun with DistributedDataParallel (gloo).

`worldloop train --config CONFIG.toml` calls `train(load_train_config(path))`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_write_text, read_toml, sha256_file
from ..poses import Frame, Pose
from ..procedural.dataset import DatasetConfig, generate, load_shard
from .checkpoint import save_checkpoint
from .config import ModelConfig
from .geometry import Camera
from .memory import SPARSE, overlap_score
from .step import (GeneratorState, is_revisit, Prepared, encode_depth, finish, prepare, prepare_arrays,
                   rgb_to_float)

KEYFRAME_EVERY = 6   # in teacher forcing, every 6th earlier frame of the episode stands in for a keyframe


@dataclass(frozen=True)
class TrainConfig:
    data_dir: str = "runs/data"
    scenes: int = 14                  # generated into data_dir when it holds no finished dataset
    frames_per_scene: int = 2000
    data_seed: int = 0
    val_scenes: int = 2               # held-out scenes (another base seed) for validation
    val_frames_per_scene: int = 300
    out_dir: str = "runs/model"
    final_path: str = ""              # where the final checkpoint goes (default: out_dir/model)
    steps: int = 4000
    batch: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    tf_fraction: float = 0.6          # the first 60% of steps use teacher forcing; rollouts after
    horizons: tuple = (2, 4, 8)       # rollout lengths, growing over the rollout steps
    rollout_batch: int = 4
    context_noise: float = 0.01       # largest std of the noise added to the context RGB
    memory_dropout: float = 0.3
    val_every: int = 250
    ckpt_every: int = 250
    seed: int = 0
    threads: int = 2
    data_workers: int = 2
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
        d["model"] = self.model.to_dict()
        return d


def load_train_config(path) -> TrainConfig:
    """A TOML file with a [train] table and an optional [model] table; unknown keys are refused."""
    path = Path(path)
    data = read_toml(path, ValueError, "no such config file")
    extra = set(data) - {"train", "model"}
    if extra:
        raise ValueError(f"{path}: unknown table(s) {', '.join(sorted(extra))} (allowed: train, model)")
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"model"}
    train = data.get("train", {})
    bad = set(train) - names
    if bad:
        raise ValueError(f"{path}: unknown key(s) train.{', train.'.join(sorted(bad))}")
    model = ModelConfig.from_dict(data.get("model", {}), f"{path} [model]")
    train = {k: tuple(v) if isinstance(v, list) else v for k, v in train.items()}
    cfg = TrainConfig(**train, model=model)
    base = Path(path).parent
    return dataclasses.replace(cfg, data_dir=str((base / cfg.data_dir).resolve()),
                               out_dir=str((base / cfg.out_dir).resolve()),
                               final_path=str((base / cfg.final_path).resolve()) if cfg.final_path else "")


# -- data -----------------------------------------------------------------------------------------------------
class FrameBank:
    """Every frame of a dataset in memory, with episode bookkeeping."""

    def __init__(self, root: Path):
        shards = [load_shard(p) for p in sorted(Path(root).glob("scene_*.npz"))]
        if not shards:
            raise ValueError(f"{root}: no shards")
        self.rgb = np.concatenate([s.rgb for s in shards])
        self.depth = np.concatenate([s.depth for s in shards])
        self.pose = np.concatenate([s.pose for s in shards])
        self.action = np.concatenate([s.action for s in shards])
        ep, offset = [], 0
        for s in shards:
            ep.append(s.episode.astype(np.int64) + offset)
            offset += int(s.episode.max()) + 1
        self.episode = np.concatenate(ep)
        starts = np.r_[0, np.nonzero(np.diff(self.episode))[0] + 1]
        self.ep_start = starts[np.searchsorted(starts, np.arange(len(self.episode)), side="right") - 1]
        self.next_ok = np.nonzero(np.r_[False, self.episode[1:] == self.episode[:-1]])[0]
        self.intr = shards[0].intrinsics

    def __len__(self):
        return len(self.rgb)

    def pose_at(self, i: int) -> Pose:
        return Pose.from_array(self.pose[i])


def _noisy(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator, strength: float):
    """Degrade a context frame the way the model's own outputs are degraded: noise, blur, colour drift."""
    rgb = rgb_to_float(rgb)
    if strength <= 0:
        return rgb, depth
    if rng.random() < 0.5:          # repeated warping blurs: the commonest fault of generated context
        pad = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
        rgb = sum(pad[dy:dy + rgb.shape[0], dx:dx + rgb.shape[1]] for dy in range(3) for dx in range(3)) / 9
    rgb = rgb * (1 + rng.normal(0, 0.02, 3)).astype(np.float32)
    rgb = rgb + rng.normal(0, rng.uniform(0, strength), rgb.shape).astype(np.float32)
    depth = depth * np.float32(math.exp(rng.normal(0, 0.02)))
    return np.clip(rgb, 0, 1).astype(np.float32), depth.astype(np.float32)


def teacher_sample(bank: FrameBank, cfg: TrainConfig, cam: Camera, i: int, rng: np.random.Generator) -> Prepared:
    """Inputs for predicting frame i from a noisy ground-truth frame i-1 and earlier keyframes."""
    mc = cfg.model
    prev_rgb, prev_depth = _noisy(bank.rgb[i - 1], bank.depth[i - 1], rng, cfg.context_noise)
    keys, revisit = [], False
    if rng.random() >= cfg.memory_dropout:
        cands = np.arange(bank.ep_start[i], i - 7, KEYFRAME_EVERY)
        if len(cands):
            sparse_idx = _sparse_index(mc.res)
            rays = cam.rays[sparse_idx]
            target = bank.pose_at(i)
            scores = [overlap_score(cam, rays, bank.depth[j].reshape(-1)[sparse_idx], bank.pose_at(j), target)
                      for j in cands]
            order = np.argsort(-np.asarray(scores), kind="stable")[:mc.memory_topk]
            for j in cands[order]:
                krgb, kdepth = _noisy(bank.rgb[j], bank.depth[j], rng, cfg.context_noise * 0.5)
                keys.append((krgb, kdepth, bank.pose_at(j)))
            revisit = is_revisit([scores[order[0]]], [int(i - cands[order[0]])])
    action = mc.clamp_action(bank.action[i])
    return prepare_arrays(mc, cam, prev_rgb, prev_depth, bank.pose_at(i - 1), keys, action, revisit)


def _sparse_index(res: int) -> np.ndarray:
    idx = ((np.arange(SPARSE) + 0.5) * res / SPARSE).astype(int)
    return (idx[:, None] * res + idx[None, :]).reshape(-1)


def rollout_start(bank: FrameBank, cfg: TrainConfig, cam: Camera, s: int) -> GeneratorState:
    """A generator state at frame s, its memory holding the episode's earlier frames as keyframes."""
    state = GeneratorState(cfg.model, cam, Frame(bank.rgb[bank.ep_start[s]], bank.depth[bank.ep_start[s]],
                                                 bank.pose_at(bank.ep_start[s])), invent=False, settle=False)
    for j in range(bank.ep_start[s] + KEYFRAME_EVERY, s, KEYFRAME_EVERY):
        state.memory.insert_if_novel(bank.rgb[j], bank.depth[j], bank.pose_at(j), int(j - bank.ep_start[s]))
    state.rgb, state.depth, state.pose = bank.rgb[s].copy(), bank.depth[s].copy(), bank.pose_at(s)
    state.tick = int(s - bank.ep_start[s])
    return state


# -- torch side -----------------------------------------------------------------------------------------------
def _loss(torch, out, preps: list[Prepared], tgt_rgb, tgt_denc):
    """L1 on RGB, on its image gradients (against blur), and on encoded depth."""
    base_rgb = torch.from_numpy(np.stack([p.base_rgb.transpose(2, 0, 1) for p in preps]))
    base_d = torch.from_numpy(np.stack([p.base_denc for p in preps]))[:, None]
    rgb = base_rgb + out[:, :3]
    denc = base_d + out[:, 3:4]
    l_rgb = (rgb - tgt_rgb).abs().mean()
    gx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    gy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    l_grad = (gx(rgb) - gx(tgt_rgb)).abs().mean() + (gy(rgb) - gy(tgt_rgb)).abs().mean()
    l_depth = (denc - tgt_denc).abs().mean()
    return l_rgb + 0.5 * l_grad + 0.3 * l_depth


def _targets(torch, bank: FrameBank, idx, far):
    rgb = torch.from_numpy(np.stack([rgb_to_float(bank.rgb[i]).transpose(2, 0, 1) for i in idx]))
    denc = torch.from_numpy(np.stack([encode_depth(bank.depth[i], far) for i in idx]))[:, None]
    return rgb, denc


def _batch(torch, preps: list[Prepared]):
    return (torch.from_numpy(np.stack([p.inputs for p in preps])),
            torch.from_numpy(np.stack([p.action for p in preps])))


def horizon_at(cfg: TrainConfig, step: int) -> int:
    """0 during teacher forcing, then each rollout horizon for an equal share of the remaining steps."""
    tf_steps = int(cfg.tf_fraction * cfg.steps)
    if step < tf_steps:
        return 0
    k = (step - tf_steps) * len(cfg.horizons) // max(1, cfg.steps - tf_steps)
    return cfg.horizons[min(k, len(cfg.horizons) - 1)]


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


def validate(net_fn, bank: FrameBank, cfg: TrainConfig, cam: Camera) -> dict:
    """Teacher-forced one-step PSNR on fixed frames, and PSNR after 16 open-loop steps on fixed segments."""
    from .step import decode
    rng = np.random.default_rng(1234)
    idx = rng.choice(bank.next_ok, size=min(48, len(bank.next_ok)), replace=False)
    one = []
    for i in idx:
        prep = teacher_sample(bank, dataclasses.replace(cfg, context_noise=0.0, memory_dropout=0.0), cam, int(i),
                              np.random.default_rng(int(i)))
        rgb, _ = decode(cfg.model, prep, net_fn(prep.inputs[None], prep.action[None])[0], settle=False)
        one.append(psnr(rgb, bank.rgb[i]))
    roll = []
    starts = [s for s in bank.next_ok if s + 16 < len(bank) and bank.episode[s + 16] == bank.episode[s]]
    for s in np.random.default_rng(99).choice(starts, size=min(6, len(starts)), replace=False):
        state = rollout_start(bank, cfg, cam, int(s) - 1)
        for k in range(16):
            prep = prepare(state, bank.action[s + k])
            frame = finish(state, prep, net_fn(prep.inputs[None], prep.action[None])[0])
        roll.append(psnr(frame.rgb, bank.rgb[s + 15]))
    return {"psnr_1": float(np.mean(one)), "psnr_16": float(np.mean(roll))}


def ensure_data(cfg: TrainConfig, rank: int, dist) -> tuple[Path, Path]:
    """Generate the training and validation datasets if they are not finished (rank 0), then wait."""
    root = Path(cfg.data_dir)
    train_dir, val_dir = root / "train", root / "val"
    if rank == 0:
        mc = cfg.model
        motion = dataclasses.replace(DatasetConfig().motion, tick_hz=mc.tick_hz)
        generate(DatasetConfig(cfg.scenes, cfg.frames_per_scene, mc.res, mc.fov_y_deg, cfg.data_seed, motion),
                 train_dir, workers=cfg.data_workers)
        generate(DatasetConfig(cfg.val_scenes, cfg.val_frames_per_scene, mc.res, mc.fov_y_deg,
                               cfg.data_seed + 1_000_003, motion), val_dir, workers=cfg.data_workers)
    if dist is not None:
        dist.barrier()
    return train_dir, val_dir


def _save(torch, out_dir: Path, name: str, net, opt, cfg: TrainConfig, step: int, log: list, data_hash: str):
    tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    meta = {"train": cfg.to_dict(), "dataset_sha256": data_hash, "step": step,
            "metrics": log[-1] if log else {}}
    save_checkpoint(out_dir / name, tensors, cfg.model, meta)
    if opt is not None:
        from safetensors.numpy import save
        from ..files import atomic_write_bytes
        st = opt.state_dict()
        opt_t = {f"{pid}.{k}": (v.numpy() if hasattr(v, "numpy") else np.asarray(v))
                 for pid, s in st["state"].items() for k, v in s.items()}
        atomic_write_bytes(out_dir / "train_state.safetensors", save(opt_t))
        atomic_write_text(out_dir / "train_state.json", json.dumps({"step": step, "log": log}))


def _resume(torch, out_dir: Path, net, opt) -> tuple[int, list]:
    sj = out_dir / "train_state.json"
    if not sj.exists() or not (out_dir / "last.json").exists():
        return 0, []
    from safetensors.numpy import load
    from .generator import load_torch_net
    _, loaded, _ = load_torch_net(out_dir / "last")
    net.load_state_dict(loaded.state_dict())
    info = json.loads(sj.read_text())
    opt_t = load((out_dir / "train_state.safetensors").read_bytes())
    state = {}
    for key, v in opt_t.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = torch.from_numpy(v.copy())
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(info["step"]), info["log"]


def plot_log(log: list, path: Path) -> None:
    """Loss curve and validation PSNR against step, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [r["step"] for r in log if "loss" in r]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(steps, [r["loss"] for r in log if "loss" in r], lw=1)
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
    val = [r for r in log if "psnr_1" in r]
    ax[1].plot([r["step"] for r in val], [r["psnr_1"] for r in val], "o-", label="1 step (teacher forced)")
    ax[1].plot([r["step"] for r in val], [r["psnr_16"] for r in val], "s-", label="16 steps open loop")
    ax[1].set(xlabel="step", ylabel="PSNR dB", title="validation (held-out scenes)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(cfg: TrainConfig, show_progress: bool = True) -> Path:
    """Run (or resume) training; returns the final checkpoint's JSON path (rank 0)."""
    import torch
    from tqdm import tqdm
    from .generator import TorchNet
    from .network import RefineNet
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dist = None
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("gloo")
    torch.set_num_threads(max(1, cfg.threads // world))
    torch.manual_seed(cfg.seed)                       # the same initial weights on every rank
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_dir, val_dir = ensure_data(cfg, rank, dist)
    data_hash = sha256_file(train_dir / "manifest.json")
    bank, val_bank = FrameBank(train_dir), FrameBank(val_dir)
    cam = Camera(cfg.model.intrinsics)
    net = RefineNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, log = _resume(torch, out_dir, net, opt)
    model = torch.nn.parallel.DistributedDataParallel(net) if dist is not None else net
    rng = np.random.default_rng([cfg.seed, rank, start])
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, unit="step",
               disable=not show_progress or rank != 0, desc="training")
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        horizon = horizon_at(cfg, step)
        net.train()
        if horizon == 0:
            idx = rng.choice(bank.next_ok, size=cfg.batch)
            preps = [teacher_sample(bank, cfg, cam, int(i), rng) for i in idx]
            x, a = _batch(torch, preps)
            loss = _loss(torch, model(x, a), preps, *_targets(torch, bank, idx, cfg.model.far_m))
        else:
            loss = _rollout_loss(torch, model, bank, cfg, cam, horizon, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        log.append({"step": step + 1, "loss": loss.item(), "horizon": horizon, "time": time.time()})
        if rank == 0 and ((step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps):
            net.eval()
            metrics = validate(TorchNet(net), val_bank, cfg, cam)
            log.append({"step": step + 1, **metrics})
            bar.set_postfix(loss=f"{loss.item():.4f}", val_psnr=f"{metrics['psnr_1']:.2f}")
            plot_log(log, out_dir / "loss.png")
        if rank == 0 and ((step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps):
            _save(torch, out_dir, "last", net, opt, cfg, step + 1, log, data_hash)
    final = None
    if rank == 0:
        final = save_checkpoint(Path(cfg.final_path) if cfg.final_path else out_dir / "model", {k: v.detach().numpy() for k, v in net.state_dict().items()},
                                cfg.model, {"train": cfg.to_dict(), "dataset_sha256": data_hash,
                                            "step": cfg.steps, "metrics": _last_metrics(log)})
    if dist is not None:
        dist.barrier()
        dist.destroy_process_group()
    return final


def _last_metrics(log: list) -> dict:
    vals = [r for r in log if "psnr_1" in r]
    return vals[-1] if vals else {}


def _rollout_loss(torch, model, bank: FrameBank, cfg: TrainConfig, cam: Camera, horizon: int, rng):
    """Roll `horizon` steps on the model's own outputs from ground-truth starts; mean loss over the steps."""
    starts = [s for s in rng.choice(bank.next_ok, size=4 * cfg.rollout_batch)
              if s + horizon < len(bank) and bank.episode[s + horizon] == bank.episode[s - 1]][:cfg.rollout_batch]
    states = [rollout_start(bank, cfg, cam, int(s) - 1) for s in starts]
    total = 0.0
    for k in range(horizon):
        preps = [prepare(st, bank.action[s + k]) for st, s in zip(states, starts)]
        x, a = _batch(torch, preps)
        out = model(x, a)
        total = total + _loss(torch, out, preps, *_targets(torch, bank, [s + k for s in starts], cfg.model.far_m))
        out_np = out.detach().numpy()
        for st, prep, o in zip(states, preps, out_np):
            finish(st, prep, o)       # the next step starts from what the model made
    return total / horizon
