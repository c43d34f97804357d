"""`worldloop scene from-image`: a scene whose start frame is a picture, with depth from the model.

The picture is centre-cropped and resized to the model's resolution. Depth: the network refines a prior
(flat ground below the horizon at eye height, sky above) the way it refines a warp, and its depth output is
kept. The bundled model learned only procedural worlds, so on a photograph this depth is rough; the neural
backends play from it, the oracle cannot (it has no ground truth for a picture).
"""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
from PIL import Image

from worldloop.worldgen.files import atomic_write_bytes, npy_header
from worldloop.worldgen.model.geometry import SKY_DEPTH_M
from worldloop.worldgen.poses import Frame, Pose
from worldloop.worldgen.procedural.authoring import save_scene
from worldloop.worldgen.procedural.spec import SceneSpec, SpecError, StartFrame, biome_default
from worldloop.worldgen.procedural.world import EYE_HEIGHT_M

START_POSE = Pose(0.0, EYE_HEIGHT_M, 0.0, 0.0, 0.0)


def load_picture(path, res: int) -> np.ndarray:
    """(res, res, 3) uint8: the picture's centre square, resized."""
    try:
        img = Image.open(path).convert("RGB")
    except (FileNotFoundError, OSError) as e:
        raise SpecError(f"{path}: not a readable picture ({e.__class__.__name__})") from None
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(img.resize((res, res), Image.LANCZOS), np.uint8)


def ground_prior(cfg) -> np.ndarray:
    """Planar depth of flat ground at eye height below the horizon, sky above."""
    intr = cfg.intrinsics
    v = np.arange(intr.height) + 0.5 - intr.cy
    d = np.where(v > 0.5, EYE_HEIGHT_M * intr.fy / np.maximum(v, 0.5), SKY_DEPTH_M)
    return np.repeat(np.minimum(d, SKY_DEPTH_M)[:, None], intr.width, 1).astype(np.float32)


def predict_depth(net, cfg, rgb: np.ndarray) -> np.ndarray:
    """The network's depth for a picture, given as an unmoved previous frame with the ground prior."""
    from worldloop.worldgen.model.geometry import Camera
    from worldloop.worldgen.model.step import decode, prepare_arrays, rgb_to_float
    cam = Camera(cfg.intrinsics)
    prep = prepare_arrays(cfg, cam, rgb_to_float(rgb), ground_prior(cfg), START_POSE, [], np.zeros(5))
    _, depth = decode(cfg, prep, net(prep.inputs[None], prep.action[None])[0])
    return depth


def scene_from_image(image, out, checkpoint) -> Path:
    """Write OUT.toml, OUT.start.png and OUT.depth.npy."""
    from worldloop.worldgen.model.generator import TorchNet, load_torch_net
    cfg, net, _ = load_torch_net(checkpoint)
    rgb = load_picture(image, cfg.res)
    depth = predict_depth(TorchNet(net), cfg, rgb)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = dataclasses.replace(biome_default("meadow"), name=out.stem,
                               start_frame=write_start_files(Frame(rgb, depth, START_POSE), out))
    return save_scene(spec, out)


def write_start_files(frame: Frame, base, exist_ok: bool = True) -> StartFrame:
    """BASE.start.png and BASE.depth.npy (each written to a temporary name and renamed), named relative to
    BASE's folder: the start frame beside the scene file or recording that names it. Without exist_ok, files
    already there (a scene's own picture, another recording's) are never written over: FileExistsError."""
    base = Path(base)
    png, npy = base.with_suffix(".start.png"), base.with_suffix(".depth.npy")
    for p in (png, npy):
        if not exist_ok and p.exists():
            raise FileExistsError(f"{p} exists: record to another name (the recording writes its start frame "
                                  f"beside it)")
    buf = io.BytesIO()
    Image.fromarray(frame.rgb).save(buf, format="PNG")
    atomic_write_bytes(png, buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, frame.depth.astype(np.float32), allow_pickle=False)
    atomic_write_bytes(npy, buf.getvalue())
    return StartFrame(rgb=png.name, depth=npy.name)


def picture_frame(spec: SceneSpec, res: int) -> Frame:
    """The start frame of a picture scene (its files must match the model's resolution)."""
    rgb_path, depth_path = spec.start_frame.rgb, spec.start_frame.depth
    for field, p in (("rgb", rgb_path), ("depth", depth_path)):    # a FIFO or a device would hang the reader
        if not Path(p).is_file():
            raise SpecError(f"{p}: start_frame.{field} is not a regular file")
    try:
        with Image.open(rgb_path) as im:           # the header first: a huge picture is refused unread
            if im.size != (res, res):
                raise SpecError(f"{rgb_path}: start frame is {im.size[0]}x{im.size[1]}, the model wants "
                                f"{res}x{res}; make the scene again with this model")
            rgb = np.asarray(im.convert("RGB"), np.uint8)
    except SpecError:
        raise
    except Image.DecompressionBombError:
        raise SpecError(f"{rgb_path}: start_frame.rgb says it is a picture of a size no start frame has") from None
    except Exception as e:                          # PIL raises many kinds for a broken file
        raise SpecError(f"{rgb_path}: start_frame.rgb is not a readable picture ({e.__class__.__name__})") from None
    depth = read_npy(depth_path, (res, res), "start_frame.depth")
    if not (np.isfinite(depth).all() and (depth > 0).all()):
        raise SpecError(f"{depth_path}: start_frame.depth holds NaN, Inf or depths not above 0")
    return Frame(rgb, depth.astype(np.float32), START_POSE)


def read_npy(path, shape: tuple, field: str) -> np.ndarray:
    """A .npy array of exactly `shape` and a float dtype, its header checked before the data is read."""
    try:
        with open(path, "rb") as f:
            got, dtype = npy_header(f)
            if tuple(got) != tuple(shape) or dtype.kind != "f" or dtype.itemsize > 8:
                raise SpecError(f"{path}: {field} is {dtype} {tuple(got)}, expected float {tuple(shape)}")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except SpecError:
        raise
    except Exception as e:        # numpy's header parser raises OSError, ValueError, SyntaxError, TokenError...
        raise SpecError(f"{path}: {field} is not a readable .npy array ({e.__class__.__name__})") from None
