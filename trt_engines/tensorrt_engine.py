"""TensorRT engines for the generator's network: build from the ONNX file, cache, and run on a CUDA stream.

Written to NVIDIA's documented TensorRT 10 Python API (Builder, OnnxParser, IBuilderConfig with the FP16 flag,
build_serialized_network; Runtime.deserialize_cuda_engine, IExecutionContext.set_tensor_address and
execute_async_v3) and cuda-python's runtime bindings for memory, streams and CUDA graphs. The project's
machines have no GPU: what runs without one (cache keys, sidecars, listing, cleaning, error messages) is
tested; building and running engines is not verified here (README, "What was verified where").

Engines live in a cache folder, never in git: `~/.cache/worldloop/engines` (or $XDG_CACHE_HOME), keyed by the
ONNX file's hash, the TensorRT version, the GPU's name and the precision; each has a JSON sidecar.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from worldloop.worldgen.files import atomic_write_bytes, atomic_write_text, sha256_file

FORMAT = "worldloop.trt_engine"
VERSION = 1
PRECISIONS = ("fp16", "fp32")


class TensorRTUnavailable(RuntimeError):
    """TensorRT or a CUDA GPU is missing; the message says what to install."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "worldloop" / "engines"


def engine_key(onnx_sha256: str, trt_version: str, gpu_name: str, precision: str) -> str:
    """The cache key: any change of network, TensorRT, GPU model or precision means another engine."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    blob = "\n".join([onnx_sha256, trt_version, gpu_name.strip(), precision]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def engine_paths(cache_dir, key: str) -> tuple[Path, Path]:
    d = Path(cache_dir)
    return d / f"{key}.engine", d / f"{key}.json"


def write_engine(cache_dir, key: str, plan: bytes, meta: dict) -> Path:
    """Store a serialized engine and its sidecar atomically; returns the engine's path."""
    engine, side = engine_paths(cache_dir, key)
    atomic_write_bytes(engine, plan)
    meta = {"format": FORMAT, "version": VERSION, "key": key, "engine": engine.name,
            "engine_sha256": sha256_file(engine), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta}
    atomic_write_text(side, json.dumps(meta, indent=1))
    return engine


def list_engines(cache_dir) -> list[dict]:
    """Sidecars of the cached engines, with 'ok' false for an engine whose file is missing or altered. Each row's
    `sidecar` is the file's own name in the cache folder (what `clean_engines` deletes), whatever it says inside.
    A cache path that is not a folder raises NotADirectoryError."""
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not cache_dir.is_dir():
        raise NotADirectoryError(f"{cache_dir}: the engine cache must be a folder, this is a file")
    out = []
    for side in sorted(cache_dir.glob("*.json")):
        if not side.is_file():
            continue
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError):
            out.append({"sidecar": side.name, "ok": False, "problem": "sidecar is not JSON"})
            continue
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            continue
        engine = side.with_suffix(".engine")
        ok = engine.is_file() and sha256_file(engine) == meta.get("engine_sha256")
        out.append({**meta, "sidecar": side.name, "ok": ok,
                    **({} if ok else {"problem": "engine file missing or altered"})})
    return out


def clean_engines(cache_dir) -> int:
    """Delete every cached engine and sidecar of this format; returns how many engines went."""
    n = 0
    for meta in list_engines(cache_dir):
        side = Path(cache_dir) / meta["sidecar"]     # the listed file itself: never a name read from inside it
        side.with_suffix(".engine").unlink(missing_ok=True)
        side.unlink(missing_ok=True)
        n += 1
    return n


def _tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTUnavailable("TensorRT is not installed: pip install 'worldloop[trt]' on a machine with an "
                                  "NVIDIA GPU") from None
    return trt


def _cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            raise TensorRTUnavailable("cuda-python is not installed: pip install 'worldloop[trt]'") from None
    return cudart


def _check(result):
    """cuda-python returns (error, *values); raise on an error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values


def gpu_name() -> str:
    cudart = _cudart()
    props = _check(cudart.cudaGetDeviceProperties(0))
    name = props.name
    return (name.decode() if isinstance(name, bytes) else str(name)).strip("\x00 ")


def build_engine(onnx_path, precision: str = "fp16", cache_dir=None, workspace_gb: int = 2) -> Path:
    """The cached engine for this ONNX file, TensorRT version, GPU and precision; built when missing."""
    trt = _tensorrt()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    onnx_sha = sha256_file(onnx_path)
    gpu = gpu_name()
    key = engine_key(onnx_sha, trt.__version__, gpu, precision)
    engine, side = engine_paths(cache_dir, key)
    if engine.exists() and side.exists() and any(m.get("key") == key and m["ok"] for m in list_engines(cache_dir)):
        return engine
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)        # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT could not parse the ONNX file: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gb << 30)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"{onnx_path}: TensorRT failed to build an engine")
    return write_engine(cache_dir, key, bytes(plan), {"onnx": str(onnx_path), "onnx_sha256": onnx_sha,
                                                      "tensorrt": trt.__version__, "gpu": gpu,
                                                      "precision": precision})


class TrtNet:
    """An engine as a numpy callable: pinned host buffers, device buffers bound once, one CUDA stream, and a
    CUDA graph of the enqueue when the engine allows capture."""

    def __init__(self, engine_path, res: int, in_channels: int = 24):
        trt, cudart = _tensorrt(), _cudart()
        self.cudart = cudart
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{engine_path}: not an engine for this TensorRT or GPU; rebuild it")
        self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        shapes = {"inputs": (1, in_channels, res, res), "action": (1, 5), "correction": (1, 4, res, res)}
        self.host, self.device = {}, {}
        for name, shape in shapes.items():
            nbytes = int(np.prod(shape)) * 4
            ptr = _check(cudart.cudaMallocHost(nbytes))
            self.host[name] = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_float * int(np.prod(shape))).from_address(
                int(ptr))).reshape(shape)
            self.device[name] = _check(cudart.cudaMalloc(nbytes))
            self.context.set_tensor_address(name, int(self.device[name]))
        self.graph = None
        self._run_plain()                       # first run outside capture: lets TensorRT settle its state
        self._capture()

    def _copy(self, name, to_device: bool):
        c = self.cudart
        kind = c.cudaMemcpyKind.cudaMemcpyHostToDevice if to_device else c.cudaMemcpyKind.cudaMemcpyDeviceToHost
        dst, src = (self.device[name], self.host[name].ctypes.data) if to_device else \
            (self.host[name].ctypes.data, self.device[name])
        _check(c.cudaMemcpyAsync(dst, src, self.host[name].nbytes, kind, self.stream))

    def _run_plain(self):
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")

    def _capture(self):
        c = self.cudart
        try:
            _check(c.cudaStreamBeginCapture(self.stream, c.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
            self._run_plain()
            graph = _check(c.cudaStreamEndCapture(self.stream))
            self.graph = _check(c.cudaGraphInstantiate(graph, 0))
        except RuntimeError:
            c.cudaStreamEndCapture(self.stream)   # leave the stream usable; ignore what capture made
            self.graph = None                   # some engines cannot be captured: run them plainly

    def __call__(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        self.host["inputs"][...] = x
        self.host["action"][...] = a
        self._copy("inputs", True)
        self._copy("action", True)
        if self.graph is not None:
            _check(self.cudart.cudaGraphLaunch(self.graph, self.stream))
        else:
            self._run_plain()
        self._copy("correction", False)
        _check(self.cudart.cudaStreamSynchronize(self.stream))
        return self.host["correction"]
