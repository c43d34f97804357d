"""The oracle backend: the procedural ground-truth renderer at the pose the actions lead to."""
from __future__ import annotations

import numpy as np

from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.poses import Action, Frame, Pose, apply_action
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import SceneSpec


def model_config_for(checkpoint) -> ModelConfig:
    """The oracle mimics a model's resolution, tick rate and action range (the bundled one by default)."""
    if checkpoint is None:
        return ModelConfig()
    from worldloop.worldgen.model.checkpoint import checkpoint_info
    return checkpoint_info(checkpoint)[0]


class OracleGenerator:
    name = "oracle"
    model_id = "oracle"
    model_sha256 = ""

    def __init__(self, checkpoint=None, ctx=None):
        self.config = model_config_for(checkpoint)
        self.ctx = ctx
        self.renderer: GroundTruthRenderer | None = None
        self.pose: Pose | None = None
        self.tick = 0
        self.applied_action = np.zeros(5)

    def start(self, spec: SceneSpec, pose: Pose | None = None, for_state: bool = False,
              picture: Frame | None = None) -> Frame:
        if spec.from_picture:
            from . import BackendUnavailable
            raise BackendUnavailable(f"scene '{spec.name}' starts from a picture: the oracle has no ground truth "
                                     f"for it; play it with --backend onnx or torch")
        if self.renderer is None or self.renderer.world.spec != spec:
            if self.renderer is not None:
                self.renderer.release()
            from ..glcontext import thread_context
            self.renderer = GroundTruthRenderer(spec, ctx=self.ctx or thread_context())   # one context a thread
        self.pose = pose or self.renderer.world.spawn_pose()
        self.tick = 0
        return self.renderer.render(self.pose, self.config.intrinsics)

    def step(self, action) -> Frame:
        a = self.applied_action = self.config.clamp_action(np.asarray(action, np.float64))
        self.pose = apply_action(self.pose, Action.from_array(a))
        self.tick += 1
        return self.renderer.render(self.pose, self.config.intrinsics)

    def stats(self) -> dict:
        return {"keyframes": 0, "keyframe_poses": [], "tick": self.tick}

    def current_frame(self) -> Frame:
        return self.renderer.render(self.pose, self.config.intrinsics)

    def export_state(self):
        return {}, {"tick": self.tick, "pose": list(self.pose.as_array())}

    def import_state(self, arrays, meta) -> Frame:
        self.tick = int(meta["tick"])
        self.pose = Pose.from_array(meta["pose"])
        return self.current_frame()
