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

from ..files import atomic_write_text, clean_stale_temps, read_toml, sha256_file
from ..poses import Frame, Pose
from ..procedural.dataset import DatasetConfig, generate, load_shard
from ..errors import FileRefused
from .checkpoint import save_checkpoint
from .config import ModelConfig
from .geometry import Camera
from .memory import SPARSE, overlap_score
from .step import (GeneratorState, start_haze, is_revisit, latest_first, Prepared, encode_depth, finish, prepare,
                   prepare_arrays, rgb_to_float)

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
    # The adversarial stage (adversarial.py), after `steps`: rollouts decoded as the runtime decodes them,
    # judged by a patch discriminator. 0 steps: no such stage (the first model's recipe).
    adv_steps: int = 0
    adv_lr: float = 1e-4              # the generator's learning rate in this stage (constant)
    adv_d_lr: float = 4e-4            # the discriminator's
    adv_weight: float = 0.1           # the adversarial loss's weight beside L1 (weight 1)
    adv_fm_weight: float = 1.0        # feature matching's
    adv_hole_l1: float = 0.25         # L1's weight on pixels neither the warp nor memory covers (elsewhere 1)
    adv_horizon: int = 6              # ticks a rollout runs per step (the gradient's reach)...
    adv_rollout_ticks: int = 300      # ...and it goes on from there at the next step, up to this many ticks or
                                      # its episode's end, so the losses see the model hundreds of ticks into its
                                      # own outputs (16-tick rollouts left it blind to a drift that grew at 100)
    adv_batch: int = 2                # rollouts run side by side
    adv_drawn_only: bool = False      # the discriminator judges the patches holding pixels the network draws
    # (not settled by the geometry), the others count as true (LaMa's rule; adversarial.patch_weights)
    adv_start_blur: float = 0.5       # the share of rollouts whose first context frame is blurred (up to 1.5 px)
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
        d["model"] = self.model.to_dict()
        return d


class TrainConfigError(FileRefused):
    """A training config that cannot be used."""


def _check_train_field(path, key: str, value, default) -> None:
    """A [train] value has its default's type (a whole number where the default is one), numbers finite and not
    negative; horizons whole numbers from 1 to 1000; at most 10^9 of any count."""
    def bad(why):
        raise TrainConfigError(f"{path}: train.{key} = {str(value)[:80]}: {why}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            bad("expected true or false")
        return
    if isinstance(default, str):
        if not isinstance(value, str) or "\x00" in value:
            bad("expected a string")
        return
    if isinstance(default, tuple):
        if not (isinstance(value, list) and 1 <= len(value) <= 64 and
                all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in value)):
            bad("expected a list of whole numbers from 1 to 1000")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float) if isinstance(default, float) else int):
        bad(f"expected a {'number' if isinstance(default, float) else 'whole number'}")
    if not (0 <= value <= 1e9):                       # NaN fails too
        bad("expected a number from 0 to 10^9")


def load_train_config(path) -> TrainConfig:
    """A TOML file with a [train] table and an optional [model] table; unknown keys and values of the wrong
    type or range are refused (TrainConfigError, naming the key)."""
    path = Path(path)
    data = read_toml(path, TrainConfigError, "no such config file")
    extra = set(data) - {"train", "model"}
    if extra:
        raise TrainConfigError(f"{path}: unknown table(s) {', '.join(sorted(extra))} (allowed: train, model)")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    train = data.get("train", {})
    if not isinstance(train, dict) or not isinstance(data.get("model", {}), dict):
        raise TrainConfigError(f"{path}: train and model must be tables")
    bad = set(train) - set(fields)
    if bad:
        raise TrainConfigError(f"{path}: unknown key(s) train.{', train.'.join(sorted(bad))}")
    defaults = TrainConfig()
    for k, v in train.items():
        _check_train_field(path, k, v, getattr(defaults, k))
    try:
        model = ModelConfig.from_dict(data.get("model", {}), f"{path} [model]")
    except (TypeError, ValueError) as e:
        raise TrainConfigError(str(e)) from None
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
        self._haze: dict[int, object] = {}

    def haze(self, start: int, mc: ModelConfig, cam: Camera):
        """The haze the generator would estimate from episode frame `start` as its start frame (cached)."""
        if start not in self._haze:
            self._haze[start] = start_haze(mc, cam, Frame(self.rgb[start], self.depth[start], self.pose_at(start)))
        return self._haze[start]

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
    keys, revisit, carry_key = [], False, False
    if rng.random() >= cfg.memory_dropout:
        cands = np.arange(bank.ep_start[i], i - 7, KEYFRAME_EVERY)
        if len(cands):
            sparse_idx = _sparse_index(mc.res)
            rays = cam.rays[sparse_idx]
            target = bank.pose_at(i)
            scores = [overlap_score(cam, rays, bank.depth[j].reshape(-1)[sparse_idx], bank.pose_at(j), target)
                      for j in cands]
            order = np.argsort(-np.asarray(scores), kind="stable")[:mc.memory_topk]
            revisit = is_revisit([scores[order[0]]], [int(i - cands[order[0]])])
            carry_key = mc.carry == "keyframe" and not revisit
            if carry_key:           # as step.prepare: the latest keyframe first, then the best of the rest
                order = np.asarray(latest_first(list(order), len(cands) - 1, mc.memory_topk))
            for j in cands[order]:
                krgb, kdepth = _noisy(bank.rgb[j], bank.depth[j], rng, cfg.context_noise * 0.5)
                keys.append((krgb, kdepth, bank.pose_at(j)))
    action = mc.clamp_action(bank.action[i])
    return prepare_arrays(mc, cam, prev_rgb, prev_depth, bank.pose_at(i - 1), keys, action, revisit,
                          bank.haze(int(bank.ep_start[i]), mc, cam), memory_first=carry_key)


def _sparse_index(res: int) -> np.ndarray:
    idx = ((np.arange(SPARSE) + 0.5) * res / SPARSE).astype(int)
    return (idx[:, None] * res + idx[None, :]).reshape(-1)


def rollout_start(bank: FrameBank, cfg: TrainConfig, cam: Camera, s: int, settle: bool = False,
                  blur_px: float = 0.0) -> GeneratorState:
    """A generator state at frame s, its memory holding the episode's earlier frames as keyframes. settle: decode
    as the runtime does (the model's settle rule); blur_px: the context frame blurred by a Gaussian of this
    sigma, as a long walk's own frames come to be."""
    state = GeneratorState(cfg.model, cam, Frame(bank.rgb[bank.ep_start[s]], bank.depth[bank.ep_start[s]],
                                                 bank.pose_at(bank.ep_start[s])), invent=False, settle=settle)
    for j in range(bank.ep_start[s] + KEYFRAME_EVERY, s, KEYFRAME_EVERY):
        state.memory.insert_if_novel(bank.rgb[j], bank.depth[j], bank.pose_at(j), int(j - bank.ep_start[s]))
    state.rgb, state.depth, state.pose = bank.rgb[s].copy(), bank.depth[s].copy(), bank.pose_at(s)
    if blur_px > 0:
        from .realism import gaussian_blur
        state.rgb = gaussian_blur(state.rgb[None], blur_px)[0]
    state.tick = int(s - bank.ep_start[s])
    return state


# -- torch side -----------------------------------------------------------------------------------------------
def _loss(torch, out, preps: list[Prepared], tgt_rgb, tgt_denc):
    """The first stage's loss: `_recon` of the output decoded with the correction on every pixel."""
    return _recon(*_decoded(torch, out, preps, settle=False), tgt_rgb, tgt_denc)[0]


def _recon(rgb, denc, tgt_rgb, tgt_denc, weight=None):
    """(L1 on RGB (per pixel `weight` if given) + 0.5 L1 on its image gradients (against blur) + 0.3 L1 on
    encoded depth, the RGB term alone)."""
    err = (rgb - tgt_rgb).abs()
    l_rgb = (err * weight).mean() if weight is not None else err.mean()
    gx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    gy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    l_grad = (gx(rgb) - gx(tgt_rgb)).abs().mean() + (gy(rgb) - gy(tgt_rgb)).abs().mean()
    l_depth = (denc - tgt_denc).abs().mean()
    return l_rgb + 0.5 * l_grad + 0.3 * l_depth, l_rgb


def _targets(torch, bank: FrameBank, idx, far, dev="cpu"):
    rgb = torch.from_numpy(np.stack([rgb_to_float(bank.rgb[i]).transpose(2, 0, 1) for i in idx])).to(dev)
    denc = torch.from_numpy(np.stack([encode_depth(bank.depth[i], far) for i in idx]))[:, None].to(dev)
    return rgb, denc


def _batch(torch, preps: list[Prepared], dev="cpu"):
    return (torch.from_numpy(np.stack([p.inputs for p in preps])).to(dev),
            torch.from_numpy(np.stack([p.action for p in preps])).to(dev))


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
        rgb, _ = decode(cfg.model, prep, net_fn(prep.inputs[None], prep.action[None])[0])   # as at run time
        one.append(psnr(rgb, bank.rgb[i]))
    roll = []
    starts = [s for s in bank.next_ok if s + 16 < len(bank) and bank.episode[s + 16] == bank.episode[s]]
    for s in np.random.default_rng(99).choice(starts, size=min(6, len(starts)), replace=False):
        state = rollout_start(bank, cfg, cam, int(s) - 1, settle=True)
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


def _opt_arrays(opt, prefix: str = "") -> dict:
    st = opt.state_dict()
    return {f"{prefix}{pid}.{k}": (v.detach().cpu().numpy() if hasattr(v, "numpy") else np.asarray(v))
            for pid, s in st["state"].items() for k, v in s.items()}


def _load_opt(torch, opt, arrays: dict, prefix: str = "") -> None:
    state = {}
    for key, v in arrays.items():
        if not key.startswith(prefix):
            continue
        pid, name = key[len(prefix):].split(".", 1)
        state.setdefault(int(pid), {})[name] = torch.from_numpy(v.copy())
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)


def _save(torch, out_dir: Path, name: str, net, opt, cfg: TrainConfig, step: int, log: list, data_hash: str,
          adv=None):
    """The checkpoint `name` and the training state beside it; adv: the adversarial stage's (discriminator,
    its optimiser), kept in train_state_adv.safetensors."""
    from safetensors.numpy import save
    from ..files import atomic_write_bytes
    tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    meta = {"train": cfg.to_dict(), "dataset_sha256": data_hash, "step": step,
            "metrics": log[-1] if log else {}}
    save_checkpoint(out_dir / name, tensors, cfg.model, meta)
    if opt is None:
        return
    if adv is not None:
        disc, opt_d = adv
        d_t = {f"disc.{k}": v.detach().cpu().numpy() for k, v in disc.state_dict().items()}
        atomic_write_bytes(out_dir / "train_state_adv.safetensors", save({**d_t, **_opt_arrays(opt_d, "opt_d.")}))
    atomic_write_bytes(out_dir / "train_state.safetensors", save(_opt_arrays(opt)))
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
    _load_opt(torch, opt, load((out_dir / "train_state.safetensors").read_bytes()))
    return int(info["step"]), info["log"]


def _adversarial_parts(torch, net, cfg: TrainConfig, out_dir: Path, resume: bool):
    """(generator optimiser, discriminator, its optimiser) for the adversarial stage, from the saved training
    state when `resume` (a run stopped inside the stage) and fresh when the stage begins."""
    from safetensors.numpy import load
    from .adversarial import PatchDiscriminator
    dev = next(net.parameters()).device
    disc = PatchDiscriminator().to(dev)
    opt_g = torch.optim.Adam(net.parameters(), lr=cfg.adv_lr, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.adv_d_lr, betas=(0.5, 0.99))
    path = out_dir / "train_state_adv.safetensors"
    if resume and path.exists():
        arrays = load(path.read_bytes())
        disc.load_state_dict({k[5:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("disc.")})
        _load_opt(torch, opt_d, arrays, "opt_d.")
        _load_opt(torch, opt_g, load((out_dir / "train_state.safetensors").read_bytes()))
    return opt_g, disc, opt_d


def start_from_checkpoint(torch, net, path, cfg: TrainConfig) -> list:
    """Take a checkpoint's weights as the first stage's result (its model config must be this one's, but for
    what only decoding reads: settle and exemplar_fill); returns the log's first row."""
    from .checkpoint import CheckpointError
    from .generator import load_torch_net
    ck_cfg, loaded, _ = load_torch_net(path)
    mine = {k: v for k, v in cfg.model.to_dict().items() if k not in ("settle", "exemplar_fill")}
    theirs = {k: v for k, v in ck_cfg.to_dict().items() if k not in ("settle", "exemplar_fill")}
    if mine != theirs:
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        raise CheckpointError(f"{path}: its model config differs from the training config's in {', '.join(diff)}")
    net.load_state_dict(loaded.state_dict())
    return [{"step": cfg.steps, "start_from": str(path), "time": time.time()}]


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


def train(cfg: TrainConfig, show_progress: bool = True, start_from=None, device: str = "cpu") -> Path:
    """Run (or resume) training; returns the final checkpoint's JSON path (rank 0). start_from: a checkpoint
    whose weights stand for the first stage (`steps`), so that only the adversarial stage runs. device: where
    the networks run ("cpu", or "cuda" where torch has it); geometry and data stay on the CPU."""
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
    clean_stale_temps(out_dir)                # checkpoints a killed run left half-written
    if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
        raise ValueError(f"device {device!r}: this torch has no such device (cuda available: "
                         f"{torch.cuda.is_available()})")
    dev = torch.device(device)
    net = RefineNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, log = _resume(torch, out_dir, net, opt)
    if start == 0 and start_from is not None:
        if not cfg.adv_steps:
            raise ValueError("--start-from skips the first stage, but this config has no adversarial stage "
                             "(train.adv_steps = 0)")
        log = start_from_checkpoint(torch, net, start_from, cfg)
        start = cfg.steps
    net.to(dev)
    opt.load_state_dict(opt.state_dict())        # moves a resumed optimiser's state to the device
    train_dir, val_dir = ensure_data(cfg, rank, dist)
    data_hash = sha256_file(train_dir / "manifest.json")
    bank, val_bank = FrameBank(train_dir), FrameBank(val_dir)
    cam = Camera(cfg.model.intrinsics)
    model = torch.nn.parallel.DistributedDataParallel(net) if dist is not None else net
    rng = np.random.default_rng([cfg.seed, rank, start])
    total = cfg.steps + cfg.adv_steps
    adv = None
    pool: list = []              # the adversarial stage's rollouts in progress (not saved: a resume starts anew)
    if start >= cfg.steps and cfg.adv_steps:      # resuming inside the adversarial stage, or starting it
        opt_g, disc, opt_d = _adversarial_parts(torch, net, cfg, out_dir, resume=not (log and "start_from" in
                                                                                       log[-1]))
        adv = (disc, opt_d)
    bar = tqdm(range(start, total), initial=start, total=total, unit="step",
               disable=not show_progress or rank != 0, desc="training")
    for step in bar:
        net.train()
        if step < cfg.steps:
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step)
            horizon = horizon_at(cfg, step)
            if horizon == 0:
                idx = rng.choice(bank.next_ok, size=cfg.batch)
                preps = [teacher_sample(bank, cfg, cam, int(i), rng) for i in idx]
                x, a = _batch(torch, preps, dev)
                loss = _loss(torch, model(x, a), preps, *_targets(torch, bank, idx, cfg.model.far_m, dev))
            else:
                loss = _rollout_loss(torch, model, bank, cfg, cam, horizon, rng, dev)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            row = {"step": step + 1, "loss": loss.item(), "horizon": horizon, "time": time.time()}
        else:
            if adv is None:                        # the first stage just ended
                opt_g, disc, opt_d = _adversarial_parts(torch, net, cfg, out_dir, resume=False)
                adv = (disc, opt_d)
            row = _adversarial_step(torch, model, disc, opt_g, opt_d, bank, cfg, cam, pool, rng, dev)
            row = {"step": step + 1, **row, "horizon": cfg.adv_horizon, "time": time.time()}
        log.append(row)
        last = step + 1 == total
        if rank == 0 and ((step + 1) % cfg.val_every == 0 or last):
            net.eval()
            metrics = validate(TorchNet(net, dev), val_bank, cfg, cam)
            log.append({"step": step + 1, **metrics})
            bar.set_postfix(loss=f"{row['loss']:.4f}", val_psnr=f"{metrics['psnr_1']:.2f}")
            plot_log(log, out_dir / "loss.png")
        if rank == 0 and ((step + 1) % cfg.ckpt_every == 0 or last):
            _save(torch, out_dir, "last", net, opt_g if adv is not None else opt, cfg, step + 1, log, data_hash,
                  adv)
    final = None
    if rank == 0:
        final = save_checkpoint(Path(cfg.final_path) if cfg.final_path else out_dir / "model",
                                {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()},
                                cfg.model, {"train": cfg.to_dict(), "dataset_sha256": data_hash,
                                            "step": total, "metrics": _last_metrics(log),
                                            **({"start_from": log[0]["start_from"]}
                                               if log and "start_from" in log[0] else {})})
    if dist is not None:
        dist.barrier()
        dist.destroy_process_group()
    return final


def _last_metrics(log: list) -> dict:
    vals = [r for r in log if "psnr_1" in r]
    return vals[-1] if vals else {}


def _rollout_loss(torch, model, bank: FrameBank, cfg: TrainConfig, cam: Camera, horizon: int, rng, dev="cpu"):
    """Roll `horizon` steps on the model's own outputs from ground-truth starts; mean loss over the steps."""
    starts = [s for s in rng.choice(bank.next_ok, size=4 * cfg.rollout_batch)
              if s + horizon < len(bank) and bank.episode[s + horizon] == bank.episode[s - 1]][:cfg.rollout_batch]
    states = [rollout_start(bank, cfg, cam, int(s) - 1) for s in starts]
    total = 0.0
    for k in range(horizon):
        preps = [prepare(st, bank.action[s + k]) for st, s in zip(states, starts)]
        x, a = _batch(torch, preps, dev)
        out = model(x, a)
        total = total + _loss(torch, out, preps, *_targets(torch, bank, [s + k for s in starts], cfg.model.far_m,
                                                           dev))
        out_np = out.detach().cpu().numpy()
        for st, prep, o in zip(states, preps, out_np):
            finish(st, prep, o)       # the next step starts from what the model made
    return total / horizon


def _decoded(torch, out, preps: list[Prepared], settle: bool):
    """RGB (B, 3, H, W) and encoded depth (B, 1, H, W) as `step.decode` makes them (before rounding): the colour
    correction kept off settled pixels when `settle`."""
    base_rgb = torch.from_numpy(np.stack([p.base_rgb.transpose(2, 0, 1) for p in preps])).to(out.device)
    base_d = torch.from_numpy(np.stack([p.base_denc for p in preps]))[:, None].to(out.device)
    corr = out[:, :3]
    if settle:
        free = torch.from_numpy(np.stack([~p.settled for p in preps]))[:, None].to(out.device, out.dtype)
        corr = corr * free
    return base_rgb + corr, base_d + out[:, 3:4]


def _adversarial_step(torch, model, disc, opt_g, opt_d, bank: FrameBank, cfg: TrainConfig, cam: Camera,
                      pool: list, rng, dev="cpu") -> dict:
    """One step of the adversarial stage: each of the `pool`'s rollouts runs `adv_horizon` more ticks on the
    model's own outputs, decoded as at run time (a rollout that has run `adv_rollout_ticks`, or whose episode
    ends, makes way for a new one from a ground-truth start); the generator's loss is L1 (lighter where nothing
    covered the pixel), gradients, depth, and the discriminator's adversarial and feature matching terms,
    summed over the ticks; then one discriminator step on every tick's frames against the true ones."""
    from .adversarial import discriminator_loss, generator_losses
    horizon = cfg.adv_horizon

    def goes_on(s: int) -> bool:
        return s + horizon < len(bank) and bank.episode[s + horizon] == bank.episode[s - 1]

    while len(pool) < cfg.adv_batch:
        pool.append(None)
    for n, slot in enumerate(pool):
        if slot is None or slot["ticks"] >= cfg.adv_rollout_ticks or not goes_on(slot["next"]):
            s = next(int(s) for s in rng.choice(bank.next_ok, size=64) if goes_on(int(s)))
            blur = float(rng.uniform(0.3, 1.5)) if rng.random() < cfg.adv_start_blur else 0.0
            pool[n] = {"state": rollout_start(bank, cfg, cam, s - 1, settle=True, blur_px=blur), "next": s,
                       "ticks": 0}
    states = [slot["state"] for slot in pool]
    starts = [slot["next"] for slot in pool]
    depth = float(np.mean([slot["ticks"] for slot in pool]))
    g_total, parts = 0.0, {"l1": 0.0, "adv": 0.0, "fm": 0.0}
    fakes, reals, drawns = [], [], []
    for k in range(horizon):
        preps = [prepare(st, bank.action[s + k]) for st, s in zip(states, starts)]
        x, a = _batch(torch, preps, dev)
        out = model(x, a)
        tgt_rgb, tgt_denc = _targets(torch, bank, [s + k for s in starts], cfg.model.far_m, dev)
        rgb, denc = _decoded(torch, out, preps, settle=True)
        weight = torch.from_numpy(np.stack([np.where(p.known, 1.0, cfg.adv_hole_l1) for p in preps])
                                  .astype(np.float32))[:, None].to(dev)
        rec, l1 = _recon(rgb, denc, tgt_rgb, tgt_denc, weight)
        fake, real = torch.cat([rgb, denc], 1), torch.cat([tgt_rgb, tgt_denc], 1)
        drawn = None
        if cfg.adv_drawn_only:
            drawn = torch.from_numpy(np.stack([~p.settled for p in preps]).astype(np.float32))[:, None].to(dev)
            drawns.append(drawn)
        l_adv, l_fm = generator_losses(disc, fake, real, drawn)
        g_total = g_total + rec + cfg.adv_weight * l_adv + cfg.adv_fm_weight * l_fm
        parts["l1"] += l1.item() / horizon
        parts["adv"] += l_adv.item() / horizon
        parts["fm"] += l_fm.item() / horizon
        fakes.append(fake.detach())
        reals.append(real)
        out_np = out.detach().cpu().numpy()
        for st, prep, o in zip(states, preps, out_np):
            finish(st, prep, o)       # the next tick starts from what the model made, decoded as at run time
    g_loss = g_total / horizon
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt_g.step()
    for slot in pool:
        slot["next"] += horizon
        slot["ticks"] += horizon
    d_loss = discriminator_loss(disc, torch.cat(fakes), torch.cat(reals), torch.cat(drawns) if drawns else None)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return {"loss": g_loss.item(), "d_loss": d_loss.item(), **parts, "rollout_ticks": depth}
