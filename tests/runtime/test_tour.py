"""Tours: the file, the walk it compiles to, captions in the picture, and the kiosk's loop."""
import math
from pathlib import Path

import numpy as np
import pytest

from worldloop.runtime.tour import TourError, compile_tour, load_tour, tour_scene
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.poses import Action, apply_action, heading_vectors
from worldloop.worldgen.procedural.world import World

ROOT = Path(__file__).resolve().parents[2]
CFG = ModelConfig()


@pytest.mark.parametrize("name", ["village", "forest", "coast"])
def test_bundled_tours_compile_and_reach_every_stop(name):
    tour = load_tour(ROOT / "scenes" / "tours" / f"{name}.toml")
    world = World(tour_scene(tour))
    c = compile_tour(tour, world, CFG)
    assert len(c.actions) == len(c.captions) and len(c.actions) > 10 * CFG.tick_hz
    m = np.asarray(CFG.action_max)
    assert all((np.abs(a) <= m + 1e-12).all() for a in c.actions)          # within the trained range
    f, r = heading_vectors(c.start.yaw)
    pose, i, reached = c.start, 0, []
    for stop in tour.stops:
        target = (c.start.x + stop.at[0] * r[0] + stop.at[1] * f[0], c.start.z + stop.at[0] * r[2] + stop.at[1] * f[2])
        while i < len(c.actions) and c.captions[i] != stop.caption:    # its caption shows on arrival
            pose = apply_action(pose, Action.from_array(c.actions[i]))
            i += 1
        reached.append(math.hypot(pose.x - target[0], pose.z - target[1]))
    assert max(reached) < 0.1
    from worldloop.worldgen.procedural.world import EYE_HEIGHT_M
    for a in c.actions[i:]:
        pose = apply_action(pose, Action.from_array(a))
    assert abs(pose.y - (float(world.height(pose.x, pose.z)) + EYE_HEIGHT_M)) < 0.05   # the eyes follow the ground
    assert c.captions[0] == "" and c.captions[-1] == tour.stops[-1].caption


def test_bad_tours_are_refused_naming_the_field(tmp_path):
    p = tmp_path / "t.toml"
    cases = [('[tour]\ntitle = "x"\n', "field tour.scene"),
             ('[tour]\ntitle = "x"\nscene = "default"\n', "field stop"),
             ('[tour]\ntitle = "x"\nscene = "default"\n[[stop]]\nat = [1.0]\n', "field stop\\[0\\].at"),
             ('[tour]\ntitle = "x"\nscene = "default"\n[[stop]]\nat = [1.0, nan]\n', "field stop\\[0\\].at"),
             ('[tour]\ntitle = "x"\nscene = "default"\nspeed = 3\n[[stop]]\nat = [1.0, 2.0]\n', "tour.speed"),
             ('[tour]\ntitle = "x"\nscene = "../x.toml"\n[[stop]]\nat = [1.0, 2.0]\n', "field tour.scene")]
    for text, field in cases:
        p.write_text(text)
        with pytest.raises(TourError, match=field):
            tour_scene(load_tour(p))
    # a stop behind a house: the walk is refused, naming the stop
    p.write_text('[tour]\ntitle = "x"\nscene = "default"\n[[stop]]\nat = [0.0, 10.0]\n[[stop]]\nat = [4.3, -38.7]\n')
    t = load_tour(p)
    with pytest.raises(TourError, match="stop\\[1\\].at"):
        compile_tour(t, World(tour_scene(t)), CFG)


def test_a_headless_tour_shows_its_captions(tmp_path):
    from worldloop.runtime.app import run_headless
    from worldloop.runtime.session import Session
    tour = load_tour(ROOT / "scenes" / "tours" / "forest.toml")
    spec = tour_scene(tour)
    c = compile_tour(tour, World(spec), CFG)
    k = c.captions.index(tour.stops[0].caption) + 5        # a few ticks after the first stop's caption
    a = run_headless(Session("oracle", None, spec, start_pose=c.start), k, c.actions, size=(640, 480),
                     captions=c.captions, video=str(tmp_path / "t.mp4"))
    b = run_headless(Session("oracle", None, spec, start_pose=c.start), k, c.actions, size=(640, 480),
                     video=str(tmp_path / "plain.mp4"))
    assert a["run_sha256"] == b["run_sha256"]               # the same world...
    import imageio_ffmpeg

    def last_frame(path):
        gen = imageio_ffmpeg.read_frames(str(path))
        meta = next(gen)
        w, h = meta["size"]
        *_, last = gen
        return np.frombuffer(last, np.uint8).reshape(h, w, 3).astype(float)

    fa, fb = last_frame(tmp_path / "t.mp4"), last_frame(tmp_path / "plain.mp4")
    diff = np.abs(fa - fb).max(axis=2) > 40                # ...with a caption box at the bottom
    rows = np.nonzero(diff.any(axis=1))[0]
    assert len(rows) and rows.min() > 480 * 0.6


def test_the_kiosk_loops_and_a_visitor_takes_over_until_idle(gl_ctx):
    from worldloop.runtime.app import LoopCore
    from worldloop.runtime.bench import _StillWorker
    from worldloop.runtime.bindings import Bindings
    from worldloop.runtime.clock import FixedStep
    from worldloop.runtime.display import Display
    from worldloop.runtime.input import ActionMapper, InputState, ScriptedInput
    from worldloop.runtime.session import Session
    tour = load_tour(ROOT / "scenes" / "tours" / "forest.toml")
    spec = tour_scene(tour)
    c = compile_tour(tour, World(spec), CFG)

    class Worker(_StillWorker):
        resets = 0

        def send(self, cmd, *args):
            if cmd == "reset":
                self.resets += 1
                from worldloop.runtime.worker import Published
                self._pub = Published(self.session.frame, 0, 0.0, self._pub.serial + 1, self._pub.last_step)
            super().send(cmd, *args)

    session = Session("oracle", None, spec, start_pose=c.start)
    worker = Worker(session)
    state = InputState()
    replay = ScriptedInput(c.actions[:60], c.captions[:60])           # a two-second tour
    core = LoopCore(worker, Display(gl_ctx, CFG), ActionMapper(Bindings(), CFG.tick_hz, CFG.action_max), state,
                    FixedStep(CFG.tick_hz), replay=replay, kiosk_idle_s=1.0)
    t = 0.0

    def run(seconds):
        nonlocal t
        for _ in range(int(seconds * 60)):
            t += 1 / 60
            core.update(1 / 60, t)

    run(2.5)
    assert worker.resets == 1 and replay.i < 60               # the end of the tour: back to the start, again
    state.press("forward")                                    # a visitor walks
    run(0.5)
    assert core.visitor
    taken = replay.i
    run(0.5)
    assert replay.i == taken                                  # the tour waits while the visitor plays
    state.release("forward")
    run(1.5)                                                  # idle for the kiosk's second: the tour restarts
    assert not core.visitor and worker.resets == 2
