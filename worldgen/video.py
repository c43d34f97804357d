"""mp4 writing through the ffmpeg command, and contact sheets of frames as PNG."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .files import temp_path_for


class VideoWriter:
    """Pipes RGB uint8 frames to ffmpeg (H.264, yuv420p); the mp4 appears under its name on close()."""

    def __init__(self, path, width: int, height: int, fps: float):
        if shutil.which("ffmpeg") is None:
            raise RuntimeError("ffmpeg is not installed (Debian: apt-get install ffmpeg); it writes the mp4")
        self.path = Path(path)
        self._tmp = temp_path_for(self.path)
        self.size = (width, height)
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-crf", "18", "-movflags", "+faststart", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame."""
        if rgb.shape != (self.size[1], self.size[0], 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be {self.size[1]}x{self.size[0]}x3 uint8, got {rgb.shape} {rgb.dtype}")
        self._proc.stdin.write(np.ascontiguousarray(rgb).tobytes())
        self.frames += 1

    def close(self) -> Path:
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {self.path}")
        self._tmp.replace(self.path)
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        else:
            self._proc.kill()
            self._tmp.unlink(missing_ok=True)


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
