"""Training end to end on a tiny config: it learns, writes its artifacts, resumes, and runs under DDP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldloop.worldgen.model.train import TrainConfig, horizon_at, load_train_config, train

from helpers import TINY


def tiny(tmp_path, steps=8) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.replace("STEPS", str(steps)))
    return p


def test_schedule_moves_from_teacher_forcing_to_growing_rollouts():
    cfg = TrainConfig(steps=100, tf_fraction=0.6, horizons=(2, 4, 8))
    hs = [horizon_at(cfg, s) for s in range(100)]
    assert hs[:60] == [0] * 60 and hs[60] == 2 and hs[-1] == 8
    assert hs == sorted(hs)


def test_train_writes_checkpoint_curve_and_resumes(tmp_path):
    cfg = load_train_config(tiny(tmp_path, steps=8))
    final = train(cfg, show_progress=False)
    side = json.loads(Path(final).read_text())
    assert side["format"] == "worldloop.checkpoint" and side["step"] == 8
    assert side["model"]["res"] == 32 and side["train"]["steps"] == 8 and len(side["dataset_sha256"]) == 64
    run = Path(cfg.out_dir)
    assert (run / "loss.png").stat().st_size > 1000
    log = json.loads((run / "train_state.json").read_text())["log"]
    assert any("psnr_1" in r for r in log) and all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    # resume: a longer run continues from step 8 instead of starting over
    cfg2 = load_train_config(tiny(tmp_path, steps=12))
    train(cfg2, show_progress=False)
    steps = [r["step"] for r in json.loads((run / "train_state.json").read_text())["log"] if "loss" in r]
    assert steps == list(range(1, 13))


def test_bad_config_is_refused(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[train]\nstepz = 3\n")
    with pytest.raises(ValueError, match="train.stepz"):
        load_train_config(p)


DDP_SCRIPT = """
import hashlib, sys, torch, torch.distributed as dist
from worldloop.worldgen.model import train as T
cfg = T.load_train_config(sys.argv[1])
# every rank reports a digest of its final weights, gathered just before the process group closes
import worldloop.worldgen.model.network as N
net_holder = {}
orig_init = N.RefineNet.__init__
def keep(self, *a, **k):
    orig_init(self, *a, **k)
    net_holder["net"] = self
N.RefineNet.__init__ = keep
dist_destroy = torch.distributed.destroy_process_group
def before_destroy():
    sd = net_holder["net"].state_dict()
    d = hashlib.sha256(b"".join(sd[k].numpy().tobytes() for k in sorted(sd))).hexdigest()
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, d)
    if dist.get_rank() == 0:
        open(sys.argv[2], "w").write("\\n".join(out))
    dist_destroy()
torch.distributed.destroy_process_group = before_destroy
T.train(cfg, show_progress=False)
"""


def test_ddp_two_processes_keep_identical_weights(tmp_path):
    cfg_path = tiny(tmp_path, steps=4)
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "digests.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(cfg_path), str(out)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = out.read_text().split()
    assert len(digests) == 2 and digests[0] == digests[1]
    # and the weights did move: they differ from the initial ones
    import torch
    from worldloop.worldgen.model.network import RefineNet
    torch.manual_seed(0)
    cfg = load_train_config(cfg_path)
    import hashlib
    sd = RefineNet(cfg.model).state_dict()
    init = hashlib.sha256(b"".join(sd[k].numpy().tobytes() for k in sorted(sd))).hexdigest()
    assert digests[0] != init


def test_the_shipped_configs_load_and_their_networks_run():
    """bundled (the bundled model's recipe), adversarial (the experiment) and gpu256 (for a GPU machine)."""
    import torch
    from worldloop.worldgen.model.network import RefineNet
    from worldloop.worldgen.model.step import IN_CHANNELS
    root = Path(__file__).resolve().parents[2] / "worldgen" / "model" / "configs"
    cfgs = {p.stem: load_train_config(p) for p in root.glob("*.toml")}
    assert {"bundled", "adversarial", "gpu256"} <= set(cfgs)
    assert cfgs["bundled"].adv_steps == 0 and cfgs["adversarial"].adv_steps > 0
    big = cfgs["gpu256"].model
    assert big.res == 256
    with torch.no_grad():
        out = RefineNet(big)(torch.zeros(1, IN_CHANNELS, 256, 256), torch.zeros(1, 5))
    assert out.shape == (1, 4, 256, 256)
