"""Dataset shards: generation, round trip against a fresh render, resume, sharding and validation."""
import json
import zipfile

import numpy as np
import pytest

from worldloop.worldgen.poses import Pose
from worldloop.worldgen.procedural.dataset import (DatasetConfig, DatasetError, check_dataset, generate, load_shard,
                                         shard_indices)
from worldloop.worldgen.procedural.render import GroundTruthRenderer

CFG = DatasetConfig(scenes=2, frames_per_scene=60, res=64, base_seed=7)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    generate(CFG, out, show_progress=False)
    return out


def test_round_trip_matches_a_fresh_render(dataset, gl_ctx):
    manifest, problems = check_dataset(dataset)
    assert problems == []
    assert manifest["complete"] and manifest["frames"] == 120
    shard = load_shard(dataset / "scene_00001.npz")
    assert shard.rgb.shape == (60, 64, 64, 3) and shard.depth.dtype == np.float32
    assert shard.spec == CFG.scene_spec(1)
    r = GroundTruthRenderer(shard.spec, ctx=gl_ctx)
    for i in (0, 31, 59):
        f = r.render(Pose.from_array(shard.pose[i]), shard.intrinsics)
        assert (f.rgb != shard.rgb[i]).any(-1).mean() < 0.002      # same picture (up to edge rounding)
        assert np.quantile(np.abs(f.depth - shard.depth[i]) / f.depth, 0.99) < 1e-5
    r.release()


def test_shards_load_without_pickle_and_hold_no_objects(dataset):
    with np.load(dataset / "scene_00000.npz", allow_pickle=False) as z:
        for key in z.files:
            assert z[key].dtype != object


def test_every_episode_has_an_action_log_that_replays(dataset):
    from worldloop.worldgen.actionlog import read_action_log
    from worldloop.worldgen.poses import rollout
    shard = load_shard(dataset / "scene_00000.npz")
    for e in np.unique(shard.episode):
        log = read_action_log(dataset / "paths" / f"scene_00000_ep{e:03d}.ndjson")
        poses = np.array([p.as_array() for p in rollout(log.start, log.actions)])
        assert np.array_equal(poses, shard.pose[shard.episode == e])


def test_resume_skips_finished_shards(dataset):
    before = {p.name: p.stat().st_mtime_ns for p in dataset.glob("scene_*.npz")}
    generate(CFG, dataset, show_progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in dataset.glob("scene_*.npz")} == before


def test_other_settings_in_the_same_folder_are_refused(dataset):
    with pytest.raises(DatasetError, match="other settings"):
        generate(DatasetConfig(scenes=2, frames_per_scene=61, res=64, base_seed=7), dataset, show_progress=False)


def test_split_shards_add_up(tmp_path):
    cfg = DatasetConfig(scenes=3, frames_per_scene=20, res=64)
    assert shard_indices(3, "0/2") == [0, 2] and shard_indices(3, "1/2") == [1]
    m = generate(cfg, tmp_path, shard="1/2", show_progress=False)
    assert [s["scene_index"] for s in m["shards"]] == [1] and not m["complete"]
    m = generate(cfg, tmp_path, shard="0/2", show_progress=False)
    assert [s["scene_index"] for s in m["shards"]] == [0, 1, 2] and m["complete"]
    with pytest.raises(DatasetError, match="i/N"):
        shard_indices(3, "2/2")


def test_check_finds_a_changed_shard(dataset, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    victim = copy / "scene_00000.npz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    _, problems = check_dataset(copy)
    assert any("scene_00000.npz" in p and "sha256" in p for p in problems)


def test_check_finds_poses_that_do_not_follow_their_actions(dataset, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    path = copy / "scene_00001.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["pose"][5, 0] += 0.5
    np.savez(path, **arrays)
    manifest = json.loads((copy / "manifest.json").read_text())
    from worldloop.worldgen.files import sha256_file
    manifest["shards"][1]["sha256"] = sha256_file(path)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _, problems = check_dataset(copy)
    assert any("frame 5" in p and "does not follow" in p for p in problems)


def test_not_a_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no manifest"):
        check_dataset(tmp_path)
    bad = tmp_path / "scene_00000.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("rgb.npy", b"junk")
    with pytest.raises(DatasetError, match="scene_00000.npz"):
        load_shard(bad)
