"""ONNX export of the network the generator runs every tick: static shapes, checked, with a JSON sidecar.

The exported graph is exactly `RefineNet.forward`: inputs `inputs` (1, 24, H, W) float32 and `action` (1, 5)
float32, output `correction` (1, 4, H, W) float32. Geometry and memory stay outside, in numpy, shared with
training and every backend.

A second export takes a batch (`batch=True`: X.batch.onnx, its first axis `batch` free): one call steps many
worlds (worldloop.env's vector environment, counterfactual branches). The play path and TensorRT keep the
static file.
"""
from __future__ import annotations

import json
from pathlib import Path

from worldloop.worldgen.errors import FileRefused
from worldloop.worldgen.files import atomic_write_text, read_json, replacing, sha256_file
from worldloop.worldgen.model.checkpoint import paths as checkpoint_paths

FORMAT = "worldloop.onnx"
VERSION = 1
OPSET = 17
INPUTS = ("inputs", "action")
OUTPUTS = ("correction",)


def sidecar_path(onnx_path) -> Path:
    return Path(onnx_path).with_suffix(".onnx.json")


def default_onnx_path(checkpoint, batch: bool = False) -> Path:
    """The ONNX file that belongs beside a checkpoint: X.onnx for X.json (X.batch.onnx taking a batch)."""
    return checkpoint_paths(checkpoint)[1].with_suffix(".batch.onnx" if batch else ".onnx")


def export_onnx(checkpoint, out=None, batch: bool = False) -> Path:
    """Export the checkpoint's network to ONNX (written atomically) and its sidecar; returns the ONNX path.
    batch: the first axis of every input and output is free (named `batch`)."""
    import onnx
    import torch
    from worldloop.worldgen.model.generator import load_torch_net
    from worldloop.worldgen.model.step import IN_CHANNELS
    cfg, net, side = load_torch_net(checkpoint)
    out = Path(out) if out else default_onnx_path(checkpoint, batch)
    x = torch.zeros(1, IN_CHANNELS, cfg.res, cfg.res)
    a = torch.zeros(1, 5)
    axes = {n: {0: "batch"} for n in (*INPUTS, *OUTPUTS)} if batch else None
    b = "batch" if batch else 1
    with replacing(out) as tmp:
        with torch.no_grad():
            torch.onnx.export(net.eval(), (x, a), str(tmp), input_names=list(INPUTS), output_names=list(OUTPUTS),
                              opset_version=OPSET, dynamo=False, do_constant_folding=True, dynamic_axes=axes)
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    meta = {"format": FORMAT, "version": VERSION, "onnx": out.name, "onnx_sha256": sha256_file(out),
            "checkpoint": checkpoint_paths(checkpoint)[1].name,
            "checkpoint_weights_sha256": side["weights_sha256"], "model": cfg.to_dict(), "opset": OPSET,
            "exporter": f"torch {torch.__version__} (TorchScript exporter)", "onnx_version": onnx.__version__,
            "inputs": {"inputs": [b, IN_CHANNELS, cfg.res, cfg.res], "action": [b, 5]},
            "outputs": {"correction": [b, 4, cfg.res, cfg.res]}, "dtype": "float32"}
    atomic_write_text(sidecar_path(out), json.dumps(meta, indent=1))
    return out


class ExportError(FileRefused):
    """An ONNX file that does not belong to its checkpoint or is damaged."""


def read_sidecar(onnx_path, checkpoint_weights_sha256: str | None = None, fmt: str = FORMAT) -> dict:
    """The sidecar of an exported file, checked against the file (and the checkpoint, when given); `fmt`:
    DRAWER_FORMAT for an exported drawer."""
    onnx_path = Path(onnx_path)
    sp = sidecar_path(onnx_path)
    meta = read_json(sp, ExportError, "no sidecar (export with: worldloop export --checkpoint C)")
    if meta.get("format") != fmt or not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise ExportError(f"{sp}: field format/version: not a {fmt} version <= {VERSION}")
    if not onnx_path.exists() or sha256_file(onnx_path) != meta.get("onnx_sha256"):
        raise ExportError(f"{onnx_path}: missing or altered (sha256 differs from {sp.name})")
    if checkpoint_weights_sha256 and meta.get("checkpoint_weights_sha256") != checkpoint_weights_sha256:
        raise ExportError(f"{onnx_path}: exported from other weights than the checkpoint's; export again")
    return meta


DRAWER_FORMAT = FORMAT + ".drawer"
DRAWER_INPUTS = ("inputs",)
DRAWER_OUTPUTS = ("drawn",)


def export_drawer_onnx(drawer, out=None) -> Path:
    """Export a trained drawer (drawer.json) to ONNX beside it (drawer.onnx, written atomically): input `inputs`
    (1, 9, H, W), output `drawn` (1, 4, H, W); a sidecar ties it to the drawer's weights."""
    import onnx
    import torch
    from worldloop.worldgen.model.drawer import DRAW_IN_CHANNELS
    from worldloop.worldgen.model.train_drawer import load_drawer
    net, meta = load_drawer(drawer)
    out = Path(out) if out else Path(drawer).with_suffix(".onnx")
    r = int(meta["res"])
    with replacing(out) as tmp:
        with torch.no_grad():
            torch.onnx.export(net, (torch.zeros(1, DRAW_IN_CHANNELS, r, r),), str(tmp),
                              input_names=list(DRAWER_INPUTS), output_names=list(DRAWER_OUTPUTS),
                              opset_version=OPSET, dynamo=False, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    side = {"format": DRAWER_FORMAT, "version": VERSION, "onnx": out.name, "onnx_sha256": sha256_file(out),
            "drawer": Path(drawer).with_suffix(".json").name, "drawer_weights_sha256": meta["weights_sha256"],
            "res": r, "opset": OPSET, "inputs": {"inputs": [1, DRAW_IN_CHANNELS, r, r]},
            "outputs": {"drawn": [1, 4, r, r]}, "dtype": "float32"}
    atomic_write_text(sidecar_path(out), json.dumps(side, indent=1))
    return out
