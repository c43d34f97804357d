"""ONNX export and the ONNX Runtime backend: checked graph, sidecar, parity with torch, no torch when playing."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from worldloop.trt_engines.export import ExportError, export_onnx, read_sidecar, sidecar_path
from worldloop.trt_engines.ort import OrtNet, make_session
from worldloop.worldgen.model.checkpoint import save_checkpoint
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.generator import NeuralGenerator, TorchNet, load_torch_net
from worldloop.worldgen.model.metrics import psnr
from worldloop.worldgen.model.network import RefineNet
from worldloop.worldgen.poses import Frame
from worldloop.worldgen.procedural.noise import seed_rng
from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import biome_default
from worldloop.worldgen.procedural.trajectories import random_walk

CFG = ModelConfig(res=64, channels=(16, 32, 32))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    net = RefineNet(CFG)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)      # every layer matters, as in a trained net
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "model", tensors, CFG, {})


@pytest.fixture(scope="module")
def exported(checkpoint):
    return export_onnx(checkpoint)


def test_export_is_checked_and_described(checkpoint, exported):
    import onnx
    onnx.checker.check_model(onnx.load(str(exported)), full_check=True)
    side = json.loads(sidecar_path(exported).read_text())
    assert side["inputs"] == {"inputs": [1, 24, 64, 64], "action": [1, 5]}
    assert side["outputs"] == {"correction": [1, 4, 64, 64]} and side["opset"] == 17
    assert side["checkpoint_weights_sha256"] == json.loads(checkpoint.read_text())["weights_sha256"]
    assert "torch" in side["exporter"]


def test_altered_or_foreign_exports_are_refused(exported, tmp_path):
    with pytest.raises(ExportError, match="other weights"):
        read_sidecar(exported, "0" * 64)
    copy = tmp_path / "m.onnx"
    copy.write_bytes(exported.read_bytes()[:-10])
    sidecar_path(copy).write_text(sidecar_path(exported).read_text())
    with pytest.raises(ExportError, match="altered"):
        read_sidecar(copy)


def test_onnx_matches_torch_on_random_inputs(checkpoint, exported):
    _, net, _ = load_torch_net(checkpoint)
    ort_net = OrtNet(make_session(exported), CFG.res)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(5):
        x = rng.uniform(-1, 1, (1, 24, 64, 64)).astype(np.float32)
        a = rng.uniform(-1, 1, (1, 5)).astype(np.float32)
        worst = max(worst, float(np.abs(ort_net(x, a) - TorchNet(net)(x, a)).max()))
    assert worst <= 1e-3


BUNDLED = Path(__file__).resolve().parents[2] / "worldgen" / "model" / "weights" / "bundled.json"


def test_bundled_export_matches_torch_and_256_tick_rollouts_agree(gl_ctx):
    """The bundled model and its committed ONNX export: within 1e-3 on random inputs, and a 256-tick rollout
    through ONNX Runtime stays at 40 dB or more against torch's."""
    from worldloop.runtime.backends.onnx_backend import ensure_onnx
    cfg, net, _ = load_torch_net(BUNDLED)
    onnx_path, _ = ensure_onnx(BUNDLED)
    ort_net = OrtNet(make_session(onnx_path), cfg.res)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.uniform(-1, 1, (1, 24, cfg.res, cfg.res)).astype(np.float32)
        a = rng.uniform(-1, 1, (1, 5)).astype(np.float32)
        assert float(np.abs(ort_net(x, a) - TorchNet(net)(x, a)).max()) <= 1e-3
    spec = biome_default("forest", seed=2)
    r = GroundTruthRenderer(spec, ctx=gl_ctx)
    traj = random_walk(r.world, r.world.spawn_pose(), 256, seed_rng(5))
    start = r.render(traj.start, cfg.intrinsics)
    r.release()
    gens = [NeuralGenerator(cfg, TorchNet(net)), NeuralGenerator(cfg, ort_net)]
    for g in gens:
        g.start(Frame(start.rgb, start.depth, start.pose))
    worst = 99.0
    for a in traj.actions:
        fa, fb = (g.step(a) for g in gens)
        worst = min(worst, psnr(fa.rgb, fb.rgb))
    assert worst >= 40


PLAY_NO_TORCH = """
import sys, json
from worldloop.runtime.session import Session
from worldloop.runtime.app import run_headless
from worldloop.worldgen.procedural.spec import biome_default
s = Session("onnx", sys.argv[1], biome_default("village", seed=1))
r = run_headless(s, 20, None, size=(128, 128))
print(json.dumps({"torch": "torch" in sys.modules, "ticks": r["ticks"]}))
"""


def test_playing_on_onnx_never_imports_torch(checkpoint, exported):
    proc = subprocess.run([sys.executable, "-c", PLAY_NO_TORCH, str(checkpoint)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"torch": False, "ticks": 20}


def test_missing_export_is_made_in_a_subprocess(checkpoint, tmp_path):
    import shutil
    ck = tmp_path / "copy.json"
    shutil.copy(checkpoint, ck)
    shutil.copy(checkpoint.with_suffix(".safetensors"), tmp_path / "copy.safetensors")
    proc = subprocess.run([sys.executable, "-c", PLAY_NO_TORCH, str(ck)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["torch"] is False
    assert (tmp_path / "copy.onnx").exists() and read_sidecar(tmp_path / "copy.onnx")
