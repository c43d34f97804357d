"""The Python API: a generated world that a notebook or an agent steps, saves, restores and branches.

    import worldloop
    w = worldloop.World("old-town")            # the bundled model, backend auto
    f = w.step([0.1, 0, 0, 0, 0])              # forward 0.1 m: a Frame (rgb, depth, pose)
    s = w.state()                              # in memory; w.restore(s) goes back exactly
    futures = w.branch(s, [walk, turn])        # counterfactual rollouts from s, in one batch

A World is a play Session (the game's own: fault recovery, saves) on the backend the game would pick; the
onnx backend runs the export that takes a batch, so one world, a vector of worlds (worldloop.env) and
branches give the same frames bit for bit (on onnx; torch and TensorRT are not promised that: torch's kernels
and TensorRT's one-world engine may round differently from one batch size to another).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from worldloop.runtime.session import Session
from worldloop.worldgen import model as _model
from worldloop.worldgen.poses import Action, Frame, Pose
from worldloop.worldgen.procedural.spec import SceneSpec

BUNDLED_CHECKPOINT = Path(_model.__file__).resolve().parent / "weights" / "bundled.json"
ACTION_FIELDS = "[forward_m, right_m, up_m, yaw_rad, pitch_rad]"


def scene_spec(scene: str | Path | SceneSpec | None = "default", seed: int | None = None) -> SceneSpec:
    """A scene by bundled name ("old-town"), TOML path or SceneSpec; `seed` replaces the scene's world seed."""
    from worldloop.scenes import resolve
    from worldloop.worldgen.procedural.spec import RANGES, SpecError, load_spec
    spec = scene if isinstance(scene, SceneSpec) else load_spec(resolve(None if scene is None else str(scene)))
    if seed is not None:
        lo, hi = RANGES["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not lo <= seed <= hi:
            raise SpecError(f"seed: {seed!r} is not an integer in [{lo}, {hi}]")
        spec = replace(spec, seed=int(seed))
    return spec


def check_action(action, where: str = "action") -> np.ndarray:
    """(5,) float64 from an Action, a sequence or an array; ValueError naming what is wrong."""
    if isinstance(action, Action):
        return action.as_array()
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: not numbers ({e}); expected 5 numbers {ACTION_FIELDS}") from None
    if a.shape != (5,):
        raise ValueError(f"{where}: shape {a.shape}, expected (5,) {ACTION_FIELDS}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {a.tolist()} holds NaN or Inf")
    return a


def check_pose(pose, where: str = "pose") -> Pose:
    """A Pose from a Pose or 5 numbers [x, y, z, yaw, pitch] (metres, radians): finite, within 1e6 m, pitch
    within 80 degrees; ValueError naming what is wrong."""
    from worldloop.worldgen.poses import PITCH_LIMIT_RAD
    fields = "[x, y, z, yaw_rad, pitch_rad]"
    try:
        a = pose.as_array() if isinstance(pose, Pose) else np.asarray(pose, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: not numbers ({e}); expected 5 numbers {fields}") from None
    if a.shape != (5,):
        raise ValueError(f"{where}: shape {a.shape}, expected (5,) {fields}")
    if not np.isfinite(a).all() or np.abs(a[:3]).max() > 1e6 or abs(a[4]) > PITCH_LIMIT_RAD + 1e-9:
        raise ValueError(f"{where}: {a.tolist()} is not a place in a world (finite, within 1e6 m, pitch within "
                         f"80 degrees)")
    return Pose.from_array(a)


def _own(frame: Frame) -> Frame:
    """The frame with arrays of its own: the generator's next step reads its last frame, which a caller's
    edits in place must not reach."""
    return Frame(frame.rgb.copy(), frame.depth.copy(), frame.pose)


def check_actions(actions, where: str = "actions") -> np.ndarray:
    """(T, 5) float64 from a sequence of actions (T may be 0)."""
    rows = [check_action(a, f"{where}[{t}]") for t, a in enumerate(actions)]
    return np.array(rows, np.float64).reshape(len(rows), 5)


@dataclass(frozen=True)
class WorldState:
    """A world's whole state in memory (World.state / World.restore): the generator's arrays and meta, the
    tick, the frame and the scene."""
    arrays: dict
    meta: dict
    tick: int
    frame: Frame
    spec: SceneSpec
    start_pose: Pose
    model_id: str


@dataclass
class Rollout:
    """One branch: the frames after each of its actions, the actions as applied (clamped to the model's range)
    and the poses they led to."""
    frames: list
    actions: np.ndarray
    poses: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


class World:
    """A generated world. `scene`: a bundled name, a TOML path or a SceneSpec; `backend`: auto (TensorRT with
    an NVIDIA GPU, else ONNX Runtime), onnx, torch, trt or oracle (the true frames, procedural scenes only);
    `checkpoint`: a model (the bundled one by default); `seed`: the scene's world seed; `start_pose`: where to
    begin (the scene's spawn by default)."""

    def __init__(self, scene: str | Path | SceneSpec | None = "default", backend: str = "auto", checkpoint=None,
                 seed: int | None = None, start_pose: Pose | None = None, threads: int | None = None):
        from worldloop.runtime.backends import select_backend
        spec = scene_spec(scene, seed)
        start_pose = None if start_pose is None else check_pose(start_pose, "start_pose")
        self.backend_name, self.backend_reason = select_backend(backend)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else BUNDLED_CHECKPOINT
        self.session = Session(self.backend_name, self.checkpoint, spec, start_pose=start_pose, threads=threads,
                               batch=True)

    # what the world is now
    @property
    def frame(self) -> Frame:
        return _own(self.session.frame)

    @property
    def pose(self) -> Pose:
        return self.session.frame.pose

    @property
    def tick(self) -> int:
        return self.session.tick

    @property
    def spec(self) -> SceneSpec:
        return self.session.spec

    @property
    def config(self):
        """The model's config: resolution (res), tick rate (tick_hz), action range (action_max)."""
        return self.session.config

    @property
    def action_max(self) -> np.ndarray:
        """(5,) the largest action the model was trained on, each way (forward_m, right_m, up_m, yaw_rad,
        pitch_rad); larger ones are clamped."""
        return np.asarray(self.config.action_max, np.float64)

    @property
    def applied_action(self) -> np.ndarray:
        """The last step's action as applied (clamped to action_max)."""
        return np.asarray(self.session.backend.applied_action, np.float64).copy()

    # moving
    def step(self, action) -> Frame:
        """One tick (1/tick_hz s) with `action` = 5 numbers [forward_m, right_m, up_m, yaw_rad, pitch_rad] in the
        camera's heading frame (an Action, a list or an array); ValueError for NaN or a wrong shape."""
        return _own(self.session.step(check_action(action)))

    def run(self, actions) -> list[Frame]:
        """One step per action; the frames."""
        return [_own(self.session.step(a)) for a in check_actions(actions)]

    def reset(self, scene=None, start_pose: Pose | None = None, seed: int | None = None) -> Frame:
        """Start again: in the same scene at its start when called bare, or in `scene` / at `start_pose`."""
        spec = self.spec if scene is None and seed is None else scene_spec(scene or self.spec, seed)
        start_pose = None if start_pose is None else check_pose(start_pose, "start_pose")
        return _own(self.session.restart(spec, start_pose))

    # state
    def state(self) -> WorldState:
        arrays, meta = self.session.backend.export_state()
        return WorldState({k: np.array(v, copy=True) for k, v in arrays.items()}, meta, self.session.tick,
                          _own(self.session.frame), self.session.spec, self.session.start_pose,
                          self.session.backend.model_id)

    def restore(self, state: WorldState) -> Frame:
        """Go back to `state` (from this world or another of the same model) exactly."""
        if not isinstance(state, WorldState):
            raise TypeError(f"restore: expected a WorldState (World.state()), got {type(state).__name__}")
        if state.model_id != self.session.backend.model_id:
            raise ValueError(f"restore: the state is of model {state.model_id}, this world runs "
                             f"{self.session.backend.model_id}")
        return _own(self.session.restore(state.arrays, state.meta, state.tick, _own(state.frame), state.start_pose,
                                         state.spec))

    def save(self, path) -> Path:
        """A save file (docs/formats.md), written to a temporary name and renamed; `worldloop play --load` and
        World.load continue it."""
        return self.session.save(path)

    @classmethod
    def load(cls, path, backend: str = "auto", checkpoint=None, threads: int | None = None) -> "World":
        """The world a save file holds, continued exactly."""
        from worldloop.worldgen.saves import SaveError, read_save
        from worldloop.worldgen.procedural.spec import spec_from_dict
        meta, _, _ = read_save(path, with_start=True)
        try:
            spec = spec_from_dict(meta["scene"], f"{path}:scene")
        except (KeyError, TypeError) as e:
            raise SaveError(f"{path}: field scene is missing or wrong ({e})") from None
        w = cls(spec, backend, checkpoint, threads=threads)
        try:
            w.session.load(path)
        except BaseException:
            w.close()
            raise
        return w

    # counterfactuals
    def branch(self, state: WorldState | None, actions: list) -> list[Rollout]:
        """K futures from one state, stepped together (one network call a tick for the neural backends):
        `actions` is a list of K action sequences (lengths may differ). The world itself is left as it was.
        A branch with the same actions as a plain run from the same state gives its frames bit for bit."""
        from .batch import branch
        return branch(self, self.state() if state is None else state, actions)

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        p = self.pose
        return (f"World({self.spec.name!r}, backend={self.backend_name!r}, tick={self.tick}, "
                f"pose=({p.x:.2f}, {p.y:.2f}, {p.z:.2f}, yaw {p.yaw:.2f}))")
