"""Evaluation: the standard suite, reports with baselines, memory-driven consistency, NaN detection."""
import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from worldloop.worldgen.model.checkpoint import save_checkpoint
from worldloop.worldgen.model.evaluate import SUITE, build_standard_suite, suite_spec
from worldloop.worldgen.model.network import RefineNet
from worldloop.worldgen.procedural.dataset import DatasetConfig

from helpers import SMALL


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    build_standard_suite(out)
    return out


def test_suite_is_deterministic_and_held_out(suite, tmp_path):
    again = build_standard_suite(tmp_path)
    assert [p.read_text() for p in again] == [(suite / p.name).read_text() for p in again]
    cats = {p.name.split("_")[1] for p in again}
    assert cats == {"straight", "turn", "spin", "loop16", "loop64", "loop256", "wander"}
    train_seeds = {DatasetConfig(base_seed=0).scene_spec(i).seed for i in range(64)}
    val_seeds = {DatasetConfig(base_seed=1_000_003).scene_spec(i).seed for i in range(64)}
    suite_seeds = {suite_spec(b).seed for _, b in SUITE}
    assert not suite_seeds & (train_seeds | val_seeds)
    lengths = {p.name.split("_")[1]: len(p.read_text().splitlines()) - 1 for p in again}
    assert lengths["wander"] == 1024 and lengths["loop16"] >= 16 and lengths["straight"] == 64


def checkpoint(tmp_path, nan=False):
    cfg = dataclasses.replace(SMALL, memory_size=256)     # room for a whole spin's keyframes
    torch.manual_seed(0)
    net = RefineNet(cfg)
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    if nan:
        tensors["head.bias"] = np.full_like(tensors["head.bias"], np.nan)
    return save_checkpoint(tmp_path / "ck", tensors, cfg, {})


def run_eval(*args):
    return subprocess.run([sys.executable, "-m", "worldloop", "eval", *args], capture_output=True, text=True,
                          timeout=600)


def test_report_has_baselines_and_loops(suite, tmp_path):
    paths = tmp_path / "paths"
    paths.mkdir()
    for name in ("00_straight", "04_spin", "06_loop16"):
        shutil.copy(next(suite.glob(f"{name}_*.ndjson")), paths)
    ck = checkpoint(tmp_path)
    proc = run_eval("--checkpoint", str(ck), "--paths", str(paths), "--out", str(tmp_path / "r.json"),
                    "--plot", str(tmp_path / "r.png"), "--strip", str(tmp_path / "s.png"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    steps = report["summary"]["steps"]
    assert set(steps) == {"1", "4", "16", "64"}
    for who in ("model", "copy", "warpchain"):
        assert 10 < steps["16"][f"{who}_psnr"] < 100
    assert 0 < steps["16"]["model_ssim"] <= 1
    # the untrained net adds nothing, so the model's frame is its warp: better than copying once things move
    assert steps["16"]["model_psnr"] > steps["16"]["copy_psnr"]
    loops = report["summary"]["loops"]
    assert loops["spin"]["self_consistency"] > 40          # memory brings the first view back
    assert "psnr_t1 >= 30" in report["targets"]
    assert (tmp_path / "r.png").stat().st_size > 1000 and (tmp_path / "s.png").stat().st_size > 1000
    assert "target" in proc.stdout


def test_nan_weights_are_refused_before_the_run(suite, tmp_path):
    ck = checkpoint(tmp_path, nan=True)
    proc = run_eval("--checkpoint", str(ck), "--paths", str(next(suite.glob("06_loop16_*.ndjson"))), "--quiet")
    assert proc.returncode == 2 and "holds NaN" in proc.stderr and "Traceback" not in proc.stderr
