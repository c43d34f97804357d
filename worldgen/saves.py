"""Save games: everything needed to continue exactly, in one versioned file, written atomically, no pickle.

A save (.wlsave) is an uncompressed zip written by numpy (np.savez): the generator state's arrays under
`gen.<name>`, and `meta_json`, a JSON document with the format, version, scene spec, model id and sha256,
tick, pose, the generator state's own meta, and the sha256 of every array; `meta_sha256` holds the sha256 of
`meta_json` itself (version 2), so an altered file is caught wherever it was altered. A scene made from a
picture carries its start frame inside the save (`start.rgb`, `start.depth`, version 3); the scene in the
meta names its files without a path. Before anything is read,
every entry is checked: stored or deflated, not encrypted, no bigger than MAX_ENTRY_BYTES unpacked.
The same save loads on every neural backend (torch, onnx, trt): the state is the model's, not the backend's.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .errors import FileRefused
from .files import read_npz, replacing

FORMAT = "worldloop.save"
VERSION = 3        # 2: meta_sha256 covers the meta; 3: a picture scene's start frame inside
MAX_ENTRY_BYTES = 256 << 20    # a 256-keyframe memory at 128x128 is about 30 MB


class SaveError(FileRefused):
    """A save that cannot be loaded; the message names the file and what is wrong."""


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes() + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()


def write_save(path, scene: dict, model_id: str, model_sha256: str, backend: str, arrays: dict, gen_meta: dict,
               extra: dict | None = None, start: dict | None = None) -> Path:
    """start: a picture scene's start frame ({"rgb", "depth"}), carried inside the save (`start.<name>`
    entries, their digests in the meta's `start_arrays`) so that the save needs no file beside it."""
    path = Path(path)
    start = start or {}
    meta = {"format": FORMAT, "version": VERSION, "scene": scene, "model_id": model_id,
            "model_sha256": model_sha256, "saved_by_backend": backend, "generator": gen_meta,
            "tick": gen_meta.get("tick"), "pose": gen_meta.get("pose"),
            "arrays": {k: _digest(v) for k, v in arrays.items()}, **(extra or {})}
    if start:
        meta["start_arrays"] = {k: _digest(v) for k, v in start.items()}
    with replacing(path) as tmp, open(tmp, "wb") as f:
        text = json.dumps(meta)
        np.savez(f, meta_json=np.array(text), meta_sha256=np.array(hashlib.sha256(text.encode()).hexdigest()),
                 **{f"gen.{k}": v for k, v in arrays.items()}, **{f"start.{k}": v for k, v in start.items()})
        f.flush()
        os.fsync(f.fileno())
    return path


def read_save(path, expect_model_id: str | None = None, with_start: bool = False) -> tuple:
    """(meta, arrays) of a save, and its start frame's arrays ({} for a procedural scene) if with_start;
    SaveError if it is truncated, altered, newer, or for another model."""
    path = Path(path)
    z = read_npz(path, SaveError, MAX_ENTRY_BYTES)
    if "meta_json" not in z:
        raise SaveError(f"{path}: not a worldloop save (no meta_json)")
    text = str(z["meta_json"])
    # (surrogatepass: a stranger's meta may hold code points UTF-8 cannot carry; then the digest differs)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if "meta_sha256" in z and str(z["meta_sha256"]) != digest:
        raise SaveError(f"{path}: field meta_json does not match meta_sha256 (file altered)")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError, SystemError):
        raise SaveError(f"{path}: field meta_json is not JSON") from None
    if not isinstance(meta, dict):
        raise SaveError(f"{path}: field meta_json is not a table")
    if isinstance(meta.get("version"), int) and meta["version"] >= 2 and "meta_sha256" not in z:
        raise SaveError(f"{path}: field meta_sha256 is missing (file altered)")
    arrays = {k[4:]: v for k, v in z.items() if k.startswith("gen.")}
    if not isinstance(meta.get("arrays"), dict):
        raise SaveError(f"{path}: field arrays is missing")
    if meta.get("format") != FORMAT:
        raise SaveError(f"{path}: field format must be '{FORMAT}'")
    if not isinstance(meta.get("version"), int) or isinstance(meta["version"], bool) or meta["version"] > VERSION:
        raise SaveError(f"{path}: version {meta.get('version')!r} was written by a newer worldloop "
                        f"(this one reads up to {VERSION})")
    if expect_model_id is not None and meta.get("model_id") != expect_model_id:
        raise SaveError(f"{path}: made with model {meta.get('model_id')!r}, but the running model is "
                        f"{expect_model_id!r}")
    digests = meta.get("arrays", {})
    if set(digests) != set(arrays) or any(_digest(arrays[k]) != d for k, d in digests.items()):
        raise SaveError(f"{path}: the generator state does not match its checksums (file altered)")
    start = {k[6:]: v for k, v in z.items() if k.startswith("start.")}
    digests = meta.get("start_arrays", {})
    if not isinstance(digests, dict) or set(digests) != set(start) \
            or any(_digest(start[k]) != d for k, d in digests.items()):
        raise SaveError(f"{path}: field start_arrays does not match the start frame it carries (file altered)")
    return (meta, arrays, start) if with_start else (meta, arrays)

