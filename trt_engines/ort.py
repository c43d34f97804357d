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
    # threads sleep between calls instead of spinning for the cores: beside other work, spinning made every
    # call wait on the other process (runtime/cores.py)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    available = ort.get_available_providers()
    wanted = [p for p in PROVIDERS[provider] if p in available]
    if PROVIDERS[provider][0] not in available:
        raise RuntimeError(f"ONNX Runtime here has no {PROVIDERS[provider][0]} (available: {', '.join(available)})")
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=wanted)
    except Exception as e:      # onnxruntime's own kinds (InvalidProtobuf, Fail, InvalidGraph, ...)
        from .export import ExportError
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
        raise ExportError(f"{onnx_path}: not an ONNX model ONNX Runtime can run ({first})") from None


def check_session(session, onnx_path, res: int, in_channels: int = 24, batch: bool = False) -> None:
    """The session's inputs and output are the generator network's, at the model's resolution (batch: its
    first axis free)."""
    from .export import ExportError
    b = "batch" if batch else 1
    want_in = {"inputs": [b, in_channels, res, res], "action": [b, 5]}
    got_in = {i.name: list(i.shape) for i in session.get_inputs()}
    got_out = {o.name: list(o.shape) for o in session.get_outputs()}
    if got_in != want_in or got_out != {"correction": [b, 4, res, res]}:
        raise ExportError(f"{onnx_path}: inputs {got_in} and outputs {got_out} are not the generator network's "
                          f"at {res}x{res}")


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


class OrtBatchNet:
    """The batch export (export_onnx(batch=True)) as a numpy callable: any number of worlds in one call."""

    def __init__(self, session):
        self.session = session

    def __call__(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        return self.session.run(["correction"], {"inputs": np.ascontiguousarray(x, np.float32),
                                                 "action": np.ascontiguousarray(a, np.float32)})[0]


class OrtDrawer:
    """The drawer (worldgen/model/drawer.py) as a numpy callable on an ONNX Runtime session."""

    def __init__(self, session, res: int, in_channels: int = 9):
        self.session = session
        self.x = np.zeros((1, in_channels, res, res), np.float32)
        self.out = np.zeros((1, 4, res, res), np.float32)
        self.binding = session.io_binding()
        self.binding.bind_cpu_input("inputs", self.x)
        self.binding.bind_output("drawn", "cpu", 0, np.float32, list(self.out.shape), self.out.ctypes.data)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.x[...] = x
        self.session.run_with_iobinding(self.binding)
        return self.out.copy()
