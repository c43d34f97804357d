"""Scene authoring: new -> show -> validate, refusals, previews, capture, the editor's action API."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from worldloop.runtime.editor import SceneEditor
from worldloop.worldgen.procedural.authoring import new_scene, parse_set, save_scene
from worldloop.worldgen.procedural.spec import SpecError, load_spec


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "worldloop", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_new_show_validate_round_trip(tmp_path):
    out = tmp_path / "valley.toml"
    cli("scene", "new", "--biome", "forest", "--seed", "42", "--set", "terrain.amplitude_m=25",
        "--set", "time_of_day_h=17.5", "--set", 'sky.zenith=[0.2, 0.3, 0.6]', "--out", str(out))
    spec = load_spec(out)
    assert spec.biome == "forest" and spec.seed == 42 and spec.terrain.amplitude_m == 25.0
    assert spec.time_of_day_h == 17.5 and spec.sky.zenith == (0.2, 0.3, 0.6) and spec.name == "valley"
    shown = cli("scene", "show", str(out)).stdout
    assert "terrain.amplitude_m" in shown and "25" in shown and "forest" in shown
    assert "valid" in cli("scene", "validate", str(out)).stdout


@pytest.mark.parametrize("sets, words", [
    (["terrain.amplitude_m=500"], ["terrain.amplitude_m", "out of range"]),
    (["terrain.wobble=3"], ["terrain.wobble"]),
    (["noequals"], ["key=value"]),
    (["time_of_day_h=noon"], ["time_of_day_h", "number"]),
])
def test_bad_parameters_are_refused(sets, words):
    with pytest.raises(SpecError) as err:
        new_scene("meadow", 1, sets)
    for w in words:
        assert w in str(err.value)


def test_cli_refusal_is_one_line(tmp_path):
    proc = cli("scene", "new", "--biome", "snow", "--seed", "1", "--set", "fog.density=5", "--out",
               str(tmp_path / "x.toml"), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "fog.density" in proc.stderr


def test_parse_set_builds_tables():
    assert parse_set(["a.b=1", "c=true", "d=snow"]) == {"a": {"b": 1}, "c": True, "d": "snow"}


def test_previews_are_neither_blank_nor_alike(tmp_path):
    pics = []
    for name in ("default", "desert", "snow"):
        out = tmp_path / f"{name}.png"
        cli("scene", "preview", name, "--out", str(out), "--res", "96")
        img = np.asarray(Image.open(out).convert("RGB")).astype(float)
        assert img.std() > 20
        pics.append(img)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(pics[i] - pics[j]).mean() > 10


def test_list_shows_bundled_and_user_scenes(tmp_path):
    import os
    user = tmp_path / "mine"
    user.mkdir()
    save_scene(new_scene("coast", 3, [], "harbour"), user / "harbour.toml")
    proc = subprocess.run([sys.executable, "-m", "worldloop", "scene", "list"], capture_output=True, text=True,
                          env=dict(os.environ, WORLDLOOP_SCENES=str(user)), timeout=120)
    assert "bundled  default" in proc.stdout and "user     harbour" in proc.stdout


def test_capture_turns_a_save_into_a_scene(tmp_path):
    from worldloop.runtime.session import Session
    from worldloop.worldgen.procedural.spec import biome_default
    s = Session("oracle", None, biome_default("ruins", seed=4))
    for _ in range(40):
        s.step(np.array([0.1, 0.0, 0.0, 0.02, 0.0]))
    save = s.save(tmp_path / "found.wlsave")
    out = tmp_path / "found.toml"
    cli("scene", "capture", str(save), "--out", str(out))
    spec = load_spec(out)
    assert spec.biome == "ruins" and spec.seed == 4
    assert spec.spawn.x == pytest.approx(s.frame.pose.x) and spec.spawn.z == pytest.approx(s.frame.pose.z)
    assert np.radians(spec.spawn.yaw_deg) == pytest.approx(s.frame.pose.yaw, abs=1e-9)


def test_editor_action_api(gl_ctx, tmp_path):
    ed = SceneEditor(load_spec("scenes/meadow.toml"), res=96, ctx=gl_ctx)
    before = ed.frame().rgb.astype(float)
    ed.fly([0.5, 0.0, 2.0, 0.3, -0.2])                 # fly up and turn
    moved = ed.frame().rgb.astype(float)
    assert np.abs(moved - before).mean() > 5
    amp = ed.value("terrain.amplitude_m")
    assert ed.adjust("terrain.amplitude_m", +1) == pytest.approx(amp * 1.2)
    taller = ed.frame().rgb.astype(float)
    assert np.abs(taller - moved).mean() > 1              # the change shows at once
    assert ed.adjust("time_of_day_h", -1) == pytest.approx(ed.spec.time_of_day_h)
    dens = ed.value("density")
    ed.adjust("density", -1)
    assert ed.value("density") < dens
    ed.set_spawn()
    path = ed.save(tmp_path / "edited.toml")
    spec = load_spec(path)
    assert spec.terrain.amplitude_m == pytest.approx(amp * 1.2)
    assert spec.spawn.x == pytest.approx(ed.pose.x) and spec.spawn.z == pytest.approx(ed.pose.z)


def test_raised_hills_never_bury_the_editor_camera(gl_ctx):
    ed = SceneEditor(load_spec("scenes/meadow.toml"), res=64, ctx=gl_ctx)
    world_y = lambda: float(ed.renderer.world.height(np.array([ed.pose.x]), np.array([ed.pose.z]))[0])  # noqa: E731
    for _ in range(8):
        ed.adjust("terrain.amplitude_m", +1)
        assert ed.pose.y >= world_y() + 0.3
    for _ in range(20):
        ed.fly([0.0, 0.0, -2.0, 0.0, 0.0])                  # straight down into the ground
    assert ed.pose.y >= world_y() + 0.29


def test_a_bundled_scene_is_edited_into_a_user_copy(tmp_path, monkeypatch):
    from worldloop.runtime.editor import default_out
    monkeypatch.setenv("WORLDLOOP_SCENES", str(tmp_path / "mine"))
    assert default_out("scenes/meadow.toml") == tmp_path / "mine" / "meadow.toml"
    own = tmp_path / "own.toml"
    own.write_text("seed = 1\n")
    assert default_out(own) == own.resolve()


def test_floats_are_saved_without_binary_tails(tmp_path):
    import dataclasses
    from worldloop.worldgen.procedural.authoring import save_scene
    spec = load_spec("scenes/meadow.toml")
    spec = dataclasses.replace(spec, spawn=dataclasses.replace(spec.spawn, x=0.1 + 0.2, z=51.839999999999996))
    text = save_scene(spec, tmp_path / "s.toml").read_text()
    assert "x = 0.3\n" in text and "z = 51.84\n" in text
