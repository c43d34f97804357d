"""Recording: the action log (NDJSON) of every tick, written as it goes, and an mp4 of the generated frames."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from worldloop.worldgen.actionlog import ActionLog, ActionLogWriter
from worldloop.worldgen.poses import Action, Frame, Pose
from worldloop.worldgen.video import VideoWriter


class Recorder:
    """`OUT` gives OUT.ndjson and OUT.mp4 (a given suffix is replaced)."""

    def __init__(self, out, scene: dict, start: Pose, tick_hz: float, res: int, meta: dict | None = None,
                 picture: Frame | None = None):
        """picture: a picture scene's start frame, written beside the log (OUT.start.png, OUT.depth.npy) and
        named by the log's scene relative to it, as a scene file names its own."""
        base = Path(out)
        base = base.with_suffix("") if base.suffix in (".ndjson", ".mp4") else base
        self.log_path, self.video_path = base.with_suffix(".ndjson"), base.with_suffix(".mp4")
        if picture is not None:
            from .from_image import write_start_files
            scene = dict(scene, start_frame=dataclasses.asdict(write_start_files(picture, base, exist_ok=False)))
        self.video = VideoWriter(self.video_path, res, res, tick_hz)
        self.log = ActionLogWriter(self.log_path, ActionLog(scene, start, [], tick_hz, "recording", meta or {}))

    def add(self, action: np.ndarray, rgb: np.ndarray) -> None:
        self.video.write(rgb)
        self.log.add(Action.from_array(action))

    def close(self) -> tuple[Path, Path]:
        self.log.close()
        self.video.close()
        return self.log_path, self.video_path
