"""`worldloop bench loop`: the loop's own cost per displayed frame, and input-to-display latency of a turn.

Both run the real LoopCore and Display offscreen (EGL), in real time. Latency: the camera stands still, a
mouse motion is injected, and the time until a drawn frame differs (read back from the framebuffer) is taken,
with reprojection on and off.
"""
from __future__ import annotations

import time

import moderngl
import numpy as np

from worldgen.poses import Action, Frame, apply_action
from worldgen.procedural.render import make_current

from .app import LoopCore
from .bindings import Bindings
from .clock import FixedStep, RealClock
from .display import Display
from .input import ActionMapper, InputState
from .worker import GeneratorWorker, Published


class _StillWorker:
    """Stands in for the generator: every step is done at once, publishing the same picture at the step's new
    pose, so the loop runs as in play with no generator work. Measures the loop alone."""

    def __init__(self, session):
        self.session = session
        self._pub = Published(session.frame, 0, 0.0, 1)

    def pending(self) -> int:
        return 0

    def send(self, cmd, *args) -> None:
        if cmd == "step":
            action, step_id = args
            old = self._pub.frame
            frame = Frame(old.rgb, old.depth, apply_action(old.pose, Action.from_array(action)))
            self._pub = Published(frame, self._pub.tick + 1, 0.0, self._pub.serial + 1, step_id)

    def take(self) -> Published:
        return self._pub


def _core(worker, ctx, size):
    cfg = worker.session.config
    state = InputState()
    core = LoopCore(worker, Display(ctx, cfg), ActionMapper(Bindings(), cfg.tick_hz, cfg.action_max), state,
                    FixedStep(cfg.tick_hz))
    target = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    return core, state, target


def loop_cost(make_session, frames: int = 600, size=(960, 720)) -> dict:
    """ms per displayed frame of update + draw (GPU work finished), without the generator.

    "turning": the player walks and turns the mouse every frame, so every frame must be drawn (the worst case).
    "still": the player stands still; the window loop draws only when the picture would change, which is when
    a new frame arrives (every tick) or the HUD text changes, so frames between ticks cost only the update.
    """
    ctx = moderngl.create_standalone_context(backend="egl")
    session = make_session()
    make_current(ctx)
    out = {}
    for case in ("turning", "still"):
        core, state, target = _core(_StillWorker(session), ctx, size)
        if case == "turning":
            state.press("forward")                 # actions are mapped and sent every tick, as in play
        clock = RealClock()
        upd, cpu, total, thread, drawn, last = [], [], [], [], 0, clock.now()
        for _ in range(frames):
            if case == "turning":
                state.move_mouse(3.0, 0.0)
            c0 = time.thread_time()
            t0 = clock.now()
            core.update(t0 - last, t0)
            last = t0
            tu = clock.now()                 # input, ticks and actions done; drawing follows
            drawn += core.draw(target, size, t0, only_if_changed=True)
            t1 = clock.now()                 # the GL calls are made; what follows is the rasteriser finishing
            ctx.finish()
            thread.append(time.thread_time() - c0)     # CPU time of the loop's thread alone: not the rasteriser's
            upd.append(tu - t0)
            cpu.append(t1 - t0)
            total.append(clock.now() - t0)
            time.sleep(max(0.0, 1 / 60 - (clock.now() - t0)))     # at most 60 display frames a second, as in play
        u, c, t = np.array(upd[30:]) * 1000, np.array(cpu[30:]) * 1000, np.array(total[30:]) * 1000
        th = np.array(thread[30:]) * 1000
        out[case] = {"frames": len(t), "drawn_share": drawn / frames,
                     "update_p50_ms": float(np.percentile(u, 50)), "update_p90_ms": float(np.percentile(u, 90)),
                     "cpu_p50_ms": float(np.percentile(c, 50)), "cpu_p90_ms": float(np.percentile(c, 90)),
                     "p50_ms": float(np.percentile(t, 50)), "p90_ms": float(np.percentile(t, 90)),
                     "mean_ms": float(t.mean()),
                     "thread_cpu_p50_ms": float(np.percentile(th, 50)),
                     "thread_cpu_p90_ms": float(np.percentile(th, 90))}
    ctx.release()
    return out


def turn_latency(make_session, trials: int = 20, display_hz: float = 60.0, size=(480, 360)) -> dict:
    """Seconds from a mouse motion to the first displayed frame that shows it, with and without reprojection."""
    out = {}
    for reproject in (True, False):
        ctx = moderngl.create_standalone_context(backend="egl")
        worker = GeneratorWorker(make_session)
        worker.start()
        worker.ready.wait()
        if worker.error:
            raise worker.error
        make_current(ctx)
        core, state, target = _core(worker, ctx, size)
        core.display.reproject = reproject
        clock = RealClock()
        rng = np.random.default_rng(0)
        lat, last = [], clock.now()
        row = (0, size[1] // 2, size[0], 1)
        for _ in range(trials):
            for _ in range(int(rng.integers(10, 25))):      # settle, then inject at a random moment
                last = _frame(core, target, size, clock, last, display_hz)
            before = target.read(viewport=row)
            t_in = clock.now()
            state.move_mouse(60.0, 0.0)                     # about 8.6 degrees to the right
            for _ in range(120):
                t0 = clock.now()
                core.update(t0 - last, t0)
                core.draw(target, size, t0)
                changed = target.read(viewport=row) != before      # the read waits for the drawing
                if changed:
                    lat.append(clock.now() - t_in)
                    break
                spare = 1.0 / display_hz - (clock.now() - t0)
                if spare > 0:
                    time.sleep(spare)
                last = t0
        worker.send("stop")
        worker.join(timeout=30)
        ctx.release()
        ms = np.array(lat) * 1000
        out["with_reprojection" if reproject else "without_reprojection"] = {
            "trials": len(ms), "mean_ms": float(ms.mean()), "p90_ms": float(np.percentile(ms, 90))}
    out["display_frame_ms"] = 1000.0 / display_hz
    return out


def _frame(core, target, size, clock, last, display_hz):
    t0 = clock.now()
    core.update(t0 - last, t0)
    core.draw(target, size, t0)
    core.display.ctx.finish()
    spare = 1.0 / display_hz - (clock.now() - t0)
    if spare > 0:
        time.sleep(spare)
    return t0
