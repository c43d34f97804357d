"""Checkpoints: safetensors + JSON round trip, and clear refusals of altered or foreign files."""
import json

import numpy as np
import pytest
import torch

from worldloop.worldgen.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from worldloop.worldgen.model.generator import load_torch_net
from worldloop.worldgen.model.network import RefineNet

from helpers import SMALL


def saved(tmp_path):
    torch.manual_seed(0)
    net = RefineNet(SMALL)
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    side = save_checkpoint(tmp_path / "ck", tensors, SMALL, {"train": {"steps": 1}, "dataset_sha256": "x"})
    return net, side


def test_round_trip(tmp_path):
    net, side = saved(tmp_path)
    cfg, loaded, meta = load_torch_net(side)
    assert cfg == SMALL and meta["dataset_sha256"] == "x"
    x, a = torch.randn(1, 24, 64, 64), torch.randn(1, 5)
    with torch.no_grad():
        assert torch.equal(net(x, a), loaded(x, a))
    for name in ("ck", "ck.json", "ck.safetensors"):
        assert load_checkpoint(tmp_path / name)[0] == SMALL


def test_altered_weights_are_refused(tmp_path):
    _, side = saved(tmp_path)
    w = tmp_path / "ck.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="ck.safetensors.*sha256"):
        load_checkpoint(side)


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(format="pickle"), ["format"]),
    (lambda d: d.update(version=99), ["version 99"]),
    (lambda d: d["model"].update(colour=3), ["model", "colour"]),
])
def test_foreign_or_newer_sidecars_are_refused(tmp_path, change, words):
    _, side = saved(tmp_path)
    d = json.loads(side.read_text())
    change(d)
    side.write_text(json.dumps(d))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(side)
    assert "ck.json" in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_weights_for_another_shape_are_refused(tmp_path):
    _, side = saved(tmp_path)
    d = json.loads(side.read_text())
    d["model"]["channels"] = [16, 16, 16]
    side.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_torch_net(side)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nothing.json")


def test_the_untrained_network_passes_the_warp_through():
    net = RefineNet(SMALL)
    with torch.no_grad():
        out = net(torch.randn(2, 24, 64, 64), torch.randn(2, 5))
    assert out.shape == (2, 4, 64, 64) and float(out.abs().max()) == 0.0
    assert np.isfinite(out.numpy()).all()


def test_nan_weights_are_refused(tmp_path):
    import numpy as np
    import pytest
    from worldloop.worldgen.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from worldloop.worldgen.model.config import ModelConfig
    save_checkpoint(tmp_path / "m", {"w": np.array([1.0, np.nan], np.float32)}, ModelConfig(), {})
    with pytest.raises(CheckpointError, match="tensor w holds NaN"):
        load_checkpoint(tmp_path / "m")
