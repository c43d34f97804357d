"""Ctrl-C, SIGTERM and kill -9 sent to a real worldloop process: what it leaves on disk."""
import os
import signal
import subprocess
import sys
import time

import imageio_ffmpeg
import pytest

from worldloop.worldgen.actionlog import read_action_log


def start(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "worldloop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})


def wait_for_lines(path, n, proc, timeout=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists() and path.read_text().count("\n") > n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"ended early: {proc.communicate()}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{path} did not reach {n} lines")


def temps(folder):
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name]


def frames_in(mp4):
    return imageio_ffmpeg.count_frames_and_secs(str(mp4))[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_recording_stopped_by_a_signal_keeps_every_tick(tmp_path, sig):
    out = tmp_path / "rec"
    proc = start("play", "--headless", "--backend", "oracle", "--ticks", "100000", "--window", "128x128",
                 "--record", str(out), "--video", str(tmp_path / "view.mp4"))
    wait_for_lines(out.with_suffix(".ndjson"), 20, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and f"stopped by {sig.name}" in stderr
    log = read_action_log(out.with_suffix(".ndjson"))
    assert len(log.actions) >= 20
    assert frames_in(out.with_suffix(".mp4")) == len(log.actions)      # the recording, tick for tick
    assert frames_in(tmp_path / "view.mp4") == len(log.actions)        # and what the display showed
    assert temps(tmp_path) == []


def test_a_killed_recording_keeps_its_actions_and_the_next_start_clears_its_temporaries(tmp_path):
    out = tmp_path / "rec"
    proc = start("play", "--headless", "--backend", "oracle", "--ticks", "100000", "--window", "128x128",
                 "--record", str(out))
    wait_for_lines(out.with_suffix(".ndjson"), 20, proc)
    proc.kill()
    proc.wait(timeout=30)
    log = read_action_log(out.with_suffix(".ndjson"))          # every whole line is a tick
    assert len(log.actions) >= 20
    deadline = time.time() + 20                                 # ffmpeg, in its own group, finishes on its own
    while not temps(tmp_path) and time.time() < deadline:
        time.sleep(0.1)
    assert temps(tmp_path), "the killed run left its half-written video"
    proc = start("play", "--headless", "--backend", "oracle", "--ticks", "3", "--window", "128x128",
                 "--record", str(tmp_path / "again"))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert temps(tmp_path) == []


def test_data_gen_stopped_by_ctrl_c_leaves_whole_shards_and_resumes(tmp_path):
    out = tmp_path / "ds"
    args = ("data", "gen", "--scenes", "3", "--frames-per-scene", "400", "--res", "64", "--out", str(out),
            "--workers", "2")
    proc = start(*args)
    time.sleep(8)                    # workers started and rendering (the whole run takes about 20 s)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert temps(out) == []
    proc = start(*args)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    check = subprocess.run([sys.executable, "-m", "worldloop", "data", "check", str(out)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and "OK" in check.stdout


def test_training_stopped_by_sigterm_resumes_from_its_last_checkpoint(tmp_path):
    import json
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "model"))
    from helpers import TINY
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.replace("STEPS", "400"))
    state = tmp_path / "run" / "train_state.json"
    proc = start("train", "--config", str(cfg))
    t0 = time.time()
    while not state.exists() and time.time() - t0 < 120 and proc.poll() is None:
        time.sleep(0.2)
    assert state.exists() and proc.poll() is None, "no checkpoint before the signal"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted (SIGTERM)" in stderr
    assert temps(tmp_path) == []
    done = [r["step"] for r in json.loads(state.read_text())["log"] if "loss" in r]
    assert 4 <= done[-1] < 400
    cfg.write_text(TINY.replace("STEPS", str(done[-1] + 4)))
    proc = start("train", "--config", str(cfg))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    steps = [r["step"] for r in json.loads(state.read_text())["log"] if "loss" in r]
    assert steps == list(range(1, done[-1] + 5))              # went on from the checkpoint, not from 0
