"""The fixed-timestep accumulator and the input-to-action mapping: arithmetic, no sleeps."""

import numpy as np
import pytest

from worldloop.runtime.bindings import Bindings, load_bindings
from worldloop.runtime.clock import FixedStep, ManualClock
from worldloop.runtime.input import ActionMapper, InputState

ACTION_MAX = (0.14, 0.14, 0.2, 0.06, 0.03)


def test_sixty_hz_display_thirty_hz_ticks():
    clock, step = ManualClock(), FixedStep(tick_hz=30.0)
    last, ticks = clock.now(), []
    for _ in range(60):
        clock.advance(1 / 60)
        ticks.append(step.advance(clock.now() - last))
        last = clock.now()
    assert sum(ticks) == 30 and max(ticks) == 1


def test_a_long_frame_is_clamped_and_lag_is_dropped():
    step = FixedStep(tick_hz=30.0, max_frame_s=0.25, max_ticks_per_frame=4)
    assert step.advance(5.0) == 4                  # 5 s of stall does not queue 150 model calls
    assert step.accumulator_s == 0.0
    assert step.advance(1 / 30 + 1e-9) == 1


def test_alpha_tracks_progress_into_the_next_tick():
    step = FixedStep(tick_hz=10.0)
    step.advance(0.05)
    assert step.alpha == pytest.approx(0.5)


def mapper(**kw):
    return ActionMapper(Bindings(**kw), 30.0, ACTION_MAX)


def test_keys_become_metres_per_tick():
    s = InputState()
    s.press("forward")
    a = mapper().tick_action(s)
    assert a[0] == pytest.approx(1.5 / 30) and a[1] == 0 and a[3] == 0
    s.press("run")
    s.press("left")
    a = mapper().tick_action(s)
    assert a[0] == pytest.approx(0.13333, rel=1e-3) and a[1] == pytest.approx(-0.13333, rel=1e-3)
    s.release("run")
    s.release("forward")
    s.release("left")
    assert not mapper().tick_action(s).any()


def test_mouse_right_turns_right_and_big_flicks_carry_over():
    s = InputState()
    m = mapper(mouse_sensitivity=0.002)
    s.move_mouse(10, 0)
    a = m.tick_action(s)
    assert a[3] == pytest.approx(-0.02)            # right is negative yaw
    s.move_mouse(100, -40)                          # 0.2 rad right, 0.08 rad up: more than one tick allows
    total = np.zeros(5)
    for _ in range(5):
        total += m.tick_action(s)
    assert total[3] == pytest.approx(-0.2) and total[4] == pytest.approx(0.08)
    assert abs(s.mouse_dx) < 1e-9 and abs(s.mouse_dy) < 1e-9


def test_actions_never_leave_the_trained_range():
    s = InputState()
    s.move_mouse(5000, 5000)
    s.stick = (1.0, -1.0, 1.0, 1.0)
    a = mapper(walk_mps=50.0).tick_action(s)
    assert (np.abs(a) <= np.array(ACTION_MAX) + 1e-12).all()


def test_gamepad_deadzone():
    s = InputState()
    s.stick = (0.1, -0.1, 0.05, 0.0)
    assert not mapper().tick_action(s).any()
    s.stick = (0.0, -1.0, 0.0, 0.0)                  # left stick forward
    assert mapper().tick_action(s)[0] > 0


def test_bindings_file_overrides_and_refuses_unknowns(tmp_path):
    p = tmp_path / "keys.toml"
    p.write_text('mouse_sensitivity = 0.01\n[keys]\nforward = ["i"]\n')
    b = load_bindings(p)
    assert b.mouse_sensitivity == 0.01 and b.command_of("i") == ["forward"] and b.command_of("w") == []
    p.write_text('[keys]\nteleport = ["t"]\n')
    with pytest.raises(ValueError, match="keys.teleport"):
        load_bindings(p)
    p.write_text('mouse_speed = 2\n')
    with pytest.raises(ValueError, match="mouse_speed"):
        load_bindings(p)


def test_the_hud_key_help_comes_from_the_bindings_in_use(tmp_path):
    from worldloop.runtime.app import hud_lines
    from worldloop.worldgen.poses import Pose
    default = hud_lines("onnx", 60, 30, 15, Pose(0, 0, 0, 0, 0), 3)
    assert "WASD move" in default[2] and "Esc frees" in default[2] and default[3].startswith("F5 save  F9 load")
    p = tmp_path / "keys.toml"
    p.write_text('[keys]\nforward = ["z"]\nleft = ["q"]\nsave = ["f6"]\nscreenshot = []\nrelease_mouse = ["tab"]\n')
    lines = hud_lines("onnx", 60, 30, 15, Pose(0, 0, 0, 0, 0), 3, bindings=load_bindings(p))
    assert "ZQSD move" in lines[2] and "Tab frees" in lines[2]
    assert lines[3].startswith("F6 save") and "screenshot" not in lines[3]
