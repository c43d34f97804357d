"""Checkpoints: weights in safetensors beside a JSON file with the model config, training config and hashes.

`X.safetensors` holds the tensors and `X.json` describes them. Both are written to temporary names and
renamed; loading never unpickles anything.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FileRefused
from ..files import atomic_write_bytes, atomic_write_text, read_json, sha256_file
from .config import ModelConfig

FORMAT = "worldloop.checkpoint"
VERSION = 1


class CheckpointError(FileRefused):
    """A checkpoint that cannot be used; the message names the file and the field."""


def paths(path) -> tuple[Path, Path]:
    """(weights, sidecar) for a checkpoint given as X, X.json or X.safetensors."""
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_checkpoint(path, tensors: dict[str, np.ndarray], cfg: ModelConfig, meta: dict) -> Path:
    """Write weights (numpy arrays by name) and the JSON sidecar; returns the sidecar's path."""
    from safetensors.numpy import save
    wpath, jpath = paths(path)
    atomic_write_bytes(wpath, save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))
    side = {"format": FORMAT, "version": VERSION, "model": cfg.to_dict(), "weights": wpath.name,
            "weights_sha256": sha256_file(wpath), **meta}
    atomic_write_text(jpath, json.dumps(side, indent=1))
    return jpath


def checkpoint_info(path) -> tuple[ModelConfig, dict]:
    """(config, sidecar) of a checkpoint whose weights file is present and unaltered; tensors not loaded."""
    wpath, jpath = paths(path)
    side = read_json(jpath, CheckpointError, "no such checkpoint")
    if side.get("format") != FORMAT:
        raise CheckpointError(f"{jpath}: field format must be '{FORMAT}'")
    if not isinstance(side.get("version"), int) or side["version"] > VERSION:
        raise CheckpointError(f"{jpath}: version {side.get('version')!r} is newer than this worldloop reads "
                              f"({VERSION})")
    try:
        cfg = ModelConfig.from_dict(side["model"], str(jpath))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{jpath}: field model: {e}") from None
    if not wpath.exists():
        raise CheckpointError(f"{wpath}: weights file missing")
    if sha256_file(wpath) != side.get("weights_sha256"):
        raise CheckpointError(f"{wpath}: sha256 differs from {jpath.name}'s weights_sha256 (altered or truncated)")
    return cfg, side


def load_checkpoint(path) -> tuple[ModelConfig, dict[str, np.ndarray], dict]:
    """(config, tensors, sidecar); a missing, altered or foreign file raises CheckpointError."""
    from safetensors.numpy import load
    cfg, side = checkpoint_info(path)
    wpath = paths(path)[0]
    try:
        tensors = load(wpath.read_bytes())
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{wpath}: not a safetensors file ({e})") from None
    for k, v in tensors.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise CheckpointError(f"{wpath}: tensor {k} holds NaN or Inf: the network would draw nothing")
    return cfg, tensors, side


def model_id(side: dict) -> str:
    """A short id of a checkpoint's weights (the first 16 hex digits of their sha256)."""
    return side["weights_sha256"][:16]
