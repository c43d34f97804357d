"""Many worlds stepped together: one network call a tick for all of them, the geometry of each beside it.

A lane is a NeuralGenerator of its own (its state: frame, memory, random state) sharing one backend's network.
The vector environment (worldloop.env) and counterfactual branches (World.branch) step lanes; the onnx
backend's batch export makes a lane's frames the same bit for bit whether it is stepped alone or with others.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from worldloop.worldgen.model.generator import NeuralGenerator
from worldloop.worldgen.model.step import finish, prepare
from worldloop.worldgen.poses import Frame


def is_neural(backend) -> bool:
    return hasattr(backend, "gen") and hasattr(backend, "net")


def new_lane(backend) -> NeuralGenerator:
    """A generator sharing `backend`'s network (and drawer), with a state of its own once started."""
    g = backend.gen
    return NeuralGenerator(backend.config, backend.net, invent=g.invent, settle=g.settle, drawer=g.drawer)


def lane_from_state(backend, arrays: dict, meta: dict, frame: Frame) -> NeuralGenerator:
    lane = new_lane(backend)
    lane.start(frame)
    lane.restore_state(arrays, meta)
    return lane


def run_net(backend, x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The network on a batch: in one call where the backend takes a batch (the onnx batch export, torch),
    else one call a world (TensorRT's engine is built for one)."""
    if getattr(backend, "batched", False) or backend.name == "torch":
        return backend.net(x, a)
    return np.concatenate([np.array(backend.net(x[i:i + 1], a[i:i + 1])) for i in range(len(x))])


PREPARE_THREADS = 2     # lanes prepared at once: the warp's compiled loops release the GIL (kernels.py)
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    """In a forked child the parent's pool has no threads: make a new one there."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _prepare_all(lanes: list[NeuralGenerator], actions: np.ndarray) -> list:
    """Every lane's `prepare`, PREPARE_THREADS at a time: lanes share nothing but the network, and what a
    lane's prepare computes depends on its own state only, so the order of work changes no result."""
    global _pool
    if PREPARE_THREADS < 2 or len(lanes) < 2:
        return [prepare(lane.state, a) for lane, a in zip(lanes, actions)]
    if _pool is None:
        _pool = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="worldloop-prepare")
    return list(_pool.map(prepare, [lane.state for lane in lanes], list(actions)))


def step_lanes(backend, lanes: list[NeuralGenerator], actions: np.ndarray) -> list[Frame]:
    """One tick of every lane, actions (N, 5): each prepared (warp, memory), one network call, each finished."""
    preps = _prepare_all(lanes, actions)
    out = run_net(backend, np.stack([p.inputs for p in preps]), np.stack([p.action for p in preps]))
    frames = []
    for i, (lane, p) in enumerate(zip(lanes, preps)):
        lane.applied_action = p.action_clamped
        frames.append(finish(lane.state, p, out[i]))
    return frames


def branch(world, state, actions: list) -> list:
    """K rollouts from `state` (api.World.branch)."""
    from .api import Rollout, check_actions
    seqs = [check_actions(seq, f"actions[{k}]") for k, seq in enumerate(actions)]
    backend = world.session.backend
    if state.model_id != backend.model_id:
        raise ValueError(f"branch: the state is of model {state.model_id}, this world runs {backend.model_id}")
    if state.spec != world.spec:
        raise ValueError(f"branch: the state is of scene '{state.spec.name}', this world is in '{world.spec.name}'")
    frames = [[] for _ in seqs]
    applied = [[] for _ in seqs]
    if is_neural(backend):
        lanes = [lane_from_state(backend, state.arrays, state.meta, state.frame) for _ in seqs]
        for t in range(max((len(s) for s in seqs), default=0)):
            live = [k for k, s in enumerate(seqs) if t < len(s)]
            out = step_lanes(backend, [lanes[k] for k in live], np.stack([seqs[k][t] for k in live]))
            for k, f in zip(live, out):
                frames[k].append(f)
                applied[k].append(lanes[k].applied_action.copy())
    else:                        # the oracle: the true frames, one branch after another from the same state
        before = backend.export_state()
        try:
            for k, seq in enumerate(seqs):
                backend.import_state(state.arrays, state.meta)
                for a in seq:
                    frames[k].append(backend.step(a))
                    applied[k].append(np.array(backend.applied_action, np.float64))
        finally:
            backend.import_state(*before)
    return [Rollout(fs, np.array(ap, np.float64).reshape(len(ap), 5),
                    np.array([f.pose.as_array() for f in fs]).reshape(len(fs), 5)) for fs, ap in zip(frames, applied)]
