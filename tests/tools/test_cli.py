"""The worldloop command: real subprocesses, real files, real ffmpeg."""
import json
import subprocess
import sys

import numpy as np
from PIL import Image


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "worldloop", *args], capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"worldloop {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_lists_the_commands():
    out = run("--help").stdout
    for cmd in ("flythrough", "data", "bench", "gallery"):
        assert cmd in out


def test_flythrough_writes_a_real_mp4_and_a_contact_sheet(tmp_path):
    run("flythrough", "--seconds", "2", "--res", "64", "--out", str(tmp_path))
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames,width,height,codec_name", "-of", "json",
                            str(tmp_path / "flythrough.mp4")], capture_output=True, text=True, check=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264" and stream["width"] == 64
    assert int(stream["nb_read_frames"]) == 61
    sheet = np.asarray(Image.open(tmp_path / "flythrough.png"))
    assert sheet.std() > 10


def test_bad_scene_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('seed = 1\n[terrain]\namplitude_m = -3\n')
    proc = run("flythrough", str(bad), "--out", str(tmp_path), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "terrain.amplitude_m" in lines[0]
    assert "Traceback" not in proc.stderr
    proc = run("flythrough", "no-such-scene", check=False)
    assert proc.returncode == 2 and "bundled" in proc.stderr


def test_data_gen_then_check(tmp_path):
    out = tmp_path / "ds"
    proc = run("data", "gen", "--scenes", "2", "--frames-per-scene", "30", "--res", "64", "--out", str(out),
               "--workers", "2")
    assert "2/2 scenes, 60 frames" in proc.stdout
    assert "frame/s" in proc.stderr            # the progress bar shows the rate
    assert run("data", "check", str(out)).returncode == 0
    (out / "scene_00001.npz").write_bytes(b"truncated")
    proc = run("data", "check", str(out), check=False)
    assert proc.returncode == 1 and "scene_00001.npz" in proc.stdout


def test_bench_render_prints_rates():
    out = run("bench", "render", "--sizes", "64", "--frames", "64").stdout
    row = [ln for ln in out.splitlines() if ln.strip().startswith("64x64")][0]
    assert float(row.split()[-1]) > 0


def test_nonsense_options_are_refused_before_any_work(tmp_path):
    out = tmp_path / "out"
    cases = [(["play", "--headless", "--ticks", "-5"], "--ticks"),
             (["play", "--headless", "--ticks", "0", "--video", str(out / "v.mp4")], "--ticks"),
             (["data", "gen", "--scenes", "0", "--frames-per-scene", "3", "--out", str(out)], "--scenes"),
             (["data", "gen", "--scenes", "1", "--frames-per-scene", "-4", "--out", str(out)], "--frames-per-scene"),
             (["data", "gen", "--scenes", "1", "--frames-per-scene", "4", "--workers", "0", "--out", str(out)],
              "--workers"),
             (["play", "--checkpoint", "model.onnx"], "model.onnx"),
             (["flythrough", "--seconds", "nan", "--out", str(out)], "--seconds"),
             (["bench", "step", "--threads", "0"], "--threads")]
    for args, named in cases:
        proc = run(*args, check=False)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert not out.exists()
    proc = run("engines", "list", "--engine-dir", __file__, check=False)
    assert proc.returncode == 2 and "must be a folder" in proc.stderr


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    proc = subprocess.run(f"{sys.executable} -m worldloop scene list | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""
