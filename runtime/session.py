"""A play session: one backend, one scene, its start pose, saves and an optional recording.

Synchronous: the headless runner calls it directly, the windowed game through the generator worker.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from worldloop.worldgen.poses import PITCH_LIMIT_RAD, Frame, Pose
from worldloop.worldgen.procedural.spec import SceneSpec, spec_from_dict

from .backends import Generator, make_generator
from .recorder import Recorder
from worldloop.worldgen.saves import SaveError, read_save, write_save


SNAPSHOT_EVERY = 90    # ticks between the snapshots a generator fault goes back to


class GeneratorFault(RuntimeError):
    """A step failed (an exception, or a frame with NaN in it); the session went back to its last good state."""


class Session:
    def __init__(self, backend: str, checkpoint, spec: SceneSpec, record=None, load=None, start_pose=None,
                 ort_provider: str = "cpu", threads: int | None = None, drawer=None, batch: bool = False):
        self.backend: Generator = make_generator(backend, checkpoint, ort_provider, threads, drawer, batch)
        self.spec = spec
        self.frame: Frame = self.backend.start(spec, start_pose)
        self.picture: Frame | None = None     # a picture scene's start frame, read once (or taken from a save)
        if spec.from_picture:
            self.picture = Frame(self.frame.rgb.copy(), self.frame.depth.copy(), self.frame.pose)
        self.start_pose = self.frame.pose
        self.tick = 0
        self.last_save: Path | None = None
        self.recorder, self._record, self._segment, self.recorded = None, record, 1, []
        if load is not None:
            self.load(load)
        if record is not None:
            self._start_recording()
        self._snapshot()

    @staticmethod
    def config_for(backend: str, checkpoint):
        """The model config a session of this backend would run (resolution, tick rate, action range), without
        starting one."""
        from worldloop.runtime.backends.oracle import model_config_for
        if backend == "oracle":
            return model_config_for(checkpoint)
        from worldloop.worldgen.model.checkpoint import checkpoint_info
        return checkpoint_info(checkpoint)[0]

    def _snapshot(self) -> None:
        arrays, meta = self.backend.export_state()
        self._good = ({k: np.array(v, copy=True) for k, v in arrays.items()}, meta, self.tick, self.frame)

    def _start_recording(self) -> None:
        """A recording replays from its start pose; after a load or reset a new segment (OUT-2, ...) begins."""
        out = Path(self._record)
        if self._segment > 1:
            stem = out.with_suffix("") if out.suffix in (".ndjson", ".mp4") else out
            out = stem.with_name(f"{stem.name}-{self._segment}")
        self.recorder = Recorder(out, self.spec.portable().to_dict(), self.frame.pose, self.config.tick_hz,
                                 self.config.res, {"backend": self.backend.name, "model_id": self.backend.model_id},
                                 picture=self.picture)

    def _next_segment(self) -> None:
        if self.recorder is not None:
            self.recorded.append(self.recorder.close())
            self._segment += 1
            self._start_recording()

    @property
    def config(self):
        return self.backend.config

    def step(self, action) -> Frame:
        """One tick. A fault of the generator (an exception, or NaN or Inf in the frame) puts the last good
        state back (at most SNAPSHOT_EVERY ticks old), starts a new recording segment, and raises
        GeneratorFault saying so: the game goes on from there instead of failing on every tick."""
        try:
            frame = self.backend.step(np.asarray(action, np.float64))   # the backend's step is the one door:
            a = np.asarray(self.backend.applied_action, np.float64)      # it clamps once, and this is recorded
            if not (np.isfinite(frame.depth).all() and np.isfinite(frame.pose.as_array()).all()):
                raise FloatingPointError("the frame holds NaN or Inf")
        except Exception as e:  # noqa: BLE001 - any fault of a backend is recovered from the same way
            arrays, meta, tick, good = self._good
            self.backend.import_state(arrays, meta)
            self.frame, self.tick = good, tick
            self._next_segment()
            raise GeneratorFault(f"generator fault ({e.__class__.__name__}: {str(e)[:120]}); back to tick {tick}") \
                from None
        self.frame = frame
        self.tick += 1
        if self.tick - self._good[2] >= SNAPSHOT_EVERY:
            self._snapshot()
        if self.recorder is not None:
            self.recorder.add(a, self.frame.rgb)
        return self.frame

    def save(self, path) -> Path:
        arrays, meta = self.backend.export_state()
        meta = dict(meta, tick=self.tick, pose=list(self.frame.pose.as_array()))
        start = {"rgb": self.picture.rgb, "depth": self.picture.depth} if self.picture is not None else None
        self.last_save = write_save(path, self.spec.portable().to_dict(), self.backend.model_id,
                                    self.backend.model_sha256, self.backend.name, arrays, meta,
                                    {"start_pose": list(self.start_pose.as_array())}, start)
        return self.last_save

    def load(self, path) -> Frame:
        """Continue from a save. All or nothing: a save that is for another model, altered, newer, or fails
        to restore raises SaveError and leaves the session as it was."""
        meta, arrays, start = read_save(path, expect_model_id=self.backend.model_id, with_start=True)
        try:
            spec = spec_from_dict(meta["scene"], f"{path}:scene")
            pose = Pose.from_array(meta["pose"])
            tick, gen_meta = int(meta["tick"]), meta["generator"]
            start_pose = Pose.from_array(meta.get("start_pose", meta["pose"]))
            if not isinstance(gen_meta, dict) or tick < 0:
                raise ValueError("generator must be a table and tick at least 0")
            for name, p in (("pose", pose), ("start_pose", start_pose)):
                if not (np.isfinite(p.as_array()).all() and max(abs(p.x), abs(p.y), abs(p.z)) <= 1e6
                        and abs(p.pitch) <= PITCH_LIMIT_RAD + 1e-9):
                    raise ValueError(f"{name} {list(p.as_array())} is not a place in a world")
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise SaveError(f"{path}: field scene, pose, tick or generator is missing or wrong ({e})") from None
        picture = self._saved_picture(path, spec, start)
        before = self.backend.export_state()
        switched = spec != self.spec.portable() or not _same_picture(picture, self.picture)
        try:
            if switched:
                self.backend.start(spec, pose, for_state=True)   # another scene: the saved state replaces all
            frame = self.backend.import_state(arrays, gen_meta)
        except Exception as e:
            if switched:
                self.backend.start(self.spec, self.frame.pose, for_state=True)
            self.backend.import_state(*before)      # put back exactly what was running
            raise SaveError(f"{path}: the generator state does not fit this model ({e.__class__.__name__}: {e})") \
                from None
        if switched:
            self.spec, self.picture = spec, picture
        self.frame, self.tick, self.start_pose, self.last_save = frame, tick, start_pose, Path(path)
        self._next_segment()
        if hasattr(self, "_good"):
            self._snapshot()
        return frame

    def _saved_picture(self, path, spec: SceneSpec, start: dict) -> Frame | None:
        """A picture scene's start frame as its save carries it, checked like the scene's own files. A save
        written before saves carried it (version 2) loads into the same scene, whose picture is running."""
        if not spec.from_picture:
            return None
        r = self.config.res
        rgb, depth = start.get("rgb"), start.get("depth")
        if rgb is None or depth is None:
            if self.picture is not None and spec == self.spec.portable():
                return self.picture
            raise SaveError(f"{path}: field start.rgb / start.depth is missing: the scene '{spec.name}' starts "
                            f"from a picture the save does not carry (saved before version 3); load it while "
                            f"playing that scene")
        if rgb.dtype != np.uint8 or rgb.shape != (r, r, 3):
            raise SaveError(f"{path}: field start.rgb is {rgb.dtype} {rgb.shape}, expected uint8 ({r}, {r}, 3)")
        if depth.dtype.kind != "f" or depth.shape != (r, r) or not (np.isfinite(depth).all() and (depth > 0).all()):
            raise SaveError(f"{path}: field start.depth is {depth.dtype} {depth.shape}, expected finite positive "
                            f"float ({r}, {r})")
        from .from_image import START_POSE
        return Frame(rgb, depth.astype(np.float32), START_POSE)

    def reset(self) -> Frame:
        self.frame = self.backend.start(self.spec, self.start_pose, picture=self.picture)
        self.tick = 0
        self._next_segment()
        self._snapshot()
        return self.frame

    def restart(self, spec: SceneSpec, start_pose: Pose | None = None) -> Frame:
        """Start again in `spec` (another scene, or the same) at `start_pose` (the scene's spawn when None),
        with the same backend: what an agent's reset does."""
        picture = self.picture if spec == self.spec else None
        self.frame = self.backend.start(spec, start_pose, picture=picture)
        self.spec, self.start_pose, self.tick = spec, self.frame.pose, 0
        if spec.from_picture and picture is None:
            self.picture = Frame(self.frame.rgb.copy(), self.frame.depth.copy(), self.frame.pose)
        elif not spec.from_picture:
            self.picture = None
        self._next_segment()
        self._snapshot()
        return self.frame

    def restore(self, arrays: dict, meta: dict, tick: int, frame: Frame, start_pose: Pose,
                spec: SceneSpec | None = None) -> Frame:
        """Go back to a state exported in memory (backend.export_state, with the tick, frame and start pose it
        was taken at; in `spec` when it is another scene): the Python API's World.restore."""
        if spec is not None and spec != self.spec:
            self.restart(spec, start_pose)
        self.backend.import_state(arrays, meta)
        self.frame, self.tick, self.start_pose = frame, tick, start_pose
        self._snapshot()
        return self.frame

    def close(self):
        """Finish the recording; returns the (log, mp4) paths of its last segment, or None."""
        if self.recorder is not None:
            self.recorded.append(self.recorder.close())
            self.recorder = None
        return self.recorded[-1] if self.recorded else None


def _same_picture(a: Frame | None, b: Frame | None) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
