"""A scene from a picture: cropped, depth from the network, played by neural backends, refused by the oracle."""
import numpy as np
import pytest
import torch
from PIL import Image

from worldloop.runtime.backends import BackendUnavailable
from worldloop.runtime.session import Session
from worldloop.runtime.from_image import scene_from_image
from worldloop.worldgen.model.checkpoint import save_checkpoint
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.network import RefineNet
from worldloop.worldgen.procedural.spec import SpecError, load_spec

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
    from worldloop.runtime.from_image import picture_frame
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


def _picture_scene(tmp_path, checkpoint):
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    photo[:30] = (120, 170, 230)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    return load_spec(scene_from_image(tmp_path / "photo.png", tmp_path / "scenes" / "p.toml", checkpoint))


def test_a_save_carries_its_picture_and_no_path_of_this_machine(tmp_path, checkpoint):
    import json
    import shutil
    from worldloop.worldgen.saves import read_save
    spec = _picture_scene(tmp_path, checkpoint)
    a = Session("torch", checkpoint, spec)
    start = a.frame
    for _ in range(3):
        a.step(np.array([0.1, 0, 0, 0.02, 0]))
    a.save(tmp_path / "p.wlsave")
    meta, _, carried = read_save(tmp_path / "p.wlsave", with_start=True)
    assert str(tmp_path) not in json.dumps(meta)                   # names only: no folder of this machine
    assert meta["scene"]["start_frame"] == {"rgb": "p.start.png", "depth": "p.depth.npy"}
    assert np.array_equal(carried["rgb"], start.rgb)
    shutil.rmtree(tmp_path / "scenes")                             # the scene's files are gone: the save suffices
    b = Session("torch", checkpoint, load_spec(scene_from_image(tmp_path / "photo.png", tmp_path / "q.toml",
                                                                checkpoint)))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "q.start.png")   # another picture there
    b.load(tmp_path / "p.wlsave")
    nxt = np.array([0.1, 0, 0, 0.02, 0])
    assert np.array_equal(b.step(nxt).rgb, a.step(nxt).rgb)
    assert np.array_equal(b.reset().rgb, start.rgb)               # the saved picture, not the file named q


def test_a_save_whose_start_frame_was_altered_is_refused(tmp_path, checkpoint):
    from worldloop.worldgen.saves import SaveError, read_save, write_save
    spec = _picture_scene(tmp_path, checkpoint)
    a = Session("torch", checkpoint, spec)
    a.save(tmp_path / "p.wlsave")
    meta, arrays, start = read_save(tmp_path / "p.wlsave", with_start=True)
    start["rgb"] = start["rgb"] ^ 1
    with np.load(tmp_path / "p.wlsave", allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    entries["start.rgb"] = start["rgb"]
    with open(tmp_path / "bad.wlsave", "wb") as f:
        np.savez(f, **entries)
    with pytest.raises(SaveError, match="start_arrays"):
        read_save(tmp_path / "bad.wlsave", with_start=True)
    write_save(tmp_path / "none.wlsave", meta["scene"], meta["model_id"], meta["model_sha256"], "torch", arrays,
               meta["generator"])                                  # as version 2 wrote it: without its picture
    a.load(tmp_path / "none.wlsave")                               # into the same scene: its picture is running
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "o2.png")
    other = Session("torch", checkpoint, load_spec(scene_from_image(tmp_path / "o2.png", tmp_path / "o2.toml",
                                                                    checkpoint)))
    with pytest.raises(SaveError, match="field start.rgb / start.depth is missing"):
        other.load(tmp_path / "none.wlsave")
    bad = dict(start, rgb=start["rgb"][:, :, :2].copy())
    write_save(tmp_path / "two.wlsave", meta["scene"], meta["model_id"], meta["model_sha256"], "torch", arrays,
               meta["generator"], None, bad)
    with pytest.raises(SaveError, match="field start.rgb is uint8"):
        a.load(tmp_path / "two.wlsave")


def test_a_recording_keeps_its_picture_beside_it_and_replays_from_there(tmp_path, checkpoint):
    import json
    import shutil
    spec = _picture_scene(tmp_path, checkpoint)
    a = Session("torch", checkpoint, spec, record=tmp_path / "rec" / "walk")
    actions = [np.array([0.1, 0, 0, 0.03 * (i % 3), 0]) for i in range(6)]
    frames = [a.step(x).rgb for x in actions]
    log_path, _ = a.close()
    head = json.loads(log_path.read_text().splitlines()[0])
    assert head["scene"]["start_frame"] == {"rgb": "walk.start.png", "depth": "walk.depth.npy"}
    assert str(tmp_path) not in log_path.read_text()
    with pytest.raises(FileExistsError, match="walk.start.png exists"):
        Session("torch", checkpoint, spec, record=tmp_path / "rec" / "walk")    # never over another's picture
    shutil.rmtree(tmp_path / "scenes")
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "rec", moved)                       # the folder travels as a whole
    from worldloop.worldgen.actionlog import read_action_log
    from worldloop.worldgen.procedural.spec import resolve_start_frame, spec_from_dict
    from worldloop.worldgen.actionlog import ActionLogError
    log = read_action_log(moved / "walk.ndjson")
    replay = resolve_start_frame(spec_from_dict(log.scene), moved / "walk.ndjson", ActionLogError, "scene.start_frame")
    b = Session("torch", checkpoint, replay)
    assert all(np.array_equal(b.step(x.as_array()).rgb, f) for x, f in zip(log.actions, frames))
    head["scene"]["start_frame"]["rgb"] = "/etc/hostname"
    lines = (moved / "walk.ndjson").read_text().splitlines()
    (moved / "bad.ndjson").write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
    with pytest.raises(ActionLogError, match="scene.start_frame.rgb.*relative"):
        resolve_start_frame(spec_from_dict(read_action_log(moved / "bad.ndjson").scene), moved / "bad.ndjson",
                            ActionLogError, "scene.start_frame")
