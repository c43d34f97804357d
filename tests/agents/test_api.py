"""worldloop's Python API: a world from a name, stepped, saved, restored and branched, exactly."""
import numpy as np
import pytest

import worldloop
from worldloop.worldgen.procedural.spec import SpecError

WALK = [[0.1, 0.0, 0.0, 0.02, 0.0]] * 12


def same(frames_a, frames_b) -> bool:
    return len(frames_a) == len(frames_b) and all(
        np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth) and a.pose == b.pose
        for a, b in zip(frames_a, frames_b))


@pytest.fixture(scope="module")
def world():
    w = worldloop.World("old-town")           # no paths: the bundled model, backend auto
    yield w
    w.close()


def test_a_world_from_a_name_steps_forward(world):
    assert world.backend_name in ("onnx", "trt") and world.tick == 0
    z0 = world.pose.z
    f = world.step(worldloop.Action(forward=0.1))
    assert f.rgb.shape == (128, 128, 3) and f.rgb.dtype == np.uint8 and f.depth.shape == (128, 128)
    assert world.tick == 1 and world.pose.z == pytest.approx(z0 - 0.1)
    world.step(np.array([5.0, 0, 0, 0, 0]))                  # beyond the trained range: clamped, and said so
    assert world.applied_action[0] == pytest.approx(world.action_max[0])
    assert "old-town" in repr(world)


def test_state_and_restore_go_back_exactly(world):
    s = world.state()
    first = world.run(WALK)
    world.restore(s)
    assert world.tick == s.tick and world.pose == s.frame.pose
    assert same(first, world.run(WALK))


def test_a_saved_world_loads_through_the_api_and_continues_exactly(world, tmp_path):
    path = world.save(tmp_path / "w.wlsave")
    after = world.run(WALK)
    loaded = worldloop.World.load(path)
    try:
        assert loaded.spec == world.spec.portable() and loaded.tick == world.tick - len(WALK)
        assert same(after, loaded.run(WALK))
    finally:
        loaded.close()


def test_a_branch_with_the_same_actions_reproduces_a_plain_run_bit_for_bit(world):
    s = world.state()
    plain = world.run(WALK)
    world.restore(s)
    other = [[0.0, 0.1, 0.0, -0.04, 0.01]] * 7
    rollouts = world.branch(s, [WALK, other, WALK[:3], []])
    assert [len(r) for r in rollouts] == [12, 7, 3, 0]
    assert same(plain, rollouts[0].frames) and same(plain[:3], rollouts[2].frames)
    assert not np.array_equal(rollouts[1].frames[-1].rgb, plain[6].rgb)
    assert rollouts[1].poses.shape == (7, 5) and rollouts[1].actions.shape == (7, 5)
    assert world.tick == s.tick and world.pose == s.frame.pose        # the world itself did not move
    # and the branch's futures are the world's own: restoring and walking the other way gives them too
    assert same(rollouts[1].frames, world.run(other))


def test_the_oracle_branches_into_true_frames():
    with worldloop.World("meadow", backend="oracle") as w:
        s = w.state()
        plain = w.run(WALK[:5])
        (r,) = w.branch(s, [WALK[:5]])
        assert same(plain, r.frames)


def test_bad_input_is_a_clear_error(world):
    for bad, what in (([np.nan, 0, 0, 0, 0], "NaN"), ([1, 2], r"shape \(2,\)"), ("abc", "not numbers"),
                      ([[0] * 5] * 2, r"shape \(2, 5\)")):
        with pytest.raises(ValueError, match=what):
            world.step(bad)
    with pytest.raises(ValueError, match=r"actions\[1\]\[0\]: .*NaN"):
        world.branch(None, [WALK, [[np.nan] * 5]])
    with pytest.raises(FileNotFoundError, match="no bundled scene"):
        worldloop.World("atlantis", backend="oracle")
    with pytest.raises(SpecError, match="seed"):
        worldloop.World("meadow", backend="oracle", seed=-3)
    with pytest.raises(TypeError, match="WorldState"):
        world.restore({"tick": 3})


def test_a_seed_makes_another_world():
    with worldloop.World("meadow", backend="oracle", seed=7) as a, worldloop.World("meadow", backend="oracle") as b:
        assert a.spec.seed == 7 and not np.array_equal(a.frame.rgb, b.frame.rgb)


def test_a_script_without_a_main_guard_exports_the_batch_model_on_first_use(tmp_path):
    """A fresh checkpoint has no batch export yet: the first World makes it in a separate interpreter, which
    must work from a plain script (no `if __name__ == "__main__"`), as a notebook's or an agent's is."""
    import shutil
    import subprocess
    import sys
    from worldloop.api import BUNDLED_CHECKPOINT
    for suffix in (".json", ".safetensors"):
        shutil.copy(BUNDLED_CHECKPOINT.with_suffix(suffix), tmp_path / f"model{suffix}")
    script = tmp_path / "walk.py"
    script.write_text("import worldloop\n"
                      f"w = worldloop.World('meadow', backend='onnx', checkpoint={str(tmp_path / 'model.json')!r})\n"
                      "print(w.step([0.1, 0, 0, 0, 0]).rgb.shape)\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("(128, 128, 3)") and (tmp_path / "model.batch.onnx").exists()


def test_frames_and_poses_given_are_checked_and_owned(world):
    f = world.step([0.0] * 5)
    f.rgb[:] = 0                                       # the caller's copy: the world's frame is untouched
    assert world.frame.rgb.any()
    with pytest.raises(ValueError, match="start_pose"):
        worldloop.World("meadow", backend="oracle", start_pose=[0, 0, 0, 0, float("nan")])
