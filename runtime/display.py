"""The display: the newest frame as a texture, sharpened and reprojected with its depth to the current camera pose,
upscaled into a letterboxed viewport, with a HUD on top. Works in pygame's OpenGL window or
offscreen (EGL) when headless: it draws into whatever framebuffer it is given.
"""
from __future__ import annotations

import math
from pathlib import Path

import moderngl
import numpy as np
import OpenGL

# Set before OpenGL.GL is imported: with checking on, PyOpenGL reports any GL error left behind by earlier work
# (moderngl checks none) as its own call's, and checking after every call costs time in the loop.
OpenGL.ERROR_CHECKING = False
from OpenGL import GL  # noqa: E402

from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.geometry import relative
from worldloop.worldgen.poses import Frame, Pose

SHADERS = Path(__file__).parent / "shaders"


def _prog(ctx, vert, frag):
    return ctx.program(vertex_shader=(SHADERS / vert).read_text(), fragment_shader=(SHADERS / frag).read_text())


def letterbox(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square viewport (x, y, w, h) in a width x height window."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


class Display:
    def __init__(self, ctx: moderngl.Context, cfg: ModelConfig, internal_scale: int = 2, sharpen: float = 0.6):
        self.ctx, self.cfg, self.sharpen = ctx, cfg, sharpen
        n = cfg.res
        self.rgb_tex = ctx.texture((n, n), 3)
        self.rgb_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.rgb_tex.repeat_x = self.rgb_tex.repeat_y = False
        self.frame: Frame | None = None
        self.reproject = True
        self.img_prog = _prog(ctx, "quad.vert", "image.frag")
        corners = self._corners = ctx.buffer(np.array([0, 0, 1, 0, 0, 1, 1, 1], "f4").tobytes())
        self._eye_prog = None
        self.quad = ctx.vertex_array(self.img_prog, [(corners, "2f", "in_corner")])
        self.depth_tex = ctx.texture((n, n), 1, dtype="f4")
        self.depth_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        # reprojection: a backward warp, one fragment per internal pixel (see reproject.frag). It replaced a
        # forward mesh of 64x64 cells, which cost twice as much on Mesa's CPU rasteriser and was less exact.
        self.reproject_prog = bp = _prog(ctx, "quad.vert", "reproject.frag")
        self.reproject_quad = ctx.vertex_array(bp, [(corners, "2f", "in_corner")])
        bp["u_rect"].value = (-1.0, -1.0, 1.0, 1.0)
        bp["u_res"].value = (float(n), float(n))
        bp["u_intr"].value = (cfg.intrinsics.fx, cfg.intrinsics.fy, cfg.intrinsics.cx, cfg.intrinsics.cy)
        bp["u_tex"].value = 0
        bp["u_depth"].value = 1
        bp["u_texel"].value = (1.0 / n, 1.0 / n)
        side = n * internal_scale
        self.internal = ctx.framebuffer(color_attachments=[ctx.texture((side, side), 3)])
        bp["u_out"].value = (float(side), float(side))
        self._hud_tex = None
        self._last_key = None
        self._shown = 0

    def show(self, frame: Frame) -> None:
        """Make `frame` the newest: upload its RGB and depth (image row 0 = texture row 0)."""
        self.frame = frame
        self._shown += 1                # counts frames shown (an object's id may be reused once it is freed)
        self.rgb_tex.write(np.ascontiguousarray(frame.rgb).tobytes())
        self.depth_tex.write(np.ascontiguousarray(frame.depth, dtype=np.float32).tobytes())

    def _image(self, tex, rect, flip: bool, sharpen: float = 0.0):
        tex.use(0)
        self.img_prog["u_tex"].value = 0
        self.img_prog["u_rect"].value = rect
        self.img_prog["u_texel"].value = (1.0 / tex.width, 1.0 / tex.height)
        self.img_prog["u_sharpen"].value = sharpen
        self.img_prog["u_flip"].value = 1.0 if flip else 0.0
        self.quad.render(moderngl.TRIANGLE_STRIP)

    def invalidate(self) -> None:
        """The window lost its picture (uncovered, restored): the next draw must happen."""
        self._last_key = None

    def changed(self, view_pose: Pose, size: tuple[int, int], hud=None, extra=None) -> bool:
        """Whether a draw now would differ from the last one (a new frame, another pose, HUD text or size, or
        `extra`: the stereo options and whether the player moves); the window loop skips drawing and presenting
        when it would not (between ticks, when nothing moves)."""
        key = (self._shown, tuple(view_pose.as_array()), tuple(size), tuple(hud) if hud else None,
               self.reproject, self.sharpen, extra)
        if key == self._last_key:
            return False
        self._last_key = key
        return True

    def draw(self, view_pose: Pose, target: moderngl.Framebuffer, size: tuple[int, int], hud=None,
             stereo=None, moving: bool = False, caption: str = "", panel=None, overlay=None) -> None:
        """One display frame into `target` (size = its width, height in pixels); with `stereo`
        (stereo.StereoOptions) side by side, each eye reprojected to its own pose (`moving`: the player moves
        or turns, for the comfort vignette).

        The sharpening is done at the frame's resolution while reprojecting, so the upscale to the window is one
        bilinear tap per window pixel: on a CPU rasteriser (Mesa llvmpipe) the window's pixels cost the most."""
        ctx = self.ctx
        # a renderer sharing this context (the scene editor's) leaves depth testing on: the window's depth buffer
        # is never cleared under the picture, so the HUD failed the test there and showed only over the bars
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        if panel is not None:               # a picture instead of the world (compare.py: model | truth | error)
            self._draw_panel(panel, target, size)
        elif stereo is not None:
            self._draw_stereo(view_pose, target, size, stereo, moving)
        else:
            self._draw_mono(view_pose, target, size)
        if overlay is not None:             # an RGBA picture in the top-right corner (the memory map)
            ctx.viewport = (0, 0, *size)
            tex = self._upload("overlay", overlay)
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
            h, w = overlay.shape[:2]
            x1, y1 = 1 - 2 * 8 / size[0], 1 - 2 * 8 / size[1]
            self._image(tex, (x1 - 2 * w / size[0], y1 - 2 * h / size[1], x1, y1), flip=False)
            ctx.disable(moderngl.BLEND)
        # 3. the HUD, in window pixels from the top-left corner, and a tour's caption at the bottom
        ctx.viewport = (0, 0, *size)
        if hud is not None:
            self._draw_hud(hud, size)
        if caption:
            self._draw_caption(caption, size)

    def _upload(self, name: str, img: np.ndarray):
        """A numpy picture (H, W, 3 or 4) as a texture kept under `name` (remade when its shape changes)."""
        tex = getattr(self, f"_tex_{name}", None)
        h, w, c = img.shape
        if tex is None or tex.size != (w, h) or tex.components != c:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture((w, h), c)
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            setattr(self, f"_tex_{name}", tex)
        tex.write(np.ascontiguousarray(img).tobytes())
        return tex

    def _draw_panel(self, panel: np.ndarray, target, size) -> None:
        """`panel` letterboxed into the window at its own aspect."""
        target.use()
        self.ctx.viewport = (0, 0, *size)
        target.clear(0.0, 0.0, 0.0, 1.0)
        h, w = panel.shape[:2]
        s = min(size[0] / w, size[1] / h)
        pw, ph = 2 * w * s / size[0], 2 * h * s / size[1]
        self._image(self._upload("panel", panel), (-pw / 2, -ph / 2, pw / 2, ph / 2), flip=False)

    def _draw_caption(self, text: str, size) -> None:
        """A tour's caption, centred near the bottom, wrapped to the window's width."""
        if text != getattr(self, "_caption_text", None):
            self._caption_tex = self._text_texture(_wrap(text, max(20, size[0] // 11)), 26, getattr(self, "_caption_tex", None))
            self._caption_text = text
        w, h = self._caption_tex.size
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        x0 = -w / size[0]
        y0 = -1 + 2 * 16 / size[1]
        self._image(self._caption_tex, (x0, y0, x0 + 2 * w / size[0], y0 + 2 * h / size[1]), flip=False)
        self.ctx.disable(moderngl.BLEND)

    def _text_texture(self, lines: list[str], px: int, old=None, centred: bool = True):
        """Lines of white text on a translucent box, as an RGBA texture (the HUD's left-aligned, a caption's
        centred); `old` is released."""
        import pygame
        if not pygame.font.get_init():
            pygame.font.init()
        fonts = self.__dict__.setdefault("_fonts", {})
        font = fonts.get(px) or fonts.setdefault(px, pygame.font.Font(None, px))
        pad = 10 if centred else 6
        rendered = [font.render(t, True, (245, 245, 245) if centred else (240, 240, 240)) for t in lines]
        w = max(r.get_width() for r in rendered) + 2 * pad
        h = sum(r.get_height() for r in rendered) + (12 if centred else 8)
        surf = pygame.Surface((w, h), pygame.SRCALPHA)
        surf.fill((0, 0, 0, 170 if centred else 150))
        y = 6 if centred else 4
        for r in rendered:
            surf.blit(r, ((w - r.get_width()) // 2 if centred else pad, y))
            y += r.get_height()
        if old is not None:
            old.release()
        tex = self.ctx.texture((w, h), 4)
        tex.write(pygame.image.tobytes(surf, "RGBA"))
        return tex

    def _reproject(self, view_pose: Pose) -> None:
        """The newest frame, sharpened and reprojected to `view_pose`, into the internal framebuffer."""
        ctx = self.ctx
        self.internal.use()
        ctx.disable(moderngl.BLEND)
        if self.frame is None:
            self.internal.clear(0.0, 0.0, 0.0, 1.0)
        elif self.reproject:
            m, t = relative(view_pose, self.frame.pose)    # view camera -> frame camera: p @ m + t
            bp = self.reproject_prog
            bp["u_rot"].write(m.tobytes())                  # m row-major = m.T column-major: the GLSL u_rot
            bp["u_move"].value = tuple(float(v) for v in t)
            bp["u_sharpen"].value = self.sharpen
            self.rgb_tex.use(0)
            self.depth_tex.use(1)
            self.reproject_quad.render(moderngl.TRIANGLE_STRIP)
        else:                           # every pixel as the frame has it (the reprojection off, for comparison)
            self._image(self.rgb_tex, (-1, -1, 1, 1), flip=False, sharpen=self.sharpen)

    def _draw_mono(self, view_pose: Pose, target: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        ctx = self.ctx
        self._reproject(view_pose)
        # 2. upscaled into the letterboxed window: a linear-filtered framebuffer blit, which Mesa's CPU rasteriser
        # does about three times faster than a textured quad (moderngl has no scaled blit; PyOpenGL does)
        target.use()
        ctx.viewport = (0, 0, *size)
        x, y, w, h = letterbox(*size)
        for bar in ((0, 0, x, size[1]), (x + w, 0, size[0] - x - w, size[1]),       # the letterbox bars only:
                    (0, 0, size[0], y), (0, y + h, size[0], size[1] - y - h)):     # the blit covers the rest
            if bar[2] > 0 and bar[3] > 0:
                target.clear(0.0, 0.0, 0.0, 1.0, viewport=bar)
        side = self.internal.width
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.internal.glo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, target.glo)
        GL.glBlitFramebuffer(0, 0, side, side, x, y, x + w, y + h, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        target.use()

    def _draw_stereo(self, view_pose: Pose, target: moderngl.Framebuffer, size: tuple[int, int], opts,
                     moving: bool) -> None:
        """Each eye reprojected to its own pose, then through eye.frag (lens, vignette, horizon) into its half."""
        from .stereo import eye_poses, eye_viewports
        ctx = self.ctx
        if self._eye_prog is None:
            self._eye_prog = _prog(ctx, "quad.vert", "eye.frag")
            self._eye_quad = ctx.vertex_array(self._eye_prog, [(self._corners, "2f", "in_corner")])
            self.internal.color_attachments[0].filter = (moderngl.LINEAR, moderngl.LINEAR)
        ep = self._eye_prog
        ep["u_rect"].value = (-1.0, -1.0, 1.0, 1.0)
        ep["u_tex"].value = 0
        ep["u_lens"].value = (opts.k1, opts.k2) if opts.lens else (0.0, 0.0)
        ep["u_chroma"].value = opts.chroma if opts.lens else 0.0
        ep["u_vignette"].value = opts.vignette if moving else 0.0
        target.use()
        ctx.viewport = (0, 0, *size)
        target.clear(0.0, 0.0, 0.0, 1.0)
        intr = self.cfg.intrinsics
        for pose, vp in zip(eye_poses(view_pose, opts.ipd_m), eye_viewports(*size)):
            self._reproject(pose)
            # the horizon's row in the eye's picture: the level ray's projection at this pitch (rows count
            # down, and looking up moves the horizon down the picture)
            row = intr.cy + intr.fy * math.tan(pose.pitch)
            ep["u_horizon"].value = 1.0 - row / intr.height if opts.fixed_horizon and 0 <= row <= intr.height else -1.0
            target.use()
            ctx.viewport = vp
            self.internal.color_attachments[0].use(0)
            self._eye_quad.render(moderngl.TRIANGLE_STRIP)
        ctx.viewport = (0, 0, *size)

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
        self._hud_lines = list(lines)
        self._hud_tex = self._text_texture(lines, 20, self._hud_tex, centred=False)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width) or [""]


def read_framebuffer(fbo: moderngl.Framebuffer, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 of a framebuffer, top row first."""
    data = np.frombuffer(fbo.read(viewport=(0, 0, *size), components=3), np.uint8)
    return data.reshape(size[1], size[0], 3)[::-1].copy()
