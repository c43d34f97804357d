"""The explore suite: its paths, never-seen masks, and a whole run on short paths with a tiny model."""
import dataclasses
import json
import math

import pytest
import torch

from worldloop.worldgen.actionlog import read_action_log
from worldloop.worldgen.model import explore
from worldloop.worldgen.model.checkpoint import save_checkpoint
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.evaluate import SUITE, path_poses, suite_spec
from worldloop.worldgen.model.geometry import Camera
from worldloop.worldgen.model.network import RefineNet
from worldloop.worldgen.poses import Pose
from worldloop.worldgen.procedural.dataset import DatasetConfig
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import BIOMES, biome_default

from helpers import SMALL


@pytest.fixture(scope="module")
def full_suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore")
    return explore.build_explore_suite(out)


def _travel(log):
    poses, _ = path_poses(ModelConfig(), log)
    dist = sum(math.hypot(b.x - a.x, b.z - a.z) for a, b in zip(poses, poses[1:]))
    turn = sum(abs(math.remainder(b.yaw - a.yaw, 2 * math.pi)) for a, b in zip(poses, poses[1:]))
    return len(poses) - 1, dist, math.degrees(turn)


def test_suite_has_every_kind_in_every_biome_at_the_lengths_asked(full_suite):
    logs = [read_action_log(p) for p in full_suite]
    assert len(logs) >= 28
    kinds = {}
    for log in logs:
        kinds.setdefault(log.meta["category"], set()).add(log.scene["biome"])
    assert all(kinds[k] == set(BIOMES) for k in ("trek", "aboutface", "spin2", "zigzag"))
    assert len(kinds["wander"]) >= 2
    for log in logs:
        ticks, dist, turned = _travel(log)
        kind = log.meta["category"]
        if kind == "trek":
            assert dist >= 100, log.scene["biome"]
        elif kind == "aboutface":
            assert ticks >= 42 * 30 and turned >= 350
        elif kind == "spin2":
            assert turned >= 719 and dist == 0
        elif kind == "zigzag":
            assert ticks >= 40 * 30 and turned >= 10 * 55
        else:
            assert ticks >= 120 * 30


def test_suite_is_deterministic_and_on_held_out_seeds(full_suite, tmp_path):
    again = explore.build_explore_suite(tmp_path, limit=3)
    assert [p.read_text() for p in again] == [p.read_text() for p in full_suite[:3]]
    seeds = {read_action_log(p).scene["seed"] for p in full_suite}
    assert len(seeds) == len(full_suite)
    train = {DatasetConfig(base_seed=0).scene_spec(i).seed for i in range(64)}
    val = {DatasetConfig(base_seed=1_000_003).scene_spec(i).seed for i in range(64)}
    standard = {suite_spec(b).seed for _, b in SUITE}
    from worldloop.worldgen.procedural.spec import load_spec
    from pathlib import Path
    bundled = {load_spec(p).seed for p in Path("scenes").glob("*.toml")}
    assert not seeds & (train | val | standard | bundled)


def test_never_seen_is_empty_at_the_same_pose_and_large_behind(gl_ctx):
    cfg = ModelConfig(res=64)
    cam = Camera(cfg.intrinsics)
    r = GroundTruthRenderer(biome_default("meadow", seed=3), ctx=gl_ctx)
    a = Pose(0.0, float(r.world.height(0.0, 0.0)) + 1.7, 0.0, 0.0, -0.2)
    behind = Pose(a.x, a.y, a.z, math.pi, -0.2)
    rgb, depth = r.render_batch([a, behind], cfg.intrinsics)
    r.release()
    sky = 0.99 * r.config.far_m
    assert not explore.never_seen(cam, depth[0], a, [(depth[0], a)], sky).any()
    mask = explore.never_seen(cam, depth[1], behind, [(depth[0], a)], sky)
    assert mask.mean() > 0.5 * (depth[1] < sky).mean()
    assert not mask[depth[1] >= sky].any()                   # the sky has no place to be new


def test_never_seen_counts_places_shown_only_from_afar(gl_ctx):
    cfg = ModelConfig(res=64)
    cam = Camera(cfg.intrinsics)
    spec = biome_default("meadow", seed=3)
    spec = dataclasses.replace(spec, terrain=dataclasses.replace(spec.terrain, amplitude_m=0.0, water_level_m=-5.0))
    r = GroundTruthRenderer(spec, ctx=gl_ctx)
    a, ahead = Pose(0.0, 1.7, 0.0, 0.0, -0.3), Pose(0.0, 1.7, -30.0, 0.0, -0.3)     # 30 m on, looking down
    _, depth = r.render_batch([a, ahead], cfg.intrinsics)
    r.release()
    sky = 0.99 * r.config.far_m
    mask = explore.never_seen(cam, depth[1], ahead, [(depth[0], a)], sky)
    near = depth[1] < 8.0                                     # seen from a only from over 30 m: detail never shown
    assert near.any() and mask[near].mean() > 0.95
    assert explore.never_seen(cam, depth[1], ahead, [(depth[0], a)], sky, max_ratio=1e9)[near].mean() < 0.6


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    cfg = dataclasses.replace(SMALL, memory_size=64)
    torch.manual_seed(0)
    net = RefineNet(cfg)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "ck",
                           {k: v.detach().numpy() for k, v in net.state_dict().items()}, cfg, {})


def test_explore_runs_on_short_paths_and_is_deterministic(tiny_checkpoint, tmp_path):
    kw = dict(short=True, limit=3, sample_every=2, show_progress=False, c2st_steps=(20, 20))
    rep = explore.run_explore(tiny_checkpoint, out_json=tmp_path / "r.json", out_png=tmp_path / "r.png",
                              sheets_dir=tmp_path / "sheets", samples_dir=tmp_path / "samples", **kw)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text
    saved = json.loads(text)
    assert saved["format"] == "worldloop.eval_explore" and saved["version"] == 1
    s = saved["summary"]
    assert s["frames"] > 20 and len(saved["paths"]) == 3
    for key in ("c2st_full", "c2st_quarter", "frechet", "frechet_true_vs_true", "top_octave_ratio",
                "copy_share", "streak_rows_ratio", "c2st_full_true_vs_blurred"):
        assert key in s["whole"]
    assert s["whole"]["frechet"] >= 0 and s["whole"]["top_octave_ratio"] > 0
    assert set(rep["targets"]) >= {"c2st_quarter <= 0.80", "c2st_full <= 0.95", "frechet <= before / 2"}
    assert len(list((tmp_path / "sheets").glob("*.png"))) == 3 and (tmp_path / "r.png").stat().st_size > 5000
    again = explore.run_explore(tiny_checkpoint, **kw)          # generated again: the same figures
    assert again["summary"] == rep["summary"]
    # kept samples are reused, untouched, by a run with the same weights and rules, and give the same figures
    files = sorted((tmp_path / "samples").glob("*.npz"))
    assert len(files) == 3
    stamps = [f.stat().st_mtime_ns for f in files]
    reused = explore.run_explore(tiny_checkpoint, samples_dir=tmp_path / "samples", **kw)
    assert reused["summary"] == rep["summary"] and [f.stat().st_mtime_ns for f in files] == stamps
    files[0].write_bytes(b"not an npz")
    with pytest.raises(explore.EvalError, match=files[0].name):
        explore.run_explore(tiny_checkpoint, samples_dir=tmp_path / "samples", **kw)


def test_report_writes_null_for_figures_without_pixels(tmp_path):
    explore.write_report({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": None}}, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": None, "b": [1.0, None], "c": {"d": None}}


def test_cli_judges_given_paths_with_the_explore_measures(tiny_checkpoint, tmp_path):
    import subprocess
    import sys
    paths = tmp_path / "paths"
    paths.mkdir()
    explore.build_explore_suite(paths, short=True, limit=1)     # too few frames for a C2ST: it says n/a
    proc = subprocess.run([sys.executable, "-m", "worldloop", "eval", "--checkpoint", str(tiny_checkpoint),
                           "--paths", str(paths), "--explore", "--sample-every", "4", "--out",
                           str(tmp_path / "r.json"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "C2ST" in proc.stdout and "target c2st_quarter <= 0.80" in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text())["suite"] is None
