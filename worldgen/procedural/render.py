"""The ground-truth renderer: RGB uint8 and planar metric depth float32 for any pose, with moderngl.

It runs headless (EGL) when given no context, or inside a window's context when given one. Depth is the
distance along the camera's forward axis (view-space -z), in metres, written by the shader as a float, so
it is exact rather than recovered from the depth buffer; the sky gets `far_m`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

from ..poses import Frame, Intrinsics, Pose, camera_rotation, view_matrix
from .spec import SceneSpec
from .world import CHUNK_M, World

SHADERS = Path(__file__).parent / "shaders"
MAX_FBO_PX = 2048


@dataclass(frozen=True)
class RenderConfig:
    near_m: float = 0.1
    far_m: float = 1000.0   # depth of the sky
    gpu_chunks: int = 256   # chunk buffers kept on the GPU


def make_current(ctx: moderngl.Context) -> None:
    """Make `ctx` this thread's current GL context and leave it so: another context (the display's, or a
    second renderer's) may have been made current since, and moderngl calls go to whichever is current.
    (`with ctx:` would release it again on exit, leaving none current.)"""
    try:
        ctx.__enter__()
    except Exception:  # a context glcontext cannot switch to (a window's): it is the only one in its thread
        pass


def _source(name: str) -> str:
    text = (SHADERS / name).read_text()
    return text.replace("#include common", (SHADERS / "common.glsl").read_text())


def lighting(spec: SceneSpec) -> dict:
    """Shader uniforms for sun, sky and fog, from the spec's time of day, sun, sky and fog."""
    hour = spec.time_of_day_h
    day = math.sin(math.pi * (hour - 6.0) / 12.0)          # 1 at noon, 0 at 6 and 18, < 0 at night
    elev = math.radians(max(day, 0.05) * 62.0)
    az = math.radians(spec.sun.azimuth_deg)
    sun_dir = (math.sin(az) * math.cos(elev), math.sin(elev), -math.cos(az) * math.cos(elev))
    daylight = float(np.clip(0.55 + 1.2 * day, 0.08, 1.0))
    warm = math.exp(-(day / 0.22) ** 2)                   # dawn and dusk glow, strongest at sunrise/sunset
    tint = np.array([1.0, 0.62, 0.42])
    sun_col = np.array(spec.sun.color) * spec.sun.intensity * daylight * (1 - warm + warm * tint)
    zenith = np.array(spec.sky.zenith) * daylight
    horizon = np.array(spec.sky.horizon) * min(1.0, daylight * 1.15) * (1 - 0.7 * warm + 0.7 * warm * tint)
    return {"u_sun_dir": sun_dir, "u_sun_col": tuple(sun_col), "u_zenith": tuple(zenith),
            "u_horizon": tuple(horizon), "u_ambient": spec.sun.ambient * (0.5 + 0.5 * daylight),
            "u_fog_density": spec.fog.density, "u_view_m": spec.fog.view_distance_m}


class GroundTruthRenderer:
    """Renders a World at any pose and resolution (64 to 512 pixels a side), singly or in batches."""

    def __init__(self, spec_or_world, ctx: moderngl.Context | None = None, config: RenderConfig = RenderConfig()):
        self.world = spec_or_world if isinstance(spec_or_world, World) else World(spec_or_world)
        self.config = config
        self._owns_ctx = ctx is None
        self.ctx = ctx or moderngl.create_standalone_context(backend="egl")
        make_current(self.ctx)
        self._scene = self.ctx.program(vertex_shader=_source("scene.vert"), fragment_shader=_source("scene.frag"))
        self._sky = self.ctx.program(vertex_shader=_source("sky.vert"), fragment_shader=_source("sky.frag"))
        tri = np.array([-1, -1, 3, -1, -1, 3], np.float32)
        self._sky_vao = self.ctx.vertex_array(self._sky, [(self.ctx.buffer(tri.tobytes()), "2f", "in_ndc")])
        self._gpu: dict[tuple[int, int], tuple] = {}
        self._fbo = None
        self._fbo_size = (0, 0)
        self._set_lighting()

    def _set_lighting(self):
        uniforms = lighting(self.world.spec)
        uniforms["u_far_m"] = self.config.far_m
        for prog in (self._scene, self._sky):
            for name, value in uniforms.items():
                if name in prog:
                    prog[name].value = value

    # -- GPU chunk cache ---------------------------------------------------------------------------
    def _chunk_vao(self, ix: int, iz: int):
        key = (ix, iz)
        if key in self._gpu:
            entry = self._gpu.pop(key)
            self._gpu[key] = entry  # most recently used last
            return entry[1]
        mesh = self.world.chunk(ix, iz).mesh
        data = np.concatenate([mesh.pos, mesh.col], 1).astype(np.float32)
        vbo = self.ctx.buffer(data.tobytes())
        vao = self.ctx.vertex_array(self._scene, [(vbo, "3f 4f", "in_pos", "in_col")])
        self._gpu[key] = (vbo, vao)
        while len(self._gpu) > self.config.gpu_chunks:
            old = next(iter(self._gpu))
            for obj in reversed(self._gpu.pop(old)):
                obj.release()
        return vao

    def visible_chunks(self, pose: Pose, vp: np.ndarray) -> list[tuple[int, int]]:
        """Chunks within the view distance whose bounding box meets the view frustum."""
        reach = self.world.spec.fog.view_distance_m + CHUNK_M * 0.75
        cx, cz = math.floor(pose.x / CHUNK_M), math.floor(pose.z / CHUNK_M)
        n = int(math.ceil(reach / CHUNK_M))
        cand = [(cx + i, cz + j) for i in range(-n, n + 1) for j in range(-n, n + 1)]
        keep = []
        for ix, iz in cand:
            x0, z0 = ix * CHUNK_M, iz * CHUNK_M
            nx = min(max(pose.x, x0), x0 + CHUNK_M)
            nz = min(max(pose.z, z0), z0 + CHUNK_M)
            if math.hypot(nx - pose.x, nz - pose.z) > reach:
                continue
            keep.append((ix, iz))
        chunks = [self.world.chunk(ix, iz) for ix, iz in keep]
        corners = np.array([[[x, y, z, 1.0] for x in (c.ix * CHUNK_M, (c.ix + 1) * CHUNK_M)
                             for y in (c.min_y, c.max_y) for z in (c.iz * CHUNK_M, (c.iz + 1) * CHUNK_M)]
                            for c in chunks])
        clip = corners @ vp.T                                       # (C, 8, 4)
        w = clip[..., 3:4]
        outside = np.concatenate([clip[..., :3] < -w, clip[..., :3] > w], -1).all(axis=1).any(axis=1)
        return [k for k, out in zip(keep, outside) if not out]

    # -- drawing -----------------------------------------------------------------------------------
    def _ensure_fbo(self, width: int, height: int):
        if self._fbo_size == (width, height):
            return
        if self._fbo is not None:
            self._fbo.release()
        color = self.ctx.texture((width, height), 4)
        depth_m = self.ctx.texture((width, height), 1, dtype="f4")
        depth = self.ctx.depth_renderbuffer((width, height))
        self._fbo = self.ctx.framebuffer(color_attachments=[color, depth_m], depth_attachment=depth)
        self._fbo_size = (width, height)

    def draw(self, pose: Pose, intr: Intrinsics, viewport: tuple[int, int, int, int]):
        """Draw one view into the bound framebuffer's `viewport` (x, y, w, h)."""
        cfg = self.config
        vp = intr.projection(cfg.near_m, cfg.far_m) @ view_matrix(pose)
        fwd = -camera_rotation(pose.yaw, pose.pitch)[:, 2]
        self.ctx.viewport = viewport
        self.ctx.disable(moderngl.DEPTH_TEST)
        for prog in (self._sky, self._scene):
            prog["u_cam"].value = tuple(pose.position)
            if "u_fwd" in prog:
                prog["u_fwd"].value = tuple(fwd)
        self._sky["u_inv_vp"].write(np.linalg.inv(vp).T.astype("f4").tobytes())
        self._sky_vao.render(moderngl.TRIANGLES)
        self.ctx.enable(moderngl.DEPTH_TEST)
        self._scene["u_vp"].write(vp.T.astype("f4").tobytes())
        for ix, iz in self.visible_chunks(pose, vp):
            self._chunk_vao(ix, iz).render(moderngl.TRIANGLES)

    def render(self, pose: Pose, intr: Intrinsics) -> Frame:
        """One frame: RGB (H, W, 3) uint8 and depth_m (H, W) float32 at `pose`."""
        rgb, depth = self.render_batch([pose], intr)
        return Frame(rgb[0], depth[0], pose)

    def render_batch(self, poses: list[Pose], intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Many poses in one framebuffer and one readback: RGB (B, H, W, 3) uint8, depth (B, H, W) float32."""
        w, h = intr.width, intr.height
        if not (16 <= w <= 1024 and 16 <= h <= 1024):
            raise ValueError(f"image size {w}x{h} is outside 16..1024 pixels")
        make_current(self.ctx)
        return self._render_batch(poses, intr)

    def _render_batch(self, poses: list[Pose], intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        w, h = intr.width, intr.height
        cols = max(1, min(len(poses), MAX_FBO_PX // w))
        per_pass = cols * max(1, MAX_FBO_PX // h)
        rgbs, depths = [], []
        for start in range(0, len(poses), per_pass):
            group = poses[start:start + per_pass]
            rows = math.ceil(len(group) / cols)
            self._ensure_fbo(cols * w, rows * h)
            self._fbo.use()
            self._fbo.clear(0, 0, 0, 1, depth=1.0)
            for i, pose in enumerate(group):
                self.draw(pose, intr, ((i % cols) * w, (i // cols) * h, w, h))
            rgb = np.frombuffer(self._fbo.read(components=3, attachment=0), np.uint8)
            dep = np.frombuffer(self._fbo.read(components=1, attachment=1, dtype="f4"), np.float32)
            rgb = rgb.reshape(rows * h, cols * w, 3)
            dep = dep.reshape(rows * h, cols * w)
            for i in range(len(group)):
                r, c = i // cols, i % cols
                # GL rows run bottom-up; images run top-down
                rgbs.append(rgb[r * h:(r + 1) * h, c * w:(c + 1) * w][::-1])
                depths.append(dep[r * h:(r + 1) * h, c * w:(c + 1) * w][::-1])
        return np.ascontiguousarray(np.stack(rgbs)), np.ascontiguousarray(np.stack(depths))

    def release(self):
        make_current(self.ctx)
        for vbo, vao in self._gpu.values():
            vao.release()
            vbo.release()
        self._gpu.clear()
        if self._fbo is not None:
            self._fbo.release()
            self._fbo = None
        self._fbo_size = (0, 0)
        if self._owns_ctx:
            self.ctx.release()          # programs and buffers go with the context
