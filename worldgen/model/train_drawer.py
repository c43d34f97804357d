"""Training the drawer (drawer.py) on pairs of true frames of one path: L1 where it draws, and a patch
discriminator on the composite (true outside the due pixels, drawn inside: LaMa's recipe).

`worldloop train-drawer --data runs/bundled/data --out runs/drawer`; resumable with the same command.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes, atomic_write_text
from .drawer import DRAW_IN_CHANNELS, pair_sample
from .geometry import Camera
from .train import FrameBank, _load_opt, _opt_arrays, psnr

DRAWER_FORMAT = "worldloop.drawer"
DRAWER_VERSION = 1
FAR_M = 1000.0


def sample_batch(bank: FrameBank, cam: Camera, rng: np.random.Generator, n: int, max_k: int = 60):
    """n pairs (frame i, frame i + k, same path) whose due share is between 2% and 90%."""
    out = []
    while len(out) < n:
        i = int(rng.integers(0, len(bank) - max_k - 1))
        k = int(rng.integers(4, max_k + 1))
        if bank.episode[i + k] != bank.episode[i]:
            continue
        s = pair_sample(bank, cam, FAR_M, i, k, rng)
        if 0.02 <= s[3].mean() <= 0.9:
            out.append(s)
    return [np.stack([s[j] for s in out]) for j in range(6)]


def save_drawer(path: Path, net, meta: dict) -> None:
    from safetensors.numpy import save
    tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    atomic_write_bytes(path.with_suffix(".safetensors"), save(tensors))
    atomic_write_text(path.with_suffix(".json"), json.dumps({"format": DRAWER_FORMAT, "version": DRAWER_VERSION,
                                                             "in_channels": DRAW_IN_CHANNELS, **meta}, indent=1))


def train_drawer(data: Path, out: Path, steps: int = 3000, batch: int = 8, lr: float = 5e-4,
                 adv_weight: float = 0.1, fm_weight: float = 1.0, seed: int = 0, progress=True) -> Path:
    import torch
    from torch.nn import functional as F
    from safetensors.numpy import load, save
    from tqdm import tqdm
    from .adversarial import PatchDiscriminator, discriminator_loss, generator_losses
    from .config import ModelConfig
    from .network import DrawNet
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    bank = FrameBank(data / "train")
    cam = Camera(ModelConfig().intrinsics)
    net, disc = DrawNet(DRAW_IN_CHANNELS), PatchDiscriminator(4)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.5, 0.99), weight_decay=0.0)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.5, 0.99), weight_decay=0.0)
    step, log = 0, []
    if (out / "state.json").exists():
        st = load((out / "state.safetensors").read_bytes())
        net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in st.items() if k.startswith("net.")})
        disc.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in st.items() if k.startswith("disc.")})
        _load_opt(torch, opt, st, "opt.")
        _load_opt(torch, opt_d, st, "opt_d.")
        info = json.loads((out / "state.json").read_text())
        step, log = int(info["step"]), info["log"]
    rng = np.random.default_rng(seed + step)
    bar = tqdm(total=steps, initial=step, disable=not progress, desc="drawer")
    t0 = time.time()
    while step < steps:
        x, trgb, tden, due, base, bden = (torch.from_numpy(a) for a in sample_batch(bank, cam, rng, batch))
        m = due[:, None].float()
        real = torch.cat([trgb.permute(0, 3, 1, 2), tden[:, None]], 1)
        basev = torch.cat([base.permute(0, 3, 1, 2), bden[:, None]], 1)
        y = net(x)
        drawn = basev + y
        comp = real * (1 - m) + drawn * m
        for g in opt_d.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
        # the discriminator: true frames against the composite
        opt_d.zero_grad()
        ld = discriminator_loss(disc, comp.detach(), real)
        ld.backward()
        opt_d.step()
        # the drawer: L1 on the due pixels (full resolution and 4x4 means: the content), depth, adversarial
        share = m.mean().clamp_min(1e-3)
        l1 = ((drawn[:, :3] - real[:, :3]).abs() * m).mean() / share
        pm = F.avg_pool2d(m, 4)
        low = ((F.avg_pool2d(drawn[:, :3] * m, 4) - F.avg_pool2d(real[:, :3] * m, 4)).abs() * (pm > 0)).mean() \
            / pm.gt(0).float().mean().clamp_min(1e-3)
        ldep = ((drawn[:, 3:] - real[:, 3:]).abs() * m).mean() / share
        adv, fm = generator_losses(disc, comp, real)
        loss = l1 + low + ldep + adv_weight * adv + fm_weight * fm
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        if step % 20 == 0:
            rec = {"step": step, "l1": float(l1), "low": float(low), "depth": float(ldep), "adv": float(adv),
                   "fm": float(fm), "d": float(ld), "s": round(time.time() - t0, 1)}
            log.append(rec)
            bar.set_postfix(l1=f"{rec['l1']:.3f}", adv=f"{rec['adv']:.3f}", d=f"{rec['d']:.3f}")
        if step % 200 == 0 or step == steps:
            save_drawer(out / "drawer", net, {"step": step, "steps": steps, "adv_weight": adv_weight,
                                               "fm_weight": fm_weight, "lr": lr, "batch": batch, "seed": seed})
            arrays = {**{f"net.{k}": v.detach().numpy() for k, v in net.state_dict().items()},
                      **{f"disc.{k}": v.detach().numpy() for k, v in disc.state_dict().items()},
                      **_opt_arrays(opt, "opt."), **_opt_arrays(opt_d, "opt_d.")}
            atomic_write_bytes(out / "state.safetensors", save(arrays))
            atomic_write_text(out / "state.json", json.dumps({"step": step, "log": log}))
    bar.close()
    return out / "drawer"


def load_drawer(path: Path):
    """(DrawNet, meta) from drawer.json / drawer.safetensors."""
    import torch
    from safetensors.numpy import load
    from .network import DrawNet
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta.get("format") != DRAWER_FORMAT or meta.get("version") != DRAWER_VERSION:
        raise ValueError(f"{path.with_suffix('.json')}: field format/version: not a {DRAWER_FORMAT} {DRAWER_VERSION}")
    net = DrawNet(int(meta["in_channels"]))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in load(path.with_suffix(".safetensors").read_bytes()).items()})
    return net.eval(), meta


__all__ = ["train_drawer", "load_drawer", "sample_batch", "psnr"]
