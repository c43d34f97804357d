"""ONNX Runtime sessions for the generator's network: CPU (threads = cores, all graph optimisations) or the
CUDA and TensorRT execution providers; input and output buffers allocated once and bound (no allocation per
tick)."""
from __future__ import annotations

import os

import numpy as np

PROVIDERS = {"cpu": ["CPUExecutionProvider"],
             "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
             "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}


def make_session(onnx_path, provider: str = "cpu", threads: int | None = None):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    available = ort.get_available_providers()
    wanted = [p for p in PROVIDERS[provider] if p in available]
    if PROVIDERS[provider][0] not in available:
        raise RuntimeError(f"ONNX Runtime here has no {PROVIDERS[provider][0]} (available: {', '.join(available)})")
    return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=wanted)


class OrtNet:
    """The network as a numpy callable on an ONNX Runtime session, with pre-bound buffers."""

    def __init__(self, session, res: int, in_channels: int = 24):
        self.session = session
        self.x = np.zeros((1, in_channels, res, res), np.float32)
        self.a = np.zeros((1, 5), np.float32)
        self.out = np.zeros((1, 4, res, res), np.float32)
        self.binding = session.io_binding()
        self.binding.bind_cpu_input("inputs", self.x)
        self.binding.bind_cpu_input("action", self.a)
        self.binding.bind_output("correction", "cpu", 0, np.float32, list(self.out.shape), self.out.ctypes.data)

    def __call__(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        self.x[...] = x        # copy into the bound buffers: nothing is allocated per tick
        self.a[...] = a
        self.session.run_with_iobinding(self.binding)
        return self.out
