"""Timing of one generator step (geometry, memory and network) with the torch network, in one process."""
from __future__ import annotations

import time

import numpy as np

from ..poses import Frame
from .config import ModelConfig
from .generator import NeuralGenerator
from .step import finish, prepare


def bench_step(cfg: ModelConfig, net_fn, start: Frame, actions: list, warm: int = 10) -> dict:
    """ms per step (p50, p90) over `actions`, split into prepare (warps, memory, inputs), network, finish."""
    gen = NeuralGenerator(cfg, net_fn)
    gen.start(start)
    for a in actions[:warm]:
        gen.step(a)
    t_prep, t_net, t_fin = [], [], []
    for a in actions[warm:]:
        t0 = time.perf_counter()
        prep = prepare(gen.state, a)
        t1 = time.perf_counter()
        out = net_fn(prep.inputs[None], prep.action[None])[0]
        t2 = time.perf_counter()
        finish(gen.state, prep, out)
        t3 = time.perf_counter()
        t_prep.append(t1 - t0)
        t_net.append(t2 - t1)
        t_fin.append(t3 - t2)
    total = np.array(t_prep) + np.array(t_net) + np.array(t_fin)
    ms = lambda x: float(np.percentile(np.asarray(x) * 1000, 50))  # noqa: E731
    return {"steps": len(total), "p50_ms": ms(total), "p90_ms": float(np.percentile(total * 1000, 90)),
            "prepare_p50_ms": ms(t_prep), "network_p50_ms": ms(t_net), "finish_p50_ms": ms(t_fin),
            "memory_keyframes": len(gen.state.memory)}
