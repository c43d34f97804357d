"""The onnx backend: the exported network on ONNX Runtime's CPU provider; geometry and memory in numpy.

This path never imports torch. When the checkpoint has no current ONNX export beside it, one is made by a
separate `worldloop export` process (which does use torch), so the playing process stays torch-free.
"""
from __future__ import annotations

import subprocess
import sys

from pathlib import Path

from trt_engines.export import DRAWER_FORMAT, ExportError, default_onnx_path, read_sidecar
from trt_engines.ort import OrtDrawer, OrtNet, check_session, make_session
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


def ensure_drawer_onnx(drawer) -> tuple[Path, dict]:
    """(onnx path, sidecar) of a trained drawer, exported beside it in a subprocess when missing or stale (the
    playing process stays torch-free)."""
    from worldgen.files import read_json
    from worldgen.model.checkpoint import CheckpointError
    jpath = Path(drawer).with_suffix(".json")
    meta = read_json(jpath, CheckpointError, "no such drawer")
    path = jpath.with_suffix(".onnx")
    try:
        return path, _drawer_sidecar(path, meta)
    except ExportError:
        proc = subprocess.run([sys.executable, "-m", "tools.cli", "export", "--drawer", str(jpath), "--out", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"exporting {jpath} to ONNX failed: {proc.stderr.strip()[-500:]}") from None
        return path, _drawer_sidecar(path, meta)


def _drawer_sidecar(path, meta: dict) -> dict:
    """The exported drawer's sidecar, checked against its file and the drawer's weights."""
    side = read_sidecar(path, fmt=DRAWER_FORMAT)
    if side.get("drawer_weights_sha256") != meta.get("weights_sha256"):
        raise ExportError(f"{path}: exported from other drawer weights; export again")
    return side


class OnnxGenerator(NeuralBackend):
    name = "onnx"

    def __init__(self, checkpoint, threads: int | None = None, provider: str = "cpu", drawer=None):
        self.config, side = checkpoint_info(checkpoint)
        path, _ = ensure_onnx(checkpoint, side)
        self.session = make_session(path, provider, threads)
        check_session(self.session, path, self.config.res)
        self.net = OrtNet(self.session, self.config.res)
        self.drawer = None
        if drawer is not None:
            dpath, dside = ensure_drawer_onnx(drawer)
            self._check_drawer(drawer, dside)
            self.drawer = OrtDrawer(make_session(dpath, provider, threads), self.config.res)
        self._init_common(checkpoint, side, drawer)
