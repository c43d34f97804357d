"""The drawer (drawer.py): what is due, world-anchored noise, and a generator that draws and saves exactly."""
import numpy as np
import pytest
import torch

from worldloop.worldgen.model.drawer import DRAW_APPROACH, DRAW_IN_CHANNELS, carry_seen, due_mask, world_noise
from worldloop.worldgen.model.generator import NeuralGenerator, TorchDrawer
from worldloop.worldgen.model.geometry import Camera
from worldloop.worldgen.model.network import DrawNet
from worldloop.worldgen.model.step import STATE_VERSION
from worldloop.worldgen.poses import Action, Pose

from helpers import SMALL


def frame_at(renderer, pose):
    return renderer.render(pose, SMALL.intrinsics)


def test_world_noise_is_anchored_to_the_place_and_the_seed(village_renderer):
    cam = Camera(SMALL.intrinsics)
    r = village_renderer.world.spawn_pose()
    a = Pose(r.x, r.y, r.z, r.yaw, -0.3)
    b = Pose(r.x, r.y, r.z, r.yaw + 0.15, -0.3)              # the same place, a little turned
    fa, fb = frame_at(village_renderer, a), frame_at(village_renderer, b)
    na = world_noise(cam, fa.depth, a, 5, SMALL.far_m)
    nb = world_noise(cam, fb.depth, b, 5, SMALL.far_m)
    other = world_noise(cam, fa.depth, a, 6, SMALL.far_m)
    land = fa.depth < 100
    assert land.mean() > 0.3 and (na[:, fa.depth >= 0.85 * SMALL.far_m] == 0).all()
    assert np.abs(na[:, land]).max() <= 1 and na[0, land].std() > 0.2
    # a pixel of b sees the same world cell as some pixel of a: the noise values there agree
    pa, pb = cam.points_world(fa.depth, a), cam.points_world(fb.depth, b)
    ca = {(int(np.floor(p[0])), int(np.floor(p[2]))): v for p, v, ok in zip(pa, na[0].ravel(), land.ravel()) if ok}
    hits = [ca[k] == v for k, v, ok in zip(((int(np.floor(p[0])), int(np.floor(p[2]))) for p in pb),
                                          nb[0].ravel(), (fb.depth < 100).ravel()) if ok and k in ca]
    assert len(hits) > 500 and np.mean(hits) == 1.0
    assert not np.allclose(na[:, land], other[:, land])


def test_what_is_due_walking_on_and_turning(village_renderer):
    cam = Camera(SMALL.intrinsics)
    r = village_renderer.world.spawn_pose()
    a = Pose(r.x, r.y, r.z, r.yaw, -0.4)
    f = frame_at(village_renderer, a)
    same = carry_seen(cam, f.depth, f.depth, np.ones_like(f.depth, bool), a, a)
    assert np.allclose(same, f.depth) and not due_mask(same, f.depth, SMALL.far_m).any()
    # walked on: ground that now stands at less than half the distance it was drawn from is due, the rest not
    g = Pose(r.x, r.y, r.z, r.yaw, -0.4)
    fwd = np.array([-np.sin(g.yaw), 0.0, -np.cos(g.yaw)])
    b = Pose(*(np.array([g.x, g.y, g.z]) + 3.0 * fwd), g.yaw, g.pitch)
    fb = frame_at(village_renderer, b)
    seen = carry_seen(cam, f.depth, fb.depth, np.ones_like(fb.depth, bool), a, b)
    due = due_mask(seen, fb.depth, SMALL.far_m)
    ok = np.isfinite(seen) & (fb.depth < 100)
    ratio = seen[ok] / fb.depth[ok]
    assert (ratio > DRAW_APPROACH).any() and (ratio < 1.5).any()
    assert (due[ok] == (ratio > DRAW_APPROACH)).all()
    assert due[~np.isfinite(seen)].all()                   # what nothing covered is due


@pytest.fixture
def drawer():
    torch.manual_seed(0)
    net = DrawNet(DRAW_IN_CHANNELS, widths=(8, 8, 8), fine=4)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)                   # untrained nets draw nothing: make it draw
    return TorchDrawer(net)


def test_a_generator_with_a_drawer_draws_what_is_due_and_resumes_exactly(village_renderer, drawer):
    rng = np.random.default_rng(0)
    zero = lambda x, a: np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)  # noqa: E731
    plain, drawing = NeuralGenerator(SMALL, zero, invent=False), NeuralGenerator(SMALL, zero, drawer=drawer)
    p = village_renderer.world.spawn_pose()
    for g in (plain, drawing):
        g.start(frame_at(village_renderer, p), seed=3)
    acts = [Action(SMALL.action_max[0], 0.0, 0.0, SMALL.action_max[3] * rng.uniform(-1, 1), 0.0) for _ in range(40)]
    for a in acts[:20]:
        fp, fd = plain.step(a), drawing.step(a)
    assert not np.array_equal(fp.rgb, fd.rgb)               # it drew something
    assert np.isfinite(drawing.state.seen).all()             # and everything is drawn from somewhere now
    arrays, meta = drawing.export_state()
    arrays = {k: v.copy() for k, v in arrays.items()}
    assert meta["version"] == STATE_VERSION and "seen" in arrays
    first = [drawing.step(a) for a in acts[20:]]
    drawing.restore_state(arrays, meta)
    second = [drawing.step(a) for a in acts[20:]]
    for a, b in zip(first, second):
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    bad = {**arrays, "seen": np.full_like(arrays["seen"], np.nan)}
    with pytest.raises(ValueError, match="field seen"):
        drawing.restore_state(bad, meta)


def test_a_version_2_state_restores_as_drawn_from_where_it_stands(village_renderer):
    zero = lambda x, a: np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)  # noqa: E731
    g = NeuralGenerator(SMALL, zero)
    g.start(frame_at(village_renderer, village_renderer.world.spawn_pose()))
    g.step(Action(0.1, 0, 0, 0, 0))
    arrays, meta = g.export_state()
    arrays = {k: v for k, v in arrays.items() if k != "seen"}
    g.restore_state(arrays, {**meta, "version": 2})
    assert np.array_equal(g.state.seen, arrays["prev_depth"])


def test_rendered_pairs_bring_far_things_near(gl_ctx):
    from worldloop.worldgen.model.drawer import RenderedPairs, pair_inputs
    from worldloop.worldgen.procedural.spec import biome_default
    pairs = RenderedPairs([biome_default("forest", seed=11)], SMALL.intrinsics)
    cam = Camera(SMALL.intrinsics)
    rng = np.random.default_rng(0)
    try:
        shares = []
        for _ in range(6):
            a, b, seed = pairs.sample(rng)
            moved = np.hypot(b.pose.x - a.pose.x, b.pose.z - a.pose.z)
            assert 1.9 <= moved <= 81 and seed == 11
            x, trgb, tden, due, base, bden = pair_inputs(cam, SMALL.far_m, a, b, rng, seed)
            assert x.shape == (DRAW_IN_CHANNELS, 64, 64) and np.isfinite(x).all()
            assert np.array_equal(x[4] > 0, due)
            shares.append(due.mean())
        assert max(shares) > 0.1              # moving on tens of metres leaves much to draw
    finally:
        pairs.release()


def test_train_drawer_runs_resumes_and_loads(tmp_path):
    import json
    from worldloop.worldgen.model.train_drawer import load_drawer, train_drawer
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    (train / "scene_00000.json").write_text(json.dumps({"biome": "meadow", "seed": 5}))
    out = train_drawer(tmp_path / "data", tmp_path / "run", steps=2, batch=2, progress=False, res=32)
    assert json.loads((tmp_path / "run" / "state.json").read_text())["step"] == 2
    out = train_drawer(tmp_path / "data", tmp_path / "run", steps=3, batch=2, progress=False, res=32)
    st = json.loads((tmp_path / "run" / "state.json").read_text())
    assert st["step"] == 3 and len(st["log"]) == 0
    net, meta = load_drawer(out)
    assert meta["step"] == 3 and meta["res"] == 32
    y = net(torch.zeros(1, DRAW_IN_CHANNELS, 32, 32))
    assert y.shape == (1, 4, 32, 32)
    from worldloop.worldgen.model.checkpoint import CheckpointError
    (tmp_path / "run" / "drawer.json").write_text(json.dumps({**meta, "format": "something else"}))
    with pytest.raises(CheckpointError, match="drawer.json: field format"):
        load_drawer(out)
    (tmp_path / "run" / "drawer.json").write_text(json.dumps(meta))
    w = tmp_path / "run" / "drawer.safetensors"
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="drawer.safetensors: sha256 differs"):
        load_drawer(out)


def test_the_drawer_exports_to_onnx_and_runs_the_same(tmp_path):
    import json
    from worldloop.trt_engines.export import DRAWER_FORMAT, export_drawer_onnx, read_sidecar
    from worldloop.trt_engines.ort import OrtDrawer, make_session
    from worldloop.worldgen.model.train_drawer import load_drawer, save_drawer
    torch.manual_seed(1)
    net = DrawNet(DRAW_IN_CHANNELS)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
    save_drawer(tmp_path / "drawer", net, {"step": 0, "res": 32})
    onnx_path = export_drawer_onnx(tmp_path / "drawer")
    side = read_sidecar(onnx_path, fmt=DRAWER_FORMAT)
    assert side["res"] == 32 and side["drawer_weights_sha256"] == json.loads(
        (tmp_path / "drawer.json").read_text())["weights_sha256"]
    x = np.random.default_rng(0).standard_normal((1, DRAW_IN_CHANNELS, 32, 32)).astype(np.float32)
    ort_out = OrtDrawer(make_session(onnx_path, threads=1), 32)(x)
    torch_out = TorchDrawer(load_drawer(tmp_path / "drawer")[0])(x)
    assert np.abs(torch_out).max() > 1e-3 and np.abs(ort_out - torch_out).max() < 1e-4
