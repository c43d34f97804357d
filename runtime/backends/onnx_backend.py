"""The onnx backend: the exported network on ONNX Runtime's CPU provider; geometry and memory in numpy.

This path never imports torch. When the checkpoint has no current ONNX export beside it, one is made by the
export module (trt_engines/export.py) in a fresh interpreter (multiprocessing's spawn: it imports torch there),
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
    missing or stale; batch: the export that takes a batch."""
    side = side if side is not None else checkpoint_info(checkpoint)[1]
    path = default_onnx_path(checkpoint, batch)
    if not path.exists() and not os.access(path.parent, os.W_OK):   # an installed package's read-only folder:
        path = _cache_dir() / f"{side['weights_sha256'][:24]}{''.join(path.suffixes)}"   # the user's cache
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path, read_sidecar(path, side["weights_sha256"])
    except ExportError:
        _export_apart("export_onnx", str(checkpoint), str(path), batch=batch)
        return path, read_sidecar(path, side["weights_sha256"])


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "worldloop" / "onnx"


def _export_job(name: str, src: str, out: str, errors, kwargs=None) -> None:
    """In the spawned interpreter: one export function of trt_engines.export; a failure's message goes back."""
    from worldloop.trt_engines import export
    try:
        getattr(export, name)(src, out, **(kwargs or {}))
    except Exception as e:  # noqa: BLE001 - any failure is reported to the parent as one line
        errors.put(f"{e.__class__.__name__}: {e}"[:500])    # short: a queue's pipe must not fill before the join


def _export_apart(name: str, src: str, out: str, **kwargs) -> None:
    """Run trt_engines.export.`name`(src, out, **kwargs) in a fresh interpreter, so torch never loads in this
    one."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    proc = ctx.Process(target=_export_job, args=(name, src, out, errors, kwargs))
    proc.start()
    proc.join()
    message = errors.get() if not errors.empty() else None
    if proc.exitcode != 0 or message:
        raise RuntimeError(f"exporting {src} to ONNX failed: {(message or f'exit status {proc.exitcode}')[-500:]}")


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
