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
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldloop.worldgen.poses import PITCH_LIMIT_RAD, Action, Pose, apply_action
from worldloop.worldgen.video import VideoWriter

from .bindings import Bindings, key_help
from .compare import Comparison, memory_map
from .clock import FixedStep, RealClock
from .input import ActionMapper, InputState, ScriptedInput
from .session import GeneratorFault

MAX_IN_FLIGHT = 2   # ticks sent to the generator and not yet done; beyond this, ticks are dropped


@dataclass(frozen=True)
class PlayOptions:
    window: tuple = (960, 720)
    fullscreen: bool = False
    max_fps: float = 60.0
    save_dir: str = ""               # default: the user's data folder (worldgen.files.user_data_dir)
    screenshot_dir: str = ""
    input_source: str = "pygame"     # or "pynput"
    show_hud: bool = True
    stereo: object = None            # stereo.StereoOptions: side by side, each eye reprojected to its pose
    kiosk_idle_s: float | None = None  # a tour in kiosk mode: loops; a visitor may take over, and after this
                                       # many idle seconds the tour starts again
    compare: bool = False            # model | truth | difference, with the PSNR (compare.py)
    memory_map: bool = False         # where the spatial memory's keyframes stand (compare.py)


def default_dir(kind: str) -> Path:
    """Saves and screenshots go to the user's data folder, not wherever the game was started."""
    from worldloop.worldgen.files import user_data_dir
    return user_data_dir() / kind


def view_pose(sent: Pose, look: tuple[float, float]) -> Pose:
    """The camera the player sees through: the last pose sent, turned by mouse motion not yet sent."""
    pitch = min(max(sent.pitch + look[1], -PITCH_LIMIT_RAD), PITCH_LIMIT_RAD)
    return Pose(sent.x, sent.y, sent.z, sent.yaw + look[0], pitch)


def frame_digest(frame) -> str:
    return hashlib.sha256(frame.rgb.tobytes() + frame.depth.tobytes()).hexdigest()


def run_headless(session, ticks: int, actions=None, video=None, size=(512, 512), hud=False, stop=None,
                 stereo=None, captions=None, compare: bool = False, show_memory: bool = False) -> dict:
    """Run `ticks` ticks synchronously, drawing each through the display offscreen (EGL). With `stop`
    (interrupts.Stop), a signal ends the run after the tick it came in, the video closed on what was drawn.
    With `stereo` (stereo.StereoOptions) the display draws both eyes side by side; with `compare`, model | truth
    | difference (the result's `psnr_mean`); with `show_memory`, the memory map in the corner."""
    import moderngl
    from worldloop.worldgen.procedural.render import make_current
    from .display import Display, read_framebuffer
    comparison = Comparison(session.spec, session.config) if compare else None
    psnrs = []
    ctx = moderngl.create_standalone_context(backend="egl")
    display = Display(ctx, session.config)
    screen = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    script = ScriptedInput(actions if actions is not None else [], captions)
    writer = VideoWriter(video, size[0], size[1], session.config.tick_hz) if video else None
    digests = []
    fps, gen_ms, last, faults = 0.0, 0.0, time.perf_counter(), 0
    for _ in range(ticks):
        if stop is not None and stop.requested:
            break
        t0 = time.perf_counter()
        try:
            frame = session.step(script.next_action())
            faults = 0
        except GeneratorFault as e:               # back at the last good state; three in a row: give up
            faults += 1
            if faults >= 3:
                raise
            print(f"worldloop: {e}", file=sys.stderr)
            frame = session.frame
        step_ms = (time.perf_counter() - t0) * 1000
        gen_ms = 0.9 * gen_ms + 0.1 * step_ms if gen_ms else step_ms
        make_current(ctx)     # the backend may have made its own context current
        display.show(frame)
        now = time.perf_counter()                 # what the run achieves: frames drawn per second of wall time
        fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if fps else 1 / max(now - last, 1e-6)
        last = now
        lines = hud_lines(session.backend.name, fps, fps, gen_ms, frame.pose, keyframes(session.backend)) \
            if hud else None
        panel = overlay = None
        if compare:
            panel, p = comparison.update(frame)
            make_current(ctx)
            if lines is not None:
                lines = [*lines, f"model | truth | difference: PSNR {p:5.1f} dB"]
            psnrs.append(p)
        if show_memory:
            overlay = memory_map(session.backend.stats(), frame.pose)
        moving = bool(np.any(np.abs(session.backend.applied_action) > 1e-9))
        display.draw(frame.pose, screen, size, lines, stereo, moving, caption=script.caption, panel=panel,
                     overlay=overlay)
        if writer:
            writer.write(read_framebuffer(screen, size))
        digests.append(frame_digest(frame))
    if writer:
        writer.close()
    ctx.release()
    out = {"ticks": session.tick, "pose": list(session.frame.pose.as_array()), "frame_digests": digests,
           "run_sha256": hashlib.sha256("".join(digests).encode()).hexdigest()}
    if stop is not None and stop.requested:
        out["stopped_by"] = stop.signal
    if comparison is not None:
        comparison.release()
        out["psnr_mean"] = float(np.mean(psnrs)) if psnrs else None
    return out


def keyframes(backend) -> int:
    """Keyframes in the backend's spatial memory (0 for the oracle), from its stats()."""
    return int(backend.stats().get("keyframes", 0))


def hud_lines(backend: str, fps: float, tick_hz: float, gen_ms: float, pose: Pose, memory: int,
              extra: list | None = None, bindings: Bindings | None = None) -> list[str]:
    """The HUD's text; its key help comes from the bindings in use (the defaults when none are given)."""
    return [f"fps {fps:5.1f}   ticks/s {tick_hz:5.1f}   generator {gen_ms:5.1f} ms   backend {backend}",
            f"pose x {pose.x:7.2f} y {pose.y:6.2f} z {pose.z:7.2f}  yaw {math.degrees(pose.yaw) % 360:5.1f}  "
            f"pitch {math.degrees(pose.pitch):5.1f}   memory {memory} keyframes",
            *key_help(bindings or Bindings()), *(extra or [])]


class LoopCore:
    """One display frame's update and draw, shared by the window and the headless loop benchmark."""

    def __init__(self, worker, display, mapper: ActionMapper, state: InputState, fixed: FixedStep,
                 save_dir: str = "", replay: ScriptedInput | None = None, show_hud: bool = True, stereo=None,
                 kiosk_idle_s: float | None = None, compare=None, show_memory: bool = False):
        self.worker, self.display, self.mapper, self.state, self.fixed = worker, display, mapper, state, fixed
        self.compare, self.show_memory = compare, show_memory    # compare.Comparison, the memory map
        self.kiosk_idle_s, self.visitor, self.last_input = kiosk_idle_s, False, 0.0
        self.stereo = stereo
        snap = getattr(stereo, "snap_turn_deg", None)
        self.snap = math.radians(snap) if snap else None   # snap turning: the view turns in steps of this
        self.snap_pending = 0.0                              # turning asked for and not yet a whole step
        self.cfg = worker.session.config
        self.save_dir, self.replay, self.hud_on = Path(save_dir or default_dir("saves")), replay, show_hud
        pub = worker.take()
        display.show(pub.frame)
        self.sent, self.shown = pub.frame.pose, pub.serial
        self.in_flight: list[tuple[int, np.ndarray]] = []   # (step id, action) sent and not yet generated
        self.paused, self.messages, self.ticks_sent = False, [], 0
        self.carry, self.dropped = np.zeros(5), 0        # motion of ticks the model was too slow to take
        self.fps, self.tick_rate, self.step_ms = 0.0, 0.0, 0.0
        self._rate_t0, self._rate_n, self._hud, self._hud_t = None, 0, None, -1.0
        self.view_yaw = self._yaw_sent = pub.frame.pose.yaw   # snap turning: the heading shown, and sent
        self.stats = pub.stats
        self.moving = False

    def _kiosk(self, now: float) -> None:
        """A looping tour: a visitor's keys or mouse take over from it; after kiosk_idle_s idle seconds (or at
        the tour's end) the world goes back to its start and the tour begins again."""
        st = self.state
        if st.held or st.mouse_dx or st.mouse_dy or any(abs(v) > 0.15 for v in st.stick):
            self.visitor, self.last_input = True, now
        idle = self.visitor and now - self.last_input >= self.kiosk_idle_s
        if idle or (not self.visitor and self.replay.done and self.worker.pending() == 0):
            self.worker.send("reset")
            self.replay.restart()
            self.visitor = False
            self.in_flight = []

    def _snap_turn(self, a: np.ndarray) -> np.ndarray:
        """Snap turning: the turn the player asks for gathers until it makes a whole step, then the view jumps
        by that step at once (reprojection turns the picture exactly) and the generator is sent the turn over
        the next ticks at the trained rate, catching up with what the player already sees."""
        self.snap_pending += a[3]
        while abs(self.snap_pending) >= self.snap:
            step = math.copysign(self.snap, self.snap_pending)
            self.view_yaw += step
            self.snap_pending -= step
        a = a.copy()
        a[3] = self.view_yaw - self._yaw_sent
        return a

    def update(self, frame_s: float, now: float) -> list[str]:
        """Input commands, due ticks sent to the generator, the newest frame taken. Returns the commands
        that belong to the caller (screenshot, quit)."""
        left, step_once = [], False
        for cmd in self.state.take_events():
            if cmd == "pause":
                self.paused = not self.paused
            elif cmd == "step":
                step_once = True
            elif cmd == "hud":
                self.hud_on = not self.hud_on
            elif cmd == "save":
                self.worker.send("save", self.save_dir / "quicksave.wlsave")
            elif cmd == "load":
                self.worker.send("load", self.worker.session.last_save or self.save_dir / "quicksave.wlsave")
            elif cmd == "reset":
                self.worker.send("reset")
            else:
                left.append(cmd)
        due = (0 if self.paused else self.fixed.advance(frame_s)) + (1 if step_once else 0)
        if self.kiosk_idle_s is not None and self.replay is not None:
            self._kiosk(now)
        for _ in range(due):
            if self.replay is not None and not self.visitor:
                if self.worker.pending() >= MAX_IN_FLIGHT:
                    break                   # a replay keeps every action: wait instead of dropping
                a = self.replay.next_action()
                if self.snap is not None:      # a replay's turns are the view's too
                    self.view_yaw += float(self.cfg.clamp_action(a)[3])
            else:
                asked = self.mapper.tick_action(self.state)
                self.moving = bool(np.any(np.abs(asked) > 1e-9))
                a = asked + self.carry
                if self.snap is not None:       # the turn still owed to the snapped view, not the carried one
                    a[3] = self._snap_turn(asked)[3]
                if self.worker.pending() >= MAX_IN_FLIGHT:
                    # the model is behind: this tick is not queued, but its motion goes into the next one sent,
                    # so the player walks and turns at true speed (within the trained range) on a slow host
                    self.carry = a
                    self.dropped += 1
                    continue
                self.carry = np.zeros(5)
            a = self.cfg.clamp_action(a)
            self._yaw_sent += a[3]
            self.ticks_sent += 1
            self.in_flight.append((self.ticks_sent, a))
            self.worker.send("step", a, self.ticks_sent)
        pub = self.worker.take()
        self.stats = pub.stats                  # the backend's stats as published with the frame
        self.messages = (self.messages + pub.messages)[-3:]
        for m in pub.messages:              # also in the terminal: where a save went, what failed
            print(m, flush=True)
        if pub.serial != self.shown:
            self.display.show(pub.frame)
            self.shown = pub.serial
            self._rate_n += 1
        # where the player is: the newest frame's pose moved on by the steps still being generated (this also
        # follows a load or reset, which replace the frame between steps)
        self.in_flight = [(i, a) for i, a in self.in_flight if i > pub.last_step]
        pose = pub.frame.pose
        for _, a in self.in_flight:
            pose = apply_action(pose, Action.from_array(a))
        self.sent = pose
        if self.snap is not None and not self.in_flight and abs(pose.yaw - self._yaw_sent) > 1e-6:
            # a reset or a load moved the world under the snapped view: take its heading again
            self.view_yaw = self._yaw_sent = pose.yaw
            self.snap_pending = 0.0
        self.step_ms = pub.step_ms
        if self._rate_t0 is None or now - self._rate_t0 >= 1.0:
            if self._rate_t0 is not None:
                self.tick_rate = self._rate_n / (now - self._rate_t0)
            self._rate_t0, self._rate_n = now, 0
        self.fps = 0.9 * self.fps + 0.1 / max(frame_s, 1e-6)
        return left

    def view(self) -> Pose:
        if self.snap is not None:           # the snapped heading; the pitch still follows the mouse smoothly
            v = view_pose(self.sent, (0.0, self.mapper.look_delta(self.state)[1]))
            return Pose(v.x, v.y, v.z, self.view_yaw, v.pitch)
        return view_pose(self.sent, self.mapper.look_delta(self.state))

    def draw(self, target, size, now: float, only_if_changed: bool = False) -> bool:
        """Draw one display frame; with only_if_changed, skip it (and return False) when it would show exactly
        what the last one showed."""
        view = self.view()
        if self.hud_on and now - self._hud_t >= 0.25:       # text changes four times a second, not every frame
            backend = self.worker.session.backend
            slow = []
            if not self.paused and self._rate_t0 is not None and 0 < self.tick_rate < 0.85 * self.cfg.tick_hz:
                slow = [f"generator behind: {self.tick_rate:.0f} of {self.cfg.tick_hz:g} ticks/s; each tick "
                        f"carries the motion of those it missed"]
            self._hud = hud_lines(backend.name, self.fps, self.tick_rate, self.step_ms, view,
                                  int(self.stats.get("keyframes", 0)),
                                  slow + self.messages, self.mapper.b)
            self._hud_t = now
        hud = self._hud if self.hud_on else None
        caption = self.replay.caption if self.replay is not None and not self.visitor else ""
        panel = overlay = None
        extra = (self.stereo, self.moving, caption)
        if self.compare is not None and self.display.frame is not None:
            from worldloop.worldgen.procedural.render import make_current
            panel, p = self.compare.update(self.display.frame)
            make_current(self.display.ctx)          # the truth's renderer has its own context
            if hud is not None:
                hud = [*hud, f"model | truth | difference: PSNR {p:5.1f} dB"]
        if self.show_memory:
            st = self.stats                         # as the worker published it with the frame
            overlay = memory_map(st, view)
            extra = (*extra, st.get("keyframes"), tuple(st.get("in_use", [])))
        if not self.display.changed(view, size, hud, extra) and only_if_changed:
            return False
        self.display.draw(view, target, size, hud, self.stereo, self.moving, caption, panel, overlay)
        return True


class Game:
    """The windowed game: initialise, then update and draw every refresh, then shut down."""

    def __init__(self, make_session, bindings: Bindings, options: PlayOptions, replay_actions=None, captions=None):
        self.make_session, self.bindings, self.opts = make_session, bindings, options
        self.replay = ScriptedInput(replay_actions, captions) if replay_actions is not None else None
        self.running = True

    def _open_window(self):
        import moderngl
        import pygame
        pygame.display.init()        # not pygame.init(): no audio (its ALSA errors on machines without sound)
        pygame.font.init()
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
        # -- initialise --------------------------------------------------------------------------------------
        self._open_window()
        worker = GeneratorWorker(self.make_session)
        worker.start()
        worker.ready.wait()
        if worker.error is not None:
            pygame.quit()
            raise worker.error
        cfg = worker.session.config
        state = InputState()
        source = PynputInput(self.bindings, state) if self.opts.input_source == "pynput" else None
        pg_input = PygameInput(self.bindings, state)
        comparison = None
        if self.opts.compare:
            from worldloop.worldgen.procedural.render import make_current
            comparison = Comparison(worker.session.spec, cfg)
            make_current(self.ctx)              # its renderer made its own context current
        core = LoopCore(worker, Display(self.ctx, cfg), ActionMapper(self.bindings, cfg.tick_hz, cfg.action_max),
                        state, FixedStep(cfg.tick_hz), self.opts.save_dir, self.replay, self.opts.show_hud,
                        self.opts.stereo, self.opts.kiosk_idle_s,
                        comparison, self.opts.memory_map)
        clock = RealClock()
        for sig in (signal.SIGINT, signal.SIGTERM):      # end the loop: the shutdown below closes the recording
            signal.signal(sig, lambda *_: setattr(self, "running", False))
        last = clock.now()
        while self.running:
            # -- update --------------------------------------------------------------------------------------
            now = clock.now()
            frame_s, last = now - last, now
            for ev in pygame.event.get():
                if ev.type == pygame.VIDEORESIZE:
                    self.size = (ev.w, ev.h)
                elif ev.type in (pygame.VIDEOEXPOSE, pygame.WINDOWEXPOSED):
                    core.display.invalidate()
                elif not pg_input.handle(ev):
                    self.running = False
            for cmd in core.update(frame_s, now):
                if cmd == "quit":
                    self.running = False
                elif cmd == "screenshot":
                    core.messages.append(self._screenshot())
            # -- draw ----------------------------------------------------------------------------------------
            if core.draw(self.screen, self.size, now, only_if_changed=True):
                pygame.display.flip()
            if self.replay is not None and self.replay.done and worker.pending() == 0 \
                    and self.opts.kiosk_idle_s is None:
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
        return {"ticks": worker.session.tick, "ticks_sent": core.ticks_sent, "pose": list(core.sent.as_array())}

    def _screenshot(self) -> str:
        from PIL import Image
        from .display import read_framebuffer
        out = Path(self.opts.screenshot_dir or default_dir("screenshots"))
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

