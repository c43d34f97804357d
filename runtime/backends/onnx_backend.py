"""The onnx backend: the exported network on ONNX Runtime's CPU provider; geometry and memory in numpy.

This path never imports torch. When the checkpoint has no current ONNX export beside it, one is made by a
separate `worldloop export` process (which does use torch), so the playing process stays torch-free.
"""
from __future__ import annotations

import subprocess
import sys

from trt_engines.export import ExportError, default_onnx_path, read_sidecar
from trt_engines.ort import OrtNet, check_session, make_session
from worldgen.model.checkpoint import checkpoint_info

from .neural import NeuralBackend


def ensure_onnx(checkpoint, side: dict | None = None) -> tuple[object, dict]:
    """(onnx path, sidecar) for a checkpoint (whose sidecar may be given), exporting it in a subprocess when
    missing or stale."""
    side = side if side is not None else checkpoint_info(checkpoint)[1]
    path = default_onnx_path(checkpoint)
    try:
        return path, read_sidecar(path, side["weights_sha256"])
    except ExportError:
        proc = subprocess.run([sys.executable, "-m", "tools.cli", "export", "--checkpoint", str(checkpoint),
                               "--out", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"exporting {checkpoint} to ONNX failed: {proc.stderr.strip()[-500:]}") from None
        return path, read_sidecar(path, side["weights_sha256"])


class OnnxGenerator(NeuralBackend):
    name = "onnx"

    def __init__(self, checkpoint, threads: int | None = None, provider: str = "cpu"):
        self.config, side = checkpoint_info(checkpoint)
        path, _ = ensure_onnx(checkpoint, side)
        self.session = make_session(path, provider, threads)
        check_session(self.session, path, self.config.res)
        self.net = OrtNet(self.session, self.config.res)
        self._init_common(checkpoint, side)
