"""A real pygame window under Xvfb, driven by xdotool: keys and mouse move the camera as they should."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None
                                or shutil.which("xwininfo") is None,
                                reason="needs Xvfb, xdotool and xwininfo (tools/setup.sh installs them)")


@pytest.fixture(scope="module")
def xvfb():
    display = ":77"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield display
    proc.terminate()
    proc.wait(timeout=10)


def xdo(display, *args, check=True):
    subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display), check=check, timeout=30,
                   capture_output=True)


def start_game(display, tmp_path, *extra):
    env = dict(os.environ, DISPLAY=display, WORLDLOOP_DATA=str(tmp_path))     # saves and screenshots go there
    env.pop("SDL_VIDEODRIVER", None)
    proc = subprocess.Popen([sys.executable, "-m", "worldloop", "play", "--backend", "oracle", "--window", "480x360",
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline:
        tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
        ids = [line.split()[0] for line in tree.splitlines() if '"worldloop"' in line]
        if ids:
            return proc, str(int(ids[0], 16))
        if proc.poll() is not None:
            raise AssertionError(f"the game exited: {proc.stderr.read()}")
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("no worldloop window appeared")


def stop_game(proc) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_keys_and_mouse_move_the_camera(xvfb, tmp_path):
    proc, win = start_game(xvfb, tmp_path)
    time.sleep(2.0)                                   # the first frames
    xdo(xvfb, "windowfocus", win, check=False)     # no window manager: focus directly
    xdo(xvfb, "mousemove", "--window", win, "240", "180")
    xdo(xvfb, "click", "1")                           # grabs the pointer
    time.sleep(0.3)
    xdo(xvfb, "keydown", "w")
    time.sleep(1.5)
    xdo(xvfb, "keyup", "w")
    time.sleep(0.5)
    for _ in range(10):                               # mouse to the right: turn right
        xdo(xvfb, "mousemove_relative", "--", "20", "0")
        time.sleep(0.05)
    time.sleep(1.0)
    shot = tmp_path / "shot.png"
    subprocess.run(["import", "-window", "root", str(shot)], env=dict(os.environ, DISPLAY=xvfb), check=True,
                   timeout=30)
    result = stop_game(proc)
    x, y, z, yaw, pitch = result["pose"]
    assert result["ticks"] > 30
    assert z < -1.0 and abs(x) < 0.5                  # walked forward along -z from the spawn at yaw 0
    assert yaw < -0.1                                 # turned right
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.std() > 20                             # the window shows a world, not a blank


def test_no_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    proc = subprocess.run([sys.executable, "-m", "worldloop", "play"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--headless" in proc.stderr and "Traceback" not in proc.stderr



def test_game_keys_screenshot_save_pause_step_reset_load(xvfb, tmp_path):
    """F12 writes a PNG of the window and F5 a save; while P pauses, holding W moves nothing and . steps one
    tick; Backspace goes back to the spawn; F9 loads the save from disk. Each state is read from a save."""
    from worldloop.worldgen.saves import read_save
    proc, win = start_game(xvfb, tmp_path)
    save = tmp_path / "saves" / "quicksave.wlsave"

    def key_and_save(*keys, wait=0.6):
        for k in keys:
            xdo(xvfb, "key", k)
            time.sleep(0.3)
        xdo(xvfb, "key", "F5")
        time.sleep(wait)
        meta, _ = read_save(save)
        return meta

    time.sleep(2.0)
    xdo(xvfb, "windowfocus", win, check=False)
    xdo(xvfb, "keydown", "w")
    time.sleep(1.0)
    xdo(xvfb, "keyup", "w")
    a = key_and_save("p", "F12", wait=1.0)                # paused, a screenshot, saved
    kept = tmp_path / "a.wlsave"
    shutil.copy(save, kept)
    shots = list((tmp_path / "screenshots").glob("*.png"))
    assert len(shots) == 1
    img = np.asarray(Image.open(shots[0]).convert("RGB"))
    assert img.shape == (360, 480, 3) and img.std() > 20
    assert a["pose"][2] < -0.5                            # walked forward along -z
    xdo(xvfb, "keydown", "w")
    time.sleep(1.0)                                       # paused: holding W sends no tick
    b = key_and_save("period")                            # one tick, with W held
    xdo(xvfb, "keyup", "w")
    assert b["tick"] == a["tick"] + 1
    assert -0.2 < b["pose"][2] - a["pose"][2] < 0         # one tick's walk forward
    c = key_and_save("BackSpace", wait=1.0)
    assert c["tick"] == 0 and abs(c["pose"][0]) < 1e-6 and abs(c["pose"][2]) < 1e-6
    shutil.copy(kept, save)                                   # F9 loads whatever the quicksave file holds now
    xdo(xvfb, "key", "F9")
    time.sleep(1.5)
    result = stop_game(proc)                              # still paused: the pose is the loaded one
    assert result["pose"] == pytest.approx(a["pose"], abs=1e-9)


def test_ctrl_c_in_the_window_keeps_the_recording(xvfb, tmp_path):
    import signal
    from worldloop.worldgen.actionlog import read_action_log
    import imageio_ffmpeg
    proc, _ = start_game(xvfb, tmp_path, "--record", str(tmp_path / "rec"))
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err and "ALSA" not in err, err
    log = read_action_log(tmp_path / "rec.ndjson")
    assert len(log.actions) > 10
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "rec.mp4"))[0] == len(log.actions)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_stereo_in_the_window_shows_two_eyes_and_walks(xvfb, tmp_path):
    """--stereo sbs in a real window: two views side by side, alike but shifted by the eyes' parallax, with the
    vignette while walking; W still walks."""
    env = dict(os.environ, DISPLAY=xvfb, WORLDLOOP_DATA=str(tmp_path))
    proc, win = start_game(xvfb, tmp_path, "--stereo", "sbs", "--vignette", "0.8", "--window", "640x320")
    time.sleep(2.0)
    xdo(xvfb, "windowfocus", win, check=False)
    xdo(xvfb, "keydown", "w")
    time.sleep(1.5)
    shot = tmp_path / "walking.png"
    subprocess.run(["import", "-window", win, str(shot)], env=env, check=True, timeout=30)
    xdo(xvfb, "keyup", "w")
    time.sleep(1.0)
    still = tmp_path / "still.png"
    subprocess.run(["import", "-window", win, str(still)], env=env, check=True, timeout=30)
    result = stop_game(proc)
    assert result["pose"][2] < -0.5                               # walked forward
    walking = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    img = np.asarray(Image.open(still).convert("RGB")).astype(float)
    assert img.shape == (320, 640, 3)
    left, right = img[:, :320], img[:, 320:]
    assert left.std() > 20 and right.std() > 20
    assert np.abs(left - right).mean() < 0.25 * np.abs(left - left.mean()).mean() + 8   # the same scene
    assert not np.array_equal(left, right)                        # from two places
    corner = (slice(130, 190), slice(0, 20))                      # the left eye's left edge, mid-height
    assert walking[corner].mean() < 0.7 * img[corner].mean()      # darker while walking (the vignette)
