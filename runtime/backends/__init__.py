"""Generator backends behind one interface (`Generator`), and `auto` selection.

oracle is the procedural renderer itself; torch, onnx and trt run the neural generator and see only their
start frame, the actions and their own outputs.
"""
from __future__ import annotations

import importlib.util
import shutil
from typing import Protocol, runtime_checkable

from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.poses import Frame, Pose

BACKENDS = ("oracle", "torch", "onnx", "trt")


@runtime_checkable
class Generator(Protocol):
    """What the session, the display and the HUD may use of a backend, and nothing more: no attribute chains
    into a backend's internals."""

    name: str
    config: ModelConfig          # resolution, tick rate, action range
    model_id: str                # what a save or recording must match
    model_sha256: str
    applied_action: object       # the action the last step applied, clamped once by the backend: what is recorded

    def start(self, spec, pose: Pose | None = None, for_state: bool = False, picture: Frame | None = None) -> Frame: ...

    def step(self, action) -> Frame: ...

    def export_state(self) -> tuple[dict, dict]: ...

    def import_state(self, arrays: dict, meta: dict) -> Frame: ...

    def stats(self) -> dict:
        """For the HUD and the memory view: at least "keyframes" (how many the spatial memory holds)."""
        ...


class BackendUnavailable(RuntimeError):
    """A backend that cannot run here; the message says what is missing and what to do."""


def cuda_gpu_present() -> bool:
    return shutil.which("nvidia-smi") is not None and importlib.util.find_spec("tensorrt") is not None


def select_backend(requested: str) -> tuple[str, str]:
    """(backend, reason). auto: TensorRT with a CUDA GPU and tensorrt, else ONNX Runtime on the CPU."""
    if requested != "auto":
        return requested, f"backend {requested}: asked for with --backend"
    if importlib.util.find_spec("tensorrt") is None:
        why = "the tensorrt package is not installed (pip install 'worldloop[trt]')"
    elif shutil.which("nvidia-smi") is None:
        why = "no NVIDIA GPU found (nvidia-smi missing)"
    else:
        return "trt", "backend trt: a CUDA GPU and tensorrt are present"
    if importlib.util.find_spec("onnxruntime") is not None:
        return "onnx", f"backend onnx: ONNX Runtime on the CPU, because {why}"
    return "torch", f"backend torch: torch eager on the CPU, because {why} and onnxruntime is not installed"


def make_generator(name: str, checkpoint=None, ort_provider: str = "cpu", threads: int | None = None, drawer=None,
                   batch: bool = False):
    """Construct a backend by name; raises BackendUnavailable with a one-line reason. `ort_provider` picks
    ONNX Runtime's execution provider for the onnx backend: cpu, or cuda / tensorrt on an NVIDIA GPU. `drawer`:
    a trained drawer (worldgen/model/drawer.py) for the torch and onnx backends. `batch`: the onnx backend runs
    the export that takes a batch (the Python API's worlds, vectors and branches)."""
    if drawer is not None and name not in ("torch", "onnx"):
        raise BackendUnavailable(f"--drawer runs with the torch and onnx backends, not {name}")
    if name == "oracle":
        from .oracle import OracleGenerator
        return OracleGenerator(checkpoint)
    if name == "torch":
        from .torch_backend import TorchGenerator
        return TorchGenerator(checkpoint, threads, drawer)
    if name == "onnx":
        from .onnx_backend import OnnxGenerator
        try:
            return OnnxGenerator(checkpoint, threads, provider=ort_provider, drawer=drawer, batch=batch)
        except RuntimeError as e:
            raise BackendUnavailable(str(e)) from None
    if name == "trt":
        from worldloop.trt_engines.tensorrt_engine import TensorRTUnavailable
        if not cuda_gpu_present():
            raise BackendUnavailable("the trt backend needs an NVIDIA GPU (nvidia-smi) and TensorRT "
                                     "(pip install 'worldloop[trt]'); use --backend onnx on this machine")
        from .trt_backend import TrtGenerator
        try:
            return TrtGenerator(checkpoint)
        except TensorRTUnavailable as e:
            raise BackendUnavailable(str(e)) from None
    raise BackendUnavailable(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
