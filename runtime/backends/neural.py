"""What the neural backends share: a start frame from the scene, then the generator's own step."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from worldloop.worldgen.files import sha256_file
from worldloop.worldgen.model.checkpoint import model_id, paths
from worldloop.worldgen.model.generator import NeuralGenerator
from worldloop.worldgen.poses import Frame, Pose
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import SceneSpec


class NeuralBackend:
    """Subclasses set self.config, self.net (numpy callable), self.side (checkpoint sidecar) and name."""

    name = "neural"

    drawer = None

    def _init_common(self, checkpoint, side: dict, drawer=None):
        """The generator; with a drawer (drawer.py) the model's id names it too, so a save or recording made
        with it is never taken for one made without."""
        self.side = side
        self.model_id = model_id(side)
        self.model_sha256 = sha256_file(paths(checkpoint)[0])
        if drawer is not None:
            from worldloop.worldgen.files import read_json
            from worldloop.worldgen.model.checkpoint import CheckpointError
            meta = read_json(Path(drawer).with_suffix(".json"), CheckpointError, "no such drawer")
            self.model_id += f"+drawer-{meta['weights_sha256'][:16]}"
        self.gen = NeuralGenerator(self.config, self.net, drawer=self.drawer)

    def _check_drawer(self, drawer, meta: dict) -> None:
        if meta.get("res") != self.config.res:
            from worldloop.worldgen.model.checkpoint import CheckpointError
            raise CheckpointError(f"{Path(drawer).with_suffix('.json')}: field res: the drawer draws at "
                                  f"{meta.get('res')}, the model at {self.config.res}")

    def start(self, spec: SceneSpec, pose: Pose | None = None, for_state: bool = False,
              picture: Frame | None = None) -> Frame:
        """Render the start frame once (the only ground truth a neural backend ever sees), then generate.
        A scene made from a picture starts from that picture instead (`picture`, or read from the scene's
        files). for_state: a state is imported next, which replaces everything; start from a blank frame
        (nothing rendered, no file read)."""
        if for_state:
            r = self.config.res
            return self.gen.start(Frame(np.zeros((r, r, 3), np.uint8), np.full((r, r), self.config.far_m, np.float32),
                                        pose or Pose(0.0, 0.0, 0.0, 0.0, 0.0)))
        return self.gen.start(self.start_frame(spec, pose, picture))

    def start_frame(self, spec: SceneSpec, pose: Pose | None = None, picture: Frame | None = None) -> Frame:
        """The frame a start in `spec` at `pose` (its spawn when None) begins from: rendered, or the scene's
        picture. Nothing is started (worldloop.env starts its own generators from it)."""
        if spec.from_picture:
            from ..from_image import picture_frame
            return picture if picture is not None else picture_frame(spec, self.config.res)
        from ..glcontext import thread_context
        r = GroundTruthRenderer(spec, ctx=thread_context())     # the thread's context, kept between starts
        pose = pose or r.world.spawn_pose()
        frame = r.render(pose, self.config.intrinsics)
        r.release()
        return frame

    def step(self, action) -> Frame:
        return self.gen.step(action)

    @property
    def applied_action(self) -> np.ndarray:
        """The action the last step applied (clamped to the trained range by the generator's step)."""
        return self.gen.applied_action

    def stats(self) -> dict:
        """keyframes: how many the spatial memory holds; keyframe_poses: where they stand (x, z, yaw)."""
        state = self.gen.state
        if state is None:
            return {"keyframes": 0, "keyframe_poses": []}
        mem = state.memory
        return {"keyframes": len(mem), "keyframe_poses": [(p.x, p.z, p.yaw) for p in mem.poses],
                "in_use": [k for k, t in enumerate(mem.ticks) if t in set(state.last_retrieved)], "tick": state.tick}

    def export_state(self):
        return self.gen.export_state()

    def import_state(self, arrays, meta) -> Frame:
        if self.gen.state is None:
            raise RuntimeError("start the generator before importing a state")
        self.gen.restore_state(arrays, meta)
        return self.gen.state.frame()
