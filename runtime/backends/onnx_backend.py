"""The onnx backend: the exported network on ONNX Runtime's CPU provider; geometry and memory in numpy.

This path never imports torch. When the checkpoint has no current ONNX export beside it, one is made by the
export module (trt_engines/export.py) in a fresh interpreter (`python -c`: it imports torch there),
so the playing process stays torch-free.
"""
from __future__ import annotations

import os
from pathlib import Path

from worldloop.trt_engines.export import DRAWER_FORMAT, ExportError, default_onnx_path, read_sidecar
from worldloop.trt_engines.ort import OrtBatchNet, OrtDrawer, OrtNet, check_session, make_session
from worldloop.worldgen.model.checkpoint import checkpoint_info

from .neural import NeuralBackend


def ensure_onnx(checkpoint, side: dict | None = None, batch: bool = False) -> tuple[object, dict]:
    """(onnx path, sidecar) for a checkpoint (whose sidecar may be given), exporting it in a subprocess when
    missing or stale; batch: the export that takes a batch. Where the checkpoint's folder cannot be written
    (an installed package), the export lives in the user's cache instead."""
    side = side if side is not None else checkpoint_info(checkpoint)[1]
    path = default_onnx_path(checkpoint, batch)
    try:
        return path, read_sidecar(path, side["weights_sha256"])
    except ExportError:
        if not os.access(path.parent, os.W_OK):
            path = _cache_dir() / f"{side['weights_sha256'][:24]}{''.join(path.suffixes)}"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return path, read_sidecar(path, side["weights_sha256"])
            except ExportError:
                pass
        _export_apart("export_onnx", str(checkpoint), str(path), batch=batch)
        return path, read_sidecar(path, side["weights_sha256"])


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "worldloop" / "onnx"


_EXPORT_JOB = """
import json, sys
from worldloop.trt_engines import export
try:
    getattr(export, sys.argv[1])(sys.argv[2], sys.argv[3], **json.loads(sys.argv[4]))
except Exception as e:
    print(f"{e.__class__.__name__}: {e}"[:500], file=sys.stderr)
    sys.exit(1)
"""


def _export_apart(name: str, src: str, out: str, **kwargs) -> None:
    """Run trt_engines.export.`name`(src, out, **kwargs) in a fresh interpreter (`python -c`), so torch never
    loads in this one. Not multiprocessing's spawn: that runs the caller's main script again, and a script
    without an `if __name__ == "__main__"` guard (a notebook's, an agent's) would fail."""
    import json
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _EXPORT_JOB, name, src, out, json.dumps(kwargs)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(f"exporting {src} to ONNX failed: {(lines[-1] if lines else f'exit status {proc.returncode}')[-500:]}")


def ensure_drawer_onnx(drawer) -> tuple[Path, dict]:
    """(onnx path, sidecar) of a trained drawer, exported beside it in a subprocess when missing or stale (the
    playing process stays torch-free)."""
    from worldloop.worldgen.files import read_json
    from worldloop.worldgen.model.checkpoint import CheckpointError
    jpath = Path(drawer).with_suffix(".json")
    meta = read_json(jpath, CheckpointError, "no such drawer")
    path = jpath.with_suffix(".onnx")
    try:
        return path, _drawer_sidecar(path, meta)
    except ExportError:
        _export_apart("export_drawer_onnx", str(jpath), str(path))
        return path, _drawer_sidecar(path, meta)


def _drawer_sidecar(path, meta: dict) -> dict:
    """The exported drawer's sidecar, checked against its file and the drawer's weights."""
    side = read_sidecar(path, fmt=DRAWER_FORMAT)
    if side.get("drawer_weights_sha256") != meta.get("weights_sha256"):
        raise ExportError(f"{path}: exported from other drawer weights; export again")
    return side


class OnnxGenerator(NeuralBackend):
    name = "onnx"

    def __init__(self, checkpoint, threads: int | None = None, provider: str = "cpu", drawer=None,
                 batch: bool = False):
        """batch: run the export that takes a batch (worldloop's Python API: one world, a vector of worlds and
        branches then give the same frames bit for bit; the static file's can differ in the last bits)."""
        self.config, side = checkpoint_info(checkpoint)
        path, _ = ensure_onnx(checkpoint, side, batch)
        self.session = make_session(path, provider, threads)
        check_session(self.session, path, self.config.res, batch=batch)
        self.batched = batch
        self.net = OrtBatchNet(self.session) if batch else OrtNet(self.session, self.config.res)
        self.drawer = None
        if drawer is not None:
            dpath, dside = ensure_drawer_onnx(drawer)
            self._check_drawer(drawer, dside)
            self.drawer = OrtDrawer(make_session(dpath, provider, threads), self.config.res)
        self._init_common(checkpoint, side, drawer)
