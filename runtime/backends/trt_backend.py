"""The trt backend: the network as a TensorRT engine (built once into the engine cache) on a CUDA stream."""
from __future__ import annotations

from worldloop.trt_engines.tensorrt_engine import TrtNet, build_engine
from worldloop.worldgen.model.checkpoint import checkpoint_info

from .neural import NeuralBackend
from .onnx_backend import ensure_onnx


class TrtGenerator(NeuralBackend):
    name = "trt"

    def __init__(self, checkpoint, precision: str = "fp16", engine_dir=None):
        self.config, side = checkpoint_info(checkpoint)
        onnx_path, _ = ensure_onnx(checkpoint, side)
        self.engine_path = build_engine(onnx_path, precision, engine_dir)
        self.net = TrtNet(self.engine_path, self.config.res)
        self._init_common(checkpoint, side)
