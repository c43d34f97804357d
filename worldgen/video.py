"""mp4 writing through imageio-ffmpeg (its own ffmpeg), and contact sheets of frames as PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .files import temp_path_for


class VideoWriter:
    """RGB uint8 frames to an H.264 (yuv420p) mp4, through imageio-ffmpeg; the mp4 appears under its name on
    close(), holding every frame written. ffmpeg runs in its own process group, so a Ctrl-C at the terminal
    reaches only worldloop, which then closes the video properly (`interrupts.py`); `abort()` (or leaving a
    `with` block by an exception) removes it instead."""

    def __init__(self, path, width: int, height: int, fps: float):
        import imageio_ffmpeg
        self.path = Path(path)
        self._tmp = temp_path_for(self.path)
        self.size = (width, height)
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp), (width, height), pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=fps, codec="libx264",
            macro_block_size=1, quality=None, ffmpeg_log_level="error",
            output_params=["-crf", "18", "-movflags", "+faststart"])
        self._gen.send(None)          # starts ffmpeg
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame."""
        if rgb.shape != (self.size[1], self.size[0], 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be {self.size[1]}x{self.size[0]}x3 uint8, got {rgb.shape} {rgb.dtype}")
        self._gen.send(np.ascontiguousarray(rgb))
        self.frames += 1

    def close(self) -> Path:
        """Finish the mp4 (waits for ffmpeg) and give it its name."""
        self._gen.close()
        if not self._tmp.exists() or (self.frames and self._tmp.stat().st_size == 0):
            raise RuntimeError(f"ffmpeg failed writing {self.path}")
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Stop without a video: ffmpeg ends and its file goes."""
        try:
            self._gen.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def contact_sheet(images: list[np.ndarray], labels: list[str] | None = None, cols: int = 4,
                  pad: int = 4, label_h: int = 14) -> Image.Image:
    """A grid of equal-size RGB uint8 images with a caption above each."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    lh = label_h if labels else 0
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + lh + pad) + pad), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for i, img in enumerate(images):
        x = pad + (i % cols) * (w + pad)
        y = pad + (i // cols) * (h + lh + pad)
        if labels:
            draw.text((x + 2, y + 1), labels[i], fill=(230, 230, 230))
        sheet.paste(Image.fromarray(img), (x, y + lh))
    return sheet
