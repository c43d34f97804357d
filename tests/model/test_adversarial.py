"""The settle rules, the adversarial stage of training (discriminator, losses, decoding as at run time,
resuming inside the stage, --start-from) and a generator without the exemplar fill."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worldloop.worldgen.model.adversarial import PatchDiscriminator, discriminator_loss, generator_losses
from worldloop.worldgen.model.checkpoint import CheckpointError
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.generator import NeuralGenerator
from worldloop.worldgen.model.step import decode, finish, latest_first, prepare, settled_by_rule
from worldloop.worldgen.model.train import _decoded, load_train_config, train
from worldloop.worldgen.poses import Action

from helpers import SMALL, TINY

# the tiny training config (helpers.TINY) with an adversarial stage of ADV steps after its 4
TINY_ADV = (TINY.replace("STEPS", "4").replace("ckpt_every = 4", "ckpt_every = 2")
            .replace("\n[model]", "adv_steps = ADV\nadv_horizon = 2\nadv_rollout_ticks = 4\n\n[model]")
            + 'settle = "memory"\nexemplar_fill = false\n')


def tiny_adv(tmp_path, adv=4, name="tiny.toml") -> Path:
    p = tmp_path / name
    p.write_text(TINY_ADV.replace("ADV", str(adv)))
    return p


def test_settle_rules():
    mem = np.array([[True, False, False]])
    back = np.array([[True, True, False]])
    assert settled_by_rule("all", mem, back).tolist() == [[True, True, False]]
    assert settled_by_rule("memory", mem, back).tolist() == [[True, False, False]]
    assert not settled_by_rule("none", mem, back).any()
    with pytest.raises(ValueError, match="settle"):
        settled_by_rule("some", mem, back)


def test_latest_first_puts_the_newest_keyframe_before_the_best_of_the_rest():
    assert latest_first([3, 5], 7, 2) == [7, 3]
    assert latest_first([7, 5], 7, 2) == [7, 5]        # already among the best: not twice
    assert latest_first([], 0, 2) == [0]


def test_bad_settle_or_fill_in_a_model_config_is_refused():
    with pytest.raises(ValueError, match="settle = 'some'"):
        ModelConfig.from_dict({"settle": "some"}, "x.toml [model]")
    with pytest.raises(ValueError, match="exemplar_fill"):
        ModelConfig.from_dict({"exemplar_fill": "yes"}, "x.toml [model]")
    with pytest.raises(ValueError, match="carry = 'sideways'"):
        ModelConfig.from_dict({"carry": "sideways"}, "x.toml [model]")
    old = ModelConfig.from_dict({})                 # an older checkpoint's config: the first model's rules
    assert old.settle == "all" and old.exemplar_fill and old.carry == "frame"


def test_the_model_config_decides_the_fill_unless_told(village_renderer):
    start = village_renderer.render(village_renderer.world.spawn_pose(), SMALL.intrinsics)
    no_fill = dataclasses.replace(SMALL, exemplar_fill=False)
    assert not NeuralGenerator(no_fill, None).invent and NeuralGenerator(SMALL, None).invent
    gen = NeuralGenerator(no_fill, lambda x, a: np.zeros((1, 4, 64, 64), np.float32))
    gen.start(start)
    assert not gen.state.invent
    assert NeuralGenerator(SMALL, None, invent=False).invent is False


def test_training_decodes_as_the_runtime_does(village_renderer):
    """The adversarial stage's loss sees exactly the frame step.decode makes (before rounding)."""
    cfg = dataclasses.replace(SMALL, settle="memory")
    gen = NeuralGenerator(cfg, None)
    gen.start(village_renderer.render(village_renderer.world.spawn_pose(), cfg.intrinsics))
    for _ in range(8):                                 # turn away (memory keeps the start), then back into it
        finish(gen.state, prepare(gen.state, Action(yaw=0.06)), np.zeros((4, 64, 64), np.float32))
    prep = prepare(gen.state, Action(yaw=-0.06, forward=0.1))
    out = np.random.default_rng(0).normal(0, 0.1, (4, 64, 64)).astype(np.float32)
    rgb_rt, _ = decode(cfg, prep, out)
    rgb_t, _ = _decoded(torch, torch.from_numpy(out[None]), [prep], settle=True)
    mine = np.clip(np.rint(rgb_t[0].numpy().transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    assert np.abs(mine.astype(int) - rgb_rt).max() <= 1
    assert prep.settled.any() and (~prep.settled).any()   # both kinds of pixel were in the test


def test_discriminator_learns_sharp_from_blurred():
    """The hinge game in miniature: after a few steps the discriminator scores sharp noise above its blur."""
    torch.manual_seed(0)
    disc = PatchDiscriminator(in_ch=4, width=8)
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.99))
    blur = lambda t: torch.nn.functional.avg_pool2d(t, 5, 1, 2, count_include_pad=False)  # noqa: E731
    for _ in range(40):
        real = torch.rand(8, 4, 32, 32)
        loss = discriminator_loss(disc, blur(real), real)
        opt.zero_grad()
        loss.backward()
        opt.step()
    real = torch.rand(8, 4, 32, 32)
    with torch.no_grad():
        gap = disc(real)[0].mean() - disc(blur(real))[0].mean()
    assert gap > 0.5
    adv, fm = generator_losses(disc, blur(real), real)
    assert adv.item() > 0 and fm.item() > 0        # the generator is told its blur is fake and unlike the truth


def test_adversarial_stage_trains_resumes_and_starts_from_a_checkpoint(tmp_path):
    cfg = load_train_config(tiny_adv(tmp_path, adv=4))
    final = train(cfg, show_progress=False)
    run = Path(cfg.out_dir)
    side = json.loads(Path(final).read_text())
    assert side["step"] == 8 and side["model"]["settle"] == "memory" and not side["model"]["exemplar_fill"]
    log = json.loads((run / "train_state.json").read_text())["log"]
    adv_rows = [r for r in log if "d_loss" in r]
    assert [r["step"] for r in adv_rows] == [5, 6, 7, 8]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["loss"]) for r in adv_rows)
    assert (run / "train_state_adv.safetensors").stat().st_size > 1000
    # rollouts go on from step to step (2 ticks a step, up to 4 ticks, then a fresh start)
    ticks = [r["rollout_ticks"] for r in adv_rows]
    assert ticks[0] == 0 and max(ticks) == 2 and set(ticks) <= {0, 2}
    # resume inside the stage: a longer stage continues from step 8
    train(load_train_config(tiny_adv(tmp_path, adv=6)), show_progress=False)
    log = json.loads((run / "train_state.json").read_text())["log"]
    assert [r["step"] for r in log if "d_loss" in r] == [5, 6, 7, 8, 9, 10]
    # --start-from: the first stage is the checkpoint's, only the adversarial stage runs
    other = tmp_path / "other"
    other.mkdir()
    cfg2 = load_train_config(tiny_adv(other, adv=2))
    final2 = train(cfg2, show_progress=False, start_from=final)
    log2 = json.loads((Path(cfg2.out_dir) / "train_state.json").read_text())["log"]
    assert log2[0]["start_from"] == str(final) and [r["step"] for r in log2 if "loss" in r] == [5, 6]
    assert json.loads(Path(final2).read_text())["start_from"] == str(final)


def test_start_from_refuses_another_model_or_a_config_without_the_stage(tmp_path):
    cfg = load_train_config(tiny_adv(tmp_path, adv=2))
    final = train(cfg, show_progress=False)
    wider = tmp_path / "wider"
    wider.mkdir()
    p = tiny_adv(wider, adv=2)
    p.write_text(p.read_text().replace("channels = [8, 16, 16]", "channels = [8, 16, 24]"))
    with pytest.raises(CheckpointError, match="channels"):
        train(load_train_config(p), show_progress=False, start_from=final)
    none = tmp_path / "none"
    none.mkdir()
    with pytest.raises(ValueError, match="adv_steps"):
        train(load_train_config(tiny_adv(none, adv=0)), show_progress=False, start_from=final)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_torch_lacks_is_refused(tmp_path):
    cfg = load_train_config(tiny_adv(tmp_path, adv=2))
    with pytest.raises(ValueError, match="device 'cuda'"):
        train(cfg, show_progress=False, device="cuda")


def test_with_a_drawn_mask_only_the_drawn_patches_are_judged():
    from worldloop.worldgen.model.adversarial import patch_weights
    torch.manual_seed(0)
    disc = PatchDiscriminator(width=8)
    real = torch.rand(2, 4, 32, 32)
    fake = real.clone()
    fake[:, :, :8, :8] = torch.rand(2, 4, 8, 8)        # what the network drew: the top-left corner
    drawn = torch.zeros(2, 1, 32, 32)
    drawn[:, :, :8, :8] = 1.0
    logits, _ = disc(fake)
    w = patch_weights(logits, drawn)
    assert w.shape == logits.shape == (2, 1, 4, 4)               # a logit's cell is 8x8 pixels here
    assert w[:, :, 0, 0].eq(1).all() and w.sum() == 2
    g_masked, _ = generator_losses(disc, fake, real, drawn)
    assert torch.isclose(g_masked, ((logits[:, :, 0, 0] - 1) ** 2).mean())
    # a generated patch with nothing drawn counts as true: its target is 1, as the truth's
    real_logits, _ = disc(real)
    d = discriminator_loss(disc, fake, real, drawn)
    target = 1.0 - w
    assert torch.isclose(d, 0.5 * (((real_logits - 1) ** 2).mean() + ((logits - target) ** 2).mean()))
    d_plain = discriminator_loss(disc, fake, real)
    assert torch.isclose(d_plain, 0.5 * (((real_logits - 1) ** 2).mean() + (logits ** 2).mean()))
    assert not torch.isclose(d, d_plain)


def test_a_boolean_train_key_takes_only_true_or_false(tmp_path):
    p = tiny_adv(tmp_path, adv=2)
    p.write_text(p.read_text().replace("adv_steps", "adv_drawn_only = 1\nadv_steps"))
    with pytest.raises(ValueError, match="adv_drawn_only.*true or false"):
        load_train_config(p)
    p.write_text(p.read_text().replace("adv_drawn_only = 1", "adv_drawn_only = true"))
    assert load_train_config(p).adv_drawn_only is True
