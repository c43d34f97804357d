"""`worldloop play`: the game loop in a window, and the headless runner.

The window loop follows "Fix Your Timestep": real time accumulates, the generator is sent one action per
fixed tick, a long frame is clamped, and when the model falls behind actions are dropped rather than queued.
The generator runs on a worker thread; every display refresh draws the newest frame reprojected to the
newest camera pose, so looking around answers at once even while the next tick is being generated.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from worldgen.poses import Action, Pose, apply_action
from worldgen.video import VideoWriter

from .bindings import Bindings
from .clock import FixedStep, RealClock
from .input import ActionMapper, InputState, ScriptedInput

MAX_IN_FLIGHT = 2   # ticks sent to the generator and not yet done; beyond this, ticks are dropped


@dataclass(frozen=True)
class PlayOptions:
    window: tuple = (960, 720)
    fullscreen: bool = False
    max_fps: float = 60.0
    save_dir: str = "saves"
    screenshot_dir: str = "screenshots"
    input_source: str = "pygame"     # or "pynput"
    show_hud: bool = True


def view_pose(sent: Pose, look: tuple[float, float]) -> Pose:
    """The camera the player sees through: the last pose sent, turned by mouse motion not yet sent."""
    from worldgen.poses import PITCH_LIMIT_RAD
    pitch = min(max(sent.pitch + look[1], -PITCH_LIMIT_RAD), PITCH_LIMIT_RAD)
    return Pose(sent.x, sent.y, sent.z, sent.yaw + look[0], pitch)


def frame_digest(frame) -> str:
    return hashlib.sha256(frame.rgb.tobytes() + frame.depth.tobytes()).hexdigest()


def run_headless(session, ticks: int, actions=None, video=None, size=(512, 512), hud=False) -> dict:
    """Run `ticks` ticks synchronously, drawing each through the display offscreen (EGL)."""
    import moderngl
    from worldgen.procedural.render import make_current
    from .display import Display, read_framebuffer
    ctx = moderngl.create_standalone_context(backend="egl")
    display = Display(ctx, session.config)
    screen = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    script = ScriptedInput(actions if actions is not None else [])
    writer = VideoWriter(video, size[0], size[1], session.config.tick_hz) if video else None
    digests = []
    for _ in range(ticks):
        frame = session.step(script.next_action())
        make_current(ctx)     # the backend may have made its own context current
        display.show(frame)
        lines = hud_lines(session.backend.name, 0.0, session.config.tick_hz, 0.0, frame.pose, 0) if hud else None
        display.draw(frame.pose, screen, size, lines)
        if writer:
            writer.write(read_framebuffer(screen, size))
        digests.append(frame_digest(frame))
    if writer:
        writer.close()
    ctx.release()
    return {"ticks": session.tick, "pose": list(session.frame.pose.as_array()), "frame_digests": digests,
            "run_sha256": hashlib.sha256("".join(digests).encode()).hexdigest()}


def hud_lines(backend: str, fps: float, tick_hz: float, gen_ms: float, pose: Pose, memory: int,
              extra: list | None = None) -> list[str]:
    return [f"fps {fps:5.1f}   ticks/s {tick_hz:5.1f}   generator {gen_ms:5.1f} ms   backend {backend}",
            f"pose x {pose.x:7.2f} y {pose.y:6.2f} z {pose.z:7.2f}  yaw {math.degrees(pose.yaw) % 360:5.1f}  "
            f"pitch {math.degrees(pose.pitch):5.1f}   memory {memory} keyframes",
            "WASD move  mouse look (click; Esc frees)  Space/C up/down  Shift run  P pause  . step",
            "F5 save  F9 load  F12 screenshot  Backspace reset  F1 hide", *(extra or [])]


class Game:
    """The windowed game: initialise, then update and draw every refresh, then shut down."""

    def __init__(self, make_session, bindings: Bindings, options: PlayOptions, replay_actions=None):
        self.make_session, self.bindings, self.opts = make_session, bindings, options
        self.replay = ScriptedInput(replay_actions) if replay_actions is not None else None
        self.running = True

    # -- initialise ------------------------------------------------------------------------------------------
    def _open_window(self):
        import moderngl
        import pygame
        pygame.init()
        flags = pygame.OPENGL | pygame.DOUBLEBUF | (pygame.FULLSCREEN if self.opts.fullscreen else pygame.RESIZABLE)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MAJOR_VERSION, 3)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MINOR_VERSION, 3)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_PROFILE_MASK, pygame.GL_CONTEXT_PROFILE_CORE)
        pygame.display.set_mode(self.opts.window, flags)
        pygame.display.set_caption("worldloop")
        self.size = pygame.display.get_window_size()
        self.ctx = moderngl.create_context()
        self.screen = self.ctx.detect_framebuffer()

    def run(self) -> dict:
        import pygame
        from .display import Display
        from .input import PygameInput, PynputInput
        from .worker import GeneratorWorker
        self._open_window()
        worker = GeneratorWorker(self.make_session)
        worker.start()
        worker.ready.wait()
        if worker.error is not None:
            pygame.quit()
            raise worker.error
        cfg = worker.session.config
        display = Display(self.ctx, cfg)
        state = InputState()
        source = PynputInput(self.bindings, state) if self.opts.input_source == "pynput" else None
        pg_input = PygameInput(self.bindings, state)
        mapper = ActionMapper(self.bindings, cfg.tick_hz, cfg.action_max)
        fixed = FixedStep(cfg.tick_hz)
        clock = RealClock()
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        pub = worker.take()
        display.show(pub.frame)
        sent, shown = pub.frame.pose, pub.serial
        paused, hud_on, messages = False, self.opts.show_hud, []
        fps, ticks_done, tick_rate, last = 0.0, 0, 0.0, clock.now()
        rate_t0, rate_n = last, 0
        # -- update / draw -----------------------------------------------------------------------------------
        while self.running:
            now = clock.now()
            frame_s, last = now - last, now
            for ev in pygame.event.get():
                if ev.type == pygame.VIDEORESIZE:
                    self.size = (ev.w, ev.h)
                elif not pg_input.handle(ev):
                    self.running = False
            step_once = False
            for cmd in state.take_events():
                if cmd == "pause":
                    paused = not paused
                elif cmd == "step":
                    step_once = True
                elif cmd == "hud":
                    hud_on = not hud_on
                elif cmd == "quit":
                    self.running = False
                elif cmd == "save":
                    worker.send("save", Path(self.opts.save_dir) / "quicksave.wlsave")
                elif cmd == "load":
                    worker.send("load", worker.session.last_save or Path(self.opts.save_dir) / "quicksave.wlsave")
                elif cmd == "reset":
                    worker.send("reset")
                elif cmd == "screenshot":
                    messages.append(self._screenshot())
            due = 0 if paused else fixed.advance(frame_s)
            due += 1 if step_once else 0
            for _ in range(due):
                if worker.pending() >= MAX_IN_FLIGHT:
                    break                       # the model is behind: drop this tick instead of queueing it
                a = self.replay.next_action() if self.replay else mapper.tick_action(state)
                a = cfg.clamp_action(a)
                sent = apply_action(sent, Action.from_array(a))
                worker.send("step", a)
                ticks_done += 1
            pub = worker.take()
            messages = (messages + pub.messages)[-3:]
            if pub.serial != shown:
                display.show(pub.frame)
                shown = pub.serial
                rate_n += 1
            if pub.resync:
                sent = pub.frame.pose
            if now - rate_t0 >= 1.0:
                tick_rate, rate_n, rate_t0 = rate_n / (now - rate_t0), 0, now
            fps = 0.9 * fps + 0.1 / max(frame_s, 1e-6)
            view = view_pose(sent, mapper.look_delta(state))
            memory = len(getattr(getattr(getattr(worker.session.backend, "gen", None), "state", None),
                                 "memory", []) or [])
            lines = hud_lines(worker.session.backend.name, fps, tick_rate, pub.step_ms, view, memory,
                              messages) if hud_on else None
            display.draw(view, self.screen, self.size, lines)
            pygame.display.flip()
            if self.replay is not None and self.replay.done and worker.pending() == 0:
                self.running = False
            spare = 1.0 / self.opts.max_fps - (clock.now() - now)
            if spare > 0:
                time.sleep(spare)
        # -- shut down ---------------------------------------------------------------------------------------
        worker.send("stop")
        worker.join(timeout=30)
        if source is not None:
            source.stop()
        pygame.quit()
        return {"ticks": worker.session.tick, "ticks_sent": ticks_done, "pose": list(sent.as_array())}

    def _screenshot(self) -> str:
        from PIL import Image
        from .display import read_framebuffer
        out = Path(self.opts.screenshot_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / time.strftime("worldloop-%Y%m%d-%H%M%S.png")
        Image.fromarray(read_framebuffer(self.screen, self.size)).save(path)
        return f"screenshot {path}"


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("SDL_VIDEODRIVER") in ("offscreen", "dummy"))


def summary_line(result: dict) -> str:
    r = {k: v for k, v in result.items() if k != "frame_digests"}
    return json.dumps(r)

