"""A scene from a picture: cropped, depth from the network, played by neural backends, refused by the oracle."""
import numpy as np
import pytest
import torch
from PIL import Image

from runtime.backends import BackendUnavailable
from runtime.session import Session
from runtime.from_image import scene_from_image
from worldgen.model.checkpoint import save_checkpoint
from worldgen.model.config import ModelConfig
from worldgen.model.network import RefineNet
from worldgen.procedural.spec import SpecError, load_spec

CFG = ModelConfig(res=64, channels=(8, 16, 16))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = RefineNet(CFG)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "m", {k: v.numpy() for k, v in net.state_dict().items()},
                           CFG, {})


def test_picture_scene_plays_on_neural_backends_only(tmp_path, checkpoint):
    rng = np.random.default_rng(0)
    photo = np.zeros((90, 160, 3), np.uint8)
    photo[:45] = (120, 170, 230)                        # sky over ground, with some texture
    photo[45:] = (90, 140, 60)
    photo[45:] += rng.integers(0, 30, (45, 160, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    toml = scene_from_image(tmp_path / "photo.png", tmp_path / "photo.toml", checkpoint)
    spec = load_spec(toml)
    assert spec.from_picture
    start = np.asarray(Image.open(spec.start_frame.rgb))
    assert start.shape == (64, 64, 3)
    depth = np.load(spec.start_frame.depth, allow_pickle=False)
    assert depth.shape == (64, 64) and np.isfinite(depth).all()
    assert depth[:20].mean() > 10 * depth[50:].mean()    # sky far, ground near
    session = Session("torch", checkpoint, spec)
    assert np.array_equal(session.frame.rgb, start)
    f = session.step(np.array([0.1, 0, 0, 0.02, 0]))
    assert f.rgb.shape == (64, 64, 3)
    with pytest.raises(BackendUnavailable, match="no ground truth"):
        Session("oracle", None, spec)


def test_not_a_picture(tmp_path, checkpoint):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(SpecError, match="x.png"):
        scene_from_image(tmp_path / "x.png", tmp_path / "x.toml", checkpoint)


def test_missing_start_frame_file_is_named(tmp_path):
    (tmp_path / "s.toml").write_text('seed = 1\n[start_frame]\nrgb = "gone.png"\ndepth = "gone.npy"\n')
    with pytest.raises(SpecError, match="start_frame.rgb"):
        load_spec(tmp_path / "s.toml")


@pytest.mark.parametrize("name, says", [("/etc/hostname", "relative"), ("../outside.png", "'..'"),
                                        ("fifo.png", "not a regular file"), ("link.png", "leads out")])
def test_start_frame_files_stay_in_the_scene_folder(tmp_path, name, says):
    import os
    scene_dir = tmp_path / "scene"
    scene_dir.mkdir()
    (tmp_path / "outside.png").write_bytes(b"x")
    os.mkfifo(scene_dir / "fifo.png")
    (scene_dir / "link.png").symlink_to(tmp_path / "outside.png")
    (scene_dir / "ok.npy").write_bytes(b"x")
    (scene_dir / "s.toml").write_text(f'seed = 1\n[start_frame]\nrgb = "{name}"\ndepth = "ok.npy"\n')
    with pytest.raises(SpecError, match=f"start_frame.rgb.*{says}"):
        load_spec(scene_dir / "s.toml")


def test_a_start_frame_of_the_wrong_size_is_refused_from_its_header(tmp_path):
    from runtime.from_image import picture_frame
    Image.new("RGB", (3000, 2000)).save(tmp_path / "big.png")
    np.save(tmp_path / "d.npy", np.ones((64, 64), np.float32))
    (tmp_path / "s.toml").write_text('seed = 1\n[start_frame]\nrgb = "big.png"\ndepth = "d.npy"\n')
    with pytest.raises(SpecError, match="3000x2000, the model wants 64x64"):
        picture_frame(load_spec(tmp_path / "s.toml"), 64)
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    np.save(tmp_path / "d.npy", np.ones((64, 640000), np.float32))
    with pytest.raises(SpecError, match="start_frame.depth"):
        picture_frame(load_spec(tmp_path / "s.toml"), 64)
    np.save(tmp_path / "d.npy", np.full((64, 64), np.nan, np.float32))
    with pytest.raises(SpecError, match="NaN"):
        picture_frame(load_spec(tmp_path / "s.toml"), 64)
