"""Training the drawer (drawer.py) on pairs of true frames rendered in the training scenes (a pose and one
2-80 m straight on): L1 where it draws, and a patch discriminator on the composite (true outside the due
pixels, drawn inside: LaMa's rule that a patch of the truth is never asked to score as drawn).

`worldloop train-drawer --data runs/bundled/data --out runs/drawer`; resumable with the same command.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes, atomic_write_text
from .drawer import DRAW_IN_CHANNELS, RenderedPairs, pair_inputs
from .geometry import Camera
from .train import _load_opt, _opt_arrays

DRAWER_FORMAT = "worldloop.drawer"
DRAWER_VERSION = 1
FAR_M = 1000.0


def training_specs(train_dir: Path):
    """The scenes of a dataset's train/ folder (each shard's biome and seed), so the drawer learns in the same
    worlds as the generator and never in a held-out one."""
    from ..procedural.spec import biome_default
    specs = []
    for p in sorted(Path(train_dir).glob("scene_*.json")):
        try:
            j = json.loads(p.read_text())
            specs.append(biome_default(j["biome"], seed=int(j["seed"])))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{p}: field biome/seed: {e}") from None
    if not specs:
        raise ValueError(f"{train_dir}: no scene_*.json shards")
    return specs


def sample_batch(pairs: RenderedPairs, cam: Camera, rng: np.random.Generator, n: int):
    """n rendered pairs whose due share is between 2% and 90%."""
    out = []
    while len(out) < n:
        a, b, seed = pairs.sample(rng)
        s = pair_inputs(cam, FAR_M, a, b, rng, seed)
        if 0.02 <= s[3].mean() <= 0.9:
            out.append(s)
    return [np.stack([s[j] for s in out]) for j in range(6)]


def save_drawer(path: Path, net, meta: dict) -> None:
    from safetensors.numpy import save
    from ..files import sha256_file
    tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    atomic_write_bytes(path.with_suffix(".safetensors"), save(tensors))
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {"format": DRAWER_FORMAT, "version": DRAWER_VERSION, "in_channels": DRAW_IN_CHANNELS,
         "weights": path.with_suffix(".safetensors").name,
         "weights_sha256": sha256_file(path.with_suffix(".safetensors")), **meta}, indent=1))


def train_drawer(data: Path, out: Path, steps: int = 1500, batch: int = 8, lr: float = 5e-4,
                 adv_weight: float = 0.3, fm_weight: float = 1.0, seed: int = 0, progress=True,
                 res: int = 128) -> Path:
    import torch
    from torch.nn import functional as F
    from safetensors.numpy import load, save
    from tqdm import tqdm
    from .adversarial import PatchDiscriminator
    from .config import ModelConfig
    from .network import DrawNet
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    cam = Camera(ModelConfig(res=res).intrinsics)
    pairs = RenderedPairs(training_specs(data / "train"), cam.intr)
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
        x, trgb, tden, due, base, bden = (torch.from_numpy(a) for a in sample_batch(pairs, cam, rng, batch))
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
        # the discriminator: true frames against the composite, whose patches off the due pixels are the truth and
        # count as true (LaMa's rule: the same input must not be asked to score both ways)
        fake_at = F.max_pool2d(m, 8)
        opt_d.zero_grad()
        real_logits, _ = disc(real)
        fake_logits, _ = disc(comp.detach())
        ld = 0.5 * (((real_logits - 1) ** 2).mean() + ((fake_logits - (1 - fake_at)) ** 2).mean())
        ld.backward()
        opt_d.step()
        # the drawer: L1 on the due pixels (full resolution and 4x4 means: the content), depth, adversarial
        share = m.mean().clamp_min(1e-3)
        l1 = ((drawn[:, :3] - real[:, :3]).abs() * m).mean() / share
        pm = F.avg_pool2d(m, 4)
        low = ((F.avg_pool2d(drawn[:, :3] * m, 4) - F.avg_pool2d(real[:, :3] * m, 4)).abs() * (pm > 0)).mean() \
            / pm.gt(0).float().mean().clamp_min(1e-3)
        ldep = ((drawn[:, 3:] - real[:, 3:]).abs() * m).mean() / share
        logits, f_fake = disc(comp)
        with torch.no_grad():
            _, f_real = disc(real)
        adv = (((logits - 1) ** 2) * fake_at).mean() / fake_at.mean().clamp_min(1e-3)
        fm = sum((a - b).abs().mean() for a, b in zip(f_fake, f_real)) / len(f_fake)
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
            save_drawer(out / "drawer", net, {"step": step, "steps": steps, "res": res, "adv_weight": adv_weight,
                                               "fm_weight": fm_weight, "lr": lr, "batch": batch, "seed": seed})
            arrays = {**{f"net.{k}": v.detach().numpy() for k, v in net.state_dict().items()},
                      **{f"disc.{k}": v.detach().numpy() for k, v in disc.state_dict().items()},
                      **_opt_arrays(opt, "opt."), **_opt_arrays(opt_d, "opt_d.")}
            atomic_write_bytes(out / "state.safetensors", save(arrays))
            atomic_write_text(out / "state.json", json.dumps({"step": step, "log": log}))
    bar.close()
    pairs.release()
    return out / "drawer"


def load_drawer(path):
    """(DrawNet, meta) from drawer.json and the drawer.safetensors beside it; a missing, altered or foreign
    file raises CheckpointError naming the file and the field."""
    import torch
    from safetensors.numpy import load
    from ..files import read_json, sha256_file
    from .checkpoint import CheckpointError
    from .network import DrawNet
    path = Path(path)
    jpath, wpath = path.with_suffix(".json"), path.with_suffix(".safetensors")
    meta = read_json(jpath, CheckpointError, "no such drawer")
    if meta.get("format") != DRAWER_FORMAT or meta.get("version") != DRAWER_VERSION:
        raise CheckpointError(f"{jpath}: field format/version: not a {DRAWER_FORMAT} version {DRAWER_VERSION}")
    if meta.get("in_channels") != DRAW_IN_CHANNELS:
        raise CheckpointError(f"{jpath}: field in_channels: {meta.get('in_channels')!r}, this worldloop draws "
                              f"from {DRAW_IN_CHANNELS}")
    if not isinstance(meta.get("res"), int) or not 16 <= meta["res"] <= 1024:
        raise CheckpointError(f"{jpath}: field res: {meta.get('res')!r} is not a resolution")
    if not wpath.exists():
        raise CheckpointError(f"{wpath}: weights file missing")
    if sha256_file(wpath) != meta.get("weights_sha256"):
        raise CheckpointError(f"{wpath}: sha256 differs from {jpath.name}'s weights_sha256 (altered or truncated)")
    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in DrawNet(DRAW_IN_CHANNELS).state_dict().items()}
    try:
        tensors = load(wpath.read_bytes())
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{wpath}: not a safetensors file ({e})") from None
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != want:
        bad = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got[k]]
        raise CheckpointError(f"{wpath}: weights do not fit the drawer (first difference: {bad[0]})")
    for k, v in tensors.items():
        if not np.isfinite(v).all():
            raise CheckpointError(f"{wpath}: tensor {k} holds NaN or Inf")
    net = DrawNet(DRAW_IN_CHANNELS)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    return net.eval(), meta
