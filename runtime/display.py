"""The display: the newest frame as a texture, sharpened and reprojected with its depth to the current camera pose,
upscaled into a letterboxed viewport, with a HUD on top. Works in pygame's OpenGL window or
offscreen (EGL) when headless: it draws into whatever framebuffer it is given.
"""
from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
from OpenGL import GL

from worldgen.model.config import ModelConfig
from worldgen.poses import Frame, Pose, camera_rotation, view_matrix

SHADERS = Path(__file__).parent / "shaders"
NEAR_M, FAR_M = 0.05, 3000.0
MESH_CELLS = 64   # reprojection mesh cells per side


def _prog(ctx, vert, frag):
    return ctx.program(vertex_shader=(SHADERS / vert).read_text(), fragment_shader=(SHADERS / frag).read_text())


def letterbox(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square viewport (x, y, w, h) in a width x height window."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def src_to_dst(src: Pose, dst: Pose) -> np.ndarray:
    """(4, 4) camera-space transform from the frame's camera to the view camera."""
    c2w = np.eye(4)
    c2w[:3, :3] = camera_rotation(src.yaw, src.pitch)
    c2w[:3, 3] = src.position
    return view_matrix(dst) @ c2w


class Display:
    def __init__(self, ctx: moderngl.Context, cfg: ModelConfig, internal_scale: int = 2, sharpen: float = 0.6):
        self.ctx, self.cfg, self.sharpen = ctx, cfg, sharpen
        n = cfg.res
        self.rgb_tex = ctx.texture((n, n), 3)
        self.rgb_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.rgb_tex.repeat_x = self.rgb_tex.repeat_y = False
        self.frame: Frame | None = None
        self.reproject = True
        # the mesh: a grid of MESH_CELLS x MESH_CELLS cells whose vertices sit on pixel centres (every second pixel
        # at 128x128), two triangles per cell. A turn is exact at any density (it does not depend on depth); a
        # finer mesh would only sharpen silhouettes during the one or two ticks a reprojection is on screen, and
        # on a CPU rasteriser a per-pixel mesh costs ten times as much to draw.
        cells = min(MESH_CELLS, n - 1)
        self._mesh_px = np.rint(np.linspace(0, n - 1, cells + 1)).astype(np.int64)   # pixel rows = columns
        m = cells + 1
        u, v = np.meshgrid(self._mesh_px + 0.5, self._mesh_px + 0.5)
        verts = np.stack([u, v], -1).astype("f4").reshape(-1, 2)
        i = np.arange(m - 1)[:, None] * m + np.arange(m - 1)[None, :]
        tris = np.stack([i, i + 1, i + m, i + 1, i + m + 1, i + m], -1).astype("i4").reshape(-1)
        self.mesh_prog = _prog(ctx, "reproject.vert", "image.frag")   # colour and sharpening as for any image
        self.depth_buf = ctx.buffer(reserve=m * m * 4)
        self.mesh = ctx.vertex_array(self.mesh_prog, [(ctx.buffer(verts.tobytes()), "2f", "in_pix"),
                                                      (self.depth_buf, "1f", "in_depth")],
                                     index_buffer=ctx.buffer(tris.tobytes()))
        self.img_prog = _prog(ctx, "quad.vert", "image.frag")
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], "f4")
        self.quad = ctx.vertex_array(self.img_prog, [(ctx.buffer(corners.tobytes()), "2f", "in_corner")])
        side = n * internal_scale
        self.internal = ctx.framebuffer(color_attachments=[ctx.texture((side, side), 3)],
                                        depth_attachment=ctx.depth_renderbuffer((side, side)))
        self.internal.color_attachments[0].filter = (moderngl.LINEAR, moderngl.LINEAR)
        intr = cfg.intrinsics
        self.mesh_prog["u_res"].value = (float(n), float(n))
        self.mesh_prog["u_intr"].value = (intr.fx, intr.fy, intr.cx, intr.cy)
        self.mesh_prog["u_proj"].write(intr.projection(NEAR_M, FAR_M).T.astype("f4").tobytes())
        self.mesh_prog["u_tex"].value = 0
        self.mesh_prog["u_texel"].value = (1.0 / n, 1.0 / n)
        self.mesh_prog["u_flip"].value = 0.0
        self._hud_tex = None
        self._last_key = None
        self._shown = 0

    def show(self, frame: Frame) -> None:
        """Make `frame` the newest: upload its RGB and depth (image row 0 = texture row 0)."""
        self.frame = frame
        self._shown += 1                # counts frames shown (an object's id may be reused once it is freed)
        self.rgb_tex.write(np.ascontiguousarray(frame.rgb).tobytes())
        self.depth_buf.write(np.ascontiguousarray(frame.depth[np.ix_(self._mesh_px, self._mesh_px)],
                                                  dtype=np.float32).tobytes())

    def _image(self, tex, rect, flip: bool, sharpen: float = 0.0, z: float = 0.0):
        tex.use(0)
        self.img_prog["u_z"].value = z
        self.img_prog["u_tex"].value = 0
        self.img_prog["u_rect"].value = rect
        self.img_prog["u_texel"].value = (1.0 / tex.width, 1.0 / tex.height)
        self.img_prog["u_sharpen"].value = sharpen
        self.img_prog["u_flip"].value = 1.0 if flip else 0.0
        self.quad.render(moderngl.TRIANGLE_STRIP)

    def invalidate(self) -> None:
        """The window lost its picture (uncovered, restored): the next draw must happen."""
        self._last_key = None

    def changed(self, view_pose: Pose, size: tuple[int, int], hud=None) -> bool:
        """Whether a draw now would differ from the last one (a new frame, another pose, HUD text or size);
        the window loop skips drawing and presenting when it would not (between ticks, when nothing moves)."""
        key = (self._shown, tuple(view_pose.as_array()), tuple(size), tuple(hud) if hud else None,
               self.reproject, self.sharpen)
        if key == self._last_key:
            return False
        self._last_key = key
        return True

    def draw(self, view_pose: Pose, target: moderngl.Framebuffer, size: tuple[int, int], hud=None) -> None:
        """One display frame into `target` (size = its width, height in pixels).

        The sharpening is done at the frame's resolution while reprojecting, so the upscale to the window is one
        bilinear tap per window pixel: on a CPU rasteriser (Mesa llvmpipe) the window's pixels cost the most."""
        ctx = self.ctx
        # 1. the newest frame, sharpened and reprojected to the view pose, at the internal resolution
        self.internal.use()
        self.internal.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        ctx.disable(moderngl.BLEND)
        if self.frame is not None and self.reproject:
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.depth_func = "<="
            self.mesh_prog["u_src_to_dst"].write(src_to_dst(self.frame.pose, view_pose).T.astype("f4").tobytes())
            self.mesh_prog["u_sharpen"].value = self.sharpen
            self.rgb_tex.use(0)
            self.mesh.render(moderngl.TRIANGLES)
            # what the mesh leaves uncovered shows the old view: drawn behind it, so covered pixels are skipped
            self._image(self.rgb_tex, (-1, -1, 1, 1), flip=False, sharpen=self.sharpen, z=1.0)
            ctx.depth_func = "<"
            ctx.disable(moderngl.DEPTH_TEST)
        else:
            self._image(self.rgb_tex, (-1, -1, 1, 1), flip=False, sharpen=self.sharpen)
        # 2. upscaled into the letterboxed window: a linear-filtered framebuffer blit, which Mesa's CPU rasteriser
        # does about three times faster than a textured quad (moderngl has no scaled blit; PyOpenGL does)
        target.use()
        ctx.viewport = (0, 0, *size)
        target.clear(0.0, 0.0, 0.0, 1.0)
        x, y, w, h = letterbox(*size)
        side = self.internal.width
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.internal.glo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, target.glo)
        GL.glBlitFramebuffer(0, 0, side, side, x, y, x + w, y + h, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        target.use()
        # 3. the HUD, in window pixels from the top-left corner
        ctx.viewport = (0, 0, *size)
        if hud is not None:
            self._draw_hud(hud, size)

    def _draw_hud(self, lines: list[str], size) -> None:
        if lines != getattr(self, "_hud_lines", None):    # text changes rarely: render it only then
            self._render_hud(lines)
        w, h = self._hud_tex.size
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        x0, y1 = -1 + 2 * 8 / size[0], 1 - 2 * 8 / size[1]
        self._image(self._hud_tex, (x0, y1 - 2 * h / size[1], x0 + 2 * w / size[0], y1), flip=False)
        self.ctx.disable(moderngl.BLEND)

    def _render_hud(self, lines: list[str]) -> None:
        import pygame
        if not pygame.font.get_init():
            pygame.font.init()
        if getattr(self, "_font", None) is None:
            self._font = pygame.font.Font(None, 20)
        font = self._font
        self._hud_lines = list(lines)
        rendered = [font.render(t, True, (240, 240, 240)) for t in lines]
        w = max(s.get_width() for s in rendered) + 12
        h = sum(s.get_height() for s in rendered) + 8
        surf = pygame.Surface((w, h), pygame.SRCALPHA)
        surf.fill((0, 0, 0, 150))
        y = 4
        for s in rendered:
            surf.blit(s, (6, y))
            y += s.get_height()
        data = pygame.image.tobytes(surf, "RGBA")
        if self._hud_tex is None or self._hud_tex.size != (w, h):
            if self._hud_tex is not None:
                self._hud_tex.release()
            self._hud_tex = self.ctx.texture((w, h), 4)
        self._hud_tex.write(data)


def read_framebuffer(fbo: moderngl.Framebuffer, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 of a framebuffer, top row first."""
    data = np.frombuffer(fbo.read(viewport=(0, 0, *size), components=3), np.uint8)
    return data.reshape(size[1], size[0], 3)[::-1].copy()
