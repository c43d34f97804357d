"""`worldloop bench generator`: ms per tick with torch eager and ONNX Runtime, in one run, at 64 and 128 px.

A tick is the whole step: geometry and memory (numpy) plus the network. The 128x128 figures use the given
checkpoint; the 64x64 ones an untrained network of the same widths (timing does not depend on weights).
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from worldloop.worldgen.model.bench import bench_step


def network_gmac(cfg) -> float:
    """Multiply-accumulates of one forward pass (convolutions and linear layers), in GMAC."""
    import torch
    from worldloop.worldgen.model.network import RefineNet
    from worldloop.worldgen.model.step import IN_CHANNELS
    net = RefineNet(cfg).eval()
    total = [0]

    def conv(m, inp, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def lin(m, inp, out):
        total[0] += out.numel() * m.in_features

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(lin)
    with torch.no_grad():
        net(torch.zeros(1, IN_CHANNELS, cfg.res, cfg.res), torch.zeros(1, 5))
    return total[0] / 1e9


def bench_generator(checkpoint, start_frame_for, actions, threads: int = 2) -> list[dict]:
    """Rows per (res, runtime): p50/p90 ms per tick, network ms, GMAC per tick and GMAC/s."""
    import torch
    from worldloop.trt_engines.export import export_onnx
    from worldloop.trt_engines.ort import OrtNet, make_session
    from worldloop.worldgen.model.checkpoint import save_checkpoint
    from worldloop.worldgen.model.generator import TorchNet, load_torch_net
    from worldloop.worldgen.model.network import RefineNet
    torch.set_num_threads(threads)
    cfg128, net128, _ = load_torch_net(checkpoint)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for res in (64, 128):
            if res == cfg128.res:
                cfg, net, ck = cfg128, net128, checkpoint
            else:
                cfg = dataclasses.replace(cfg128, res=res)
                torch.manual_seed(0)
                net = RefineNet(cfg).eval()
                ck = save_checkpoint(Path(tmp) / f"r{res}", {k: v.numpy() for k, v in net.state_dict().items()},
                                     cfg, {})
            onnx_path = export_onnx(ck, Path(tmp) / f"r{res}.onnx")
            gmac = network_gmac(cfg)
            start = start_frame_for(cfg)
            for runtime, fn in (("torch", TorchNet(net)), ("onnx", OrtNet(make_session(onnx_path, threads=threads),
                                                                           cfg.res))):
                r = bench_step(cfg, fn, start, actions)
                rows.append({"res": res, "runtime": runtime, **r, "gmac": gmac,
                             "gmac_per_s": gmac / (r["network_p50_ms"] / 1000)})
    return rows
