"""A play session: one backend, one scene, its start pose, saves and an optional recording.

Synchronous: the headless runner calls it directly, the windowed game through the generator worker.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen.poses import Frame, Pose
from worldgen.procedural.spec import SceneSpec, spec_from_dict

from .backends import make_generator
from .recorder import Recorder
from .saves import SaveError, read_save, write_save


class Session:
    def __init__(self, backend: str, checkpoint, spec: SceneSpec, record=None, load=None, start_pose=None):
        self.backend = make_generator(backend, checkpoint)
        self.spec = spec
        self.frame: Frame = self.backend.start(spec, start_pose)
        self.start_pose = self.frame.pose
        self.tick = 0
        self.last_save: Path | None = None
        if load is not None:
            self.load(load)
        self.recorder = None
        if record is not None:
            self.recorder = Recorder(record, self.spec.to_dict(), self.frame.pose, self.config.tick_hz,
                                     self.config.res, {"backend": self.backend.name,
                                                       "model_id": self.backend.model_id})

    @property
    def config(self):
        return self.backend.config

    def step(self, action) -> Frame:
        a = self.config.clamp_action(np.asarray(action, np.float64))
        self.frame = self.backend.step(a)
        self.tick += 1
        if self.recorder is not None:
            self.recorder.add(a, self.frame.rgb)
        return self.frame

    def save(self, path) -> Path:
        arrays, meta = self.backend.export_state()
        meta = dict(meta, tick=self.tick, pose=list(self.frame.pose.as_array()))
        self.last_save = write_save(path, self.spec.to_dict(), self.backend.model_id, self.backend.model_sha256,
                                    self.backend.name, arrays, meta, {"start_pose": list(self.start_pose.as_array())})
        return self.last_save

    def load(self, path) -> Frame:
        """Continue from a save; a save for another model, altered or newer, raises SaveError untouched."""
        meta, arrays = read_save(path, expect_model_id=self.backend.model_id)
        try:
            spec = spec_from_dict(meta["scene"], f"{path}:scene")
            pose = Pose.from_array(meta["pose"])
        except (KeyError, TypeError, ValueError) as e:
            raise SaveError(f"{path}: bad scene or pose field ({e})") from None
        if spec != self.spec:
            self.backend.start(spec, pose)        # another scene: start there, then take the saved state
            self.spec = spec
        self.frame = self.backend.import_state(arrays, meta["generator"])
        self.tick = int(meta["tick"])
        self.start_pose = Pose.from_array(meta.get("start_pose", meta["pose"]))
        self.last_save = Path(path)
        return self.frame

    def reset(self) -> Frame:
        self.frame = self.backend.start(self.spec, self.start_pose)
        self.tick = 0
        return self.frame

    def close(self):
        if self.recorder is not None:
            paths = self.recorder.close()
            self.recorder = None
            return paths
        return None
