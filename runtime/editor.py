"""`worldloop scene edit`: fly through the ground-truth world, change the main parameters and see the change at
once, set the spawn where the camera stands, save.

`SceneEditor` is the editor without a window: its action API (fly, adjust, set_spawn, save, frame) is what
the window's keys call and what the tests drive headless.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from worldloop.worldgen.poses import Action, Frame, Intrinsics, Pose, apply_action
from worldloop.worldgen.procedural.authoring import save_scene
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import RANGES, SceneSpec, load_spec

# parameter -> (step per key press, multiplicative?) ; the keys 1..0 lower and raise them in pairs
PARAMS = {
    "terrain.noise_scale_m": (1.15, True),
    "terrain.amplitude_m": (1.2, True),
    "density": (1.25, True),             # every object kind at once
    "time_of_day_h": (0.5, False),
    "fog.density": (1.3, True),
}


CLEARANCE_M = 0.3   # the free camera never goes lower than this above the ground...
EYE_M = 1.6         # ...and a change of the terrain that buries it lifts it to eye height


class SceneEditor:
    def __init__(self, spec: SceneSpec, res: int = 256, ctx=None):
        self.spec, self.ctx, self.intr = spec, ctx, Intrinsics(res, res)
        self.renderer = GroundTruthRenderer(spec, ctx=ctx)
        self.pose = self.renderer.world.spawn_pose()
        self.dirty = False

    def _rebuild(self, spec: SceneSpec) -> None:
        self.renderer.release()
        self.spec = spec
        self.renderer = GroundTruthRenderer(spec, ctx=self.ctx)
        self.dirty = True
        self._above_ground(lift_to=EYE_M)          # raised hills must not bury the camera

    def _above_ground(self, lift_to: float = CLEARANCE_M) -> None:
        ground = float(self.renderer.world.height(np.array([self.pose.x]), np.array([self.pose.z]))[0])
        if self.pose.y < ground + CLEARANCE_M:
            self.pose = dataclasses.replace(self.pose, y=ground + lift_to)

    def fly(self, action) -> Pose:
        """Move the free camera (the editor flies; it stops just above the ground)."""
        self.pose = apply_action(self.pose, Action.from_array(np.asarray(action, np.float64)))
        self._above_ground()
        return self.pose

    def value(self, param: str) -> float:
        if param == "density":
            return self.spec.density.tree
        sect, _, key = param.rpartition(".")
        return getattr(getattr(self.spec, sect), key) if sect else getattr(self.spec, key)

    def adjust(self, param: str, direction: int) -> float:
        """Lower (-1) or raise (+1) a main parameter by one step, within its allowed range; returns the value."""
        step, mult = PARAMS[param]
        if param == "density":
            d = self.spec.density
            f = step if direction > 0 else 1 / step
            new = {k: min(200.0, v * f) for k, v in dataclasses.asdict(d).items()}
            self._rebuild(dataclasses.replace(self.spec, density=dataclasses.replace(d, **new)))
            return self.value(param)
        lo, hi = RANGES[param]
        old = self.value(param)
        new = old * (step if direction > 0 else 1 / step) if mult else old + direction * step
        if param == "time_of_day_h":
            new %= 24.0
        new = float(min(max(new, lo), hi))
        sect, _, key = param.rpartition(".")
        if sect:
            section = dataclasses.replace(getattr(self.spec, sect), **{key: new})
            spec = dataclasses.replace(self.spec, **{sect: section})
        else:
            spec = dataclasses.replace(self.spec, **{key: new})
        self._rebuild(spec)
        return new

    def set_spawn(self) -> SceneSpec:
        """The spawn becomes where the camera stands, looking where it looks."""
        p = self.pose
        spawn = dataclasses.replace(self.spec.spawn, x=float(p.x), z=float(p.z),
                                    yaw_deg=float(math.degrees(math.remainder(p.yaw, 2 * math.pi))),
                                    pitch_deg=float(max(-80.0, min(80.0, math.degrees(p.pitch)))))
        self.spec = dataclasses.replace(self.spec, spawn=spawn)
        self.renderer.world.spec = self.spec      # same world; only where it starts changed
        self.dirty = True
        return self.spec

    def save(self, path) -> Path:
        self.dirty = False
        return save_scene(self.spec, path)

    def frame(self) -> Frame:
        return self.renderer.render(self.pose, self.intr)

    def help_lines(self) -> list[str]:
        vals = "  ".join(f"{k} {self.value(k):g}" for k in PARAMS)
        return [f"{self.spec.name} ({self.spec.biome})   {vals}",
                "WASD/mouse fly  Space/C up/down  1/2 scale  3/4 height  5/6 density  7/8 time  9/0 fog",
                "Enter: spawn here   F2: save" + ("   (unsaved changes)" if self.dirty else "")]


KEYS = {"1": ("terrain.noise_scale_m", -1), "2": ("terrain.noise_scale_m", 1), "3": ("terrain.amplitude_m", -1),
        "4": ("terrain.amplitude_m", 1), "5": ("density", -1), "6": ("density", 1), "7": ("time_of_day_h", -1),
        "8": ("time_of_day_h", 1), "9": ("fog.density", -1), "0": ("fog.density", 1)}


def default_out(scene_path) -> Path:
    """Where F2 saves without --out: the scene file itself, unless it is a bundled scene (those are part of
    worldloop): then a copy of the same name in the user scene folder."""
    from worldloop.scenes import bundled
    from worldloop.worldgen.procedural.authoring import user_scene_dir
    p = Path(scene_path).resolve()
    if p in {b.resolve() for b in bundled().values()}:
        return user_scene_dir() / p.name
    return p


def run_editor(scene_path, out=None, window=(960, 720)) -> None:
    """The editor window: the keys of KEYS adjust parameters, Enter sets the spawn, F2 saves."""
    import moderngl
    import pygame
    from worldloop.worldgen.model.config import ModelConfig
    from .app import has_display
    from .bindings import Bindings
    from .display import Display
    from .input import ActionMapper, InputState, PygameInput
    if not has_display():
        raise ValueError("the scene editor needs a display (DISPLAY is not set)")
    out = Path(out) if out else default_out(scene_path)
    print(f"F2 saves to {out}")
    pygame.display.init()        # not pygame.init(): no audio (its ALSA errors on machines without sound)
    pygame.font.init()
    pygame.display.set_mode(window, pygame.OPENGL | pygame.DOUBLEBUF | pygame.RESIZABLE)
    pygame.display.set_caption(f"worldloop scene editor: {Path(scene_path).name}")
    ctx = moderngl.create_context()
    screen = ctx.detect_framebuffer()
    editor = SceneEditor(load_spec(scene_path), ctx=ctx)
    cfg = ModelConfig(res=editor.intr.width, action_max=(0.5, 0.5, 0.5, 0.08, 0.05))
    display = Display(ctx, cfg, internal_scale=1)
    bindings = Bindings(walk_mps=6.0, run_mps=15.0, fly_mps=6.0)
    state = InputState()
    pg_input = PygameInput(bindings, state)
    mapper = ActionMapper(bindings, 30.0, cfg.action_max)
    clock, size, running = pygame.time.Clock(), window, True
    while running:
        for ev in pygame.event.get():
            if ev.type == pygame.VIDEORESIZE:
                size = (ev.w, ev.h)
            elif ev.type == pygame.KEYDOWN and pygame.key.name(ev.key) in KEYS:
                editor.adjust(*KEYS[pygame.key.name(ev.key)])
            elif ev.type == pygame.KEYDOWN and ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                editor.set_spawn()
            elif ev.type == pygame.KEYDOWN and ev.key == pygame.K_F2:
                editor.save(out)
            elif not pg_input.handle(ev):
                running = False
        state.take_events()
        editor.fly(mapper.tick_action(state))
        ctx.screen.use()
        display.show(editor.frame())
        display.draw(editor.pose, screen, size, editor.help_lines())
        pygame.display.flip()
        clock.tick(30)
    pygame.quit()
