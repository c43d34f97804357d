"""Headless end to end: scripted ticks, determinism, save/load continuity, refused saves that change nothing."""
import math

import numpy as np
import pytest
import torch

from worldloop.runtime.app import frame_digest, run_headless
from worldloop.worldgen.saves import SaveError
from worldloop.runtime.session import Session
from worldloop.worldgen.model.checkpoint import save_checkpoint
from worldloop.worldgen.model.config import ModelConfig
from worldloop.worldgen.model.network import RefineNet
from worldloop.worldgen.poses import Action, Pose, apply_action
from worldloop.worldgen.procedural.noise import seed_rng
from worldloop.worldgen.procedural.spec import biome_default
from worldloop.worldgen.procedural.trajectories import random_walk
from worldloop.worldgen.procedural.world import World

SPEC = biome_default("village", seed=1)
SPEC_START = World(SPEC).spawn_pose()
TINY = ModelConfig(res=64, channels=(8, 16, 16))


def script(n=300):
    """A player's walk, with a still stretch in the middle."""
    world = World(SPEC)
    traj = random_walk(world, world.spawn_pose(), n, seed_rng(3))
    acts = [a.as_array() for a in traj.actions]
    if n > 120:
        acts[100:120] = [np.zeros(5)] * 20
    return acts


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = RefineNet(TINY)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.01)      # an untrained net would only pass the warp through
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny", tensors, TINY, {})


def test_300_scripted_ticks_follow_the_actions(tmp_path):
    acts = script()
    session = Session("oracle", None, SPEC)
    result = run_headless(session, 300, acts, video=tmp_path / "run.mp4", size=(256, 256), hud=True)
    expected = session.start_pose
    for a in acts:
        expected = apply_action(expected, Action.from_array(session.config.clamp_action(a)))
    assert result["pose"] == list(expected.as_array())
    d = result["frame_digests"]
    assert len(set(d[101:119])) == 1                      # standing still: the same frame
    assert len(set(d[:100])) > 90                          # walking: frames change
    assert (tmp_path / "run.mp4").stat().st_size > 10_000


@pytest.mark.parametrize("backend", ["oracle", "torch"])
def test_same_run_twice_same_frames(backend, tiny_checkpoint):
    acts = script(120)
    ck = tiny_checkpoint if backend == "torch" else None
    a = run_headless(Session(backend, ck, SPEC), 120, acts, size=(128, 128))
    b = run_headless(Session(backend, ck, SPEC), 120, acts, size=(128, 128))
    assert a["run_sha256"] == b["run_sha256"]


@pytest.mark.parametrize("backend", ["oracle", "torch"])
def test_save_load_continue_is_identical(backend, tiny_checkpoint, tmp_path):
    acts = script(300)
    ck = tiny_checkpoint if backend == "torch" else None
    straight = Session(backend, ck, SPEC)
    for a in acts:
        straight.step(a)
    first = Session(backend, ck, SPEC)
    for a in acts[:150]:
        first.step(a)
    save = first.save(tmp_path / "t150.wlsave")
    resumed = Session(backend, ck, biome_default("desert", seed=9), load=save)   # the save brings its scene
    assert resumed.tick == 150 and resumed.spec == SPEC
    for a in acts[150:]:
        resumed.step(a)
    assert frame_digest(resumed.frame) == frame_digest(straight.frame)
    assert resumed.frame.pose == straight.frame.pose


def test_bad_saves_are_refused_and_the_game_goes_on(tiny_checkpoint, tmp_path):
    acts = script(40)
    session = Session("torch", tiny_checkpoint, SPEC)
    for a in acts[:20]:
        session.step(a)
    good = session.save(tmp_path / "good.wlsave")
    truncated = tmp_path / "truncated.wlsave"
    truncated.write_bytes(good.read_bytes()[:1000])
    foreign = Session("oracle", None, SPEC).save(tmp_path / "oracle.wlsave")
    before = frame_digest(session.frame)
    for bad, words in ((truncated, "truncated"), (foreign, "model")):
        with pytest.raises(SaveError, match=words):
            session.load(bad)
        assert frame_digest(session.frame) == before and session.tick == 20
    for a in acts[20:]:
        session.step(a)                                    # still playing
    assert session.tick == 40


def test_the_loop_draws_every_turn_and_a_still_view_only_when_a_frame_arrives():
    """The window loop presents only frames that would differ; a mouse turn always gets a new one. Standing
    still at 60 display frames a second, only the 30 new frames a second from the generator are drawn."""
    from worldloop.runtime.bench import loop_cost
    cost = loop_cost(lambda: Session("oracle", None, SPEC), frames=90)
    assert cost["turning"]["drawn_share"] == 1.0
    assert 0.3 < cost["still"]["drawn_share"] < 0.75
    assert cost["still"]["mean_ms"] < cost["turning"]["mean_ms"]


def test_the_headless_hud_shows_the_rates_it_runs_at(monkeypatch):
    import worldloop.runtime.app as app
    seen = []
    real = app.hud_lines
    monkeypatch.setattr(app, "hud_lines", lambda *a, **k: seen.append(a) or real(*a, **k))
    run_headless(Session("oracle", None, SPEC), 12, script(12), size=(128, 128), hud=True)
    _, fps, tick_rate, gen_ms = seen[-1][:4]
    assert fps > 1 and tick_rate > 1 and gen_ms > 0


def test_a_generator_fault_goes_back_to_the_last_good_state(tiny_checkpoint, tmp_path):
    from worldloop.runtime.session import SNAPSHOT_EVERY, GeneratorFault
    session = Session("torch", tiny_checkpoint, SPEC, record=tmp_path / "rec")
    gen = session.backend.gen
    real, calls = gen.net, []

    def flaky(x, a):
        calls.append(1)
        out = real(x, a)
        return np.full_like(out, np.nan) if len(calls) == SNAPSHOT_EVERY + 5 else out
    gen.net = flaky
    acts = script(SNAPSHOT_EVERY + 20)
    for a in acts[:SNAPSHOT_EVERY + 4]:
        session.step(a)
    good = session.frame
    with pytest.raises(GeneratorFault, match=f"back to tick {SNAPSHOT_EVERY}"):
        session.step(acts[SNAPSHOT_EVERY + 4])
    assert session.tick == SNAPSHOT_EVERY and session.frame is not good
    for a in acts[SNAPSHOT_EVERY:]:                 # and it goes on as if the faulty ticks had not happened
        f = session.step(a)
        assert np.isfinite(f.depth).all()
    assert session.tick == len(acts)
    session.close()
    assert len(session.recorded) == 2               # the recording starts a new segment where it went back


def test_ticks_the_model_misses_still_move_the_player(gl_ctx):
    """A model too slow for every tick: the ticks not sent carry their motion into the next one sent, so the
    player covers the same ground in the same time, and the HUD says the tick rate fell."""
    from worldloop.runtime.bench import _StillWorker, _core
    from worldloop.worldgen.procedural.render import make_current

    class SlowWorker(_StillWorker):
        calls = 0

        def pending(self):                       # busy for every other tick
            self.calls += 1
            return 2 if self.calls % 2 == 0 else 0

    results = {}
    for worker_kind in (_StillWorker, SlowWorker):
        session = Session("oracle", None, SPEC)
        make_current(gl_ctx)
        core, state, _ = _core(worker_kind(session), gl_ctx, (128, 128))
        state.press("forward")
        t = 0.0
        for _ in range(60):                      # one second of display frames at 60 Hz
            t += 1 / 60
            core.update(1 / 60, t)
        results[worker_kind.__name__] = (core.sent, core.dropped)
    fast, slow = results["_StillWorker"], results["SlowWorker"]
    assert fast[1] == 0 and slow[1] > 10                       # ticks were missed...
    dist = lambda p: math.hypot(p.x - SPEC_START.x, p.z - SPEC_START.z)  # noqa: E731
    assert dist(slow[0]) == pytest.approx(dist(fast[0]), rel=0.05)   # ...but not the ground they cover


def test_a_stalled_or_failing_generator_never_stalls_the_display(gl_ctx):
    """The generator stalls 500 ms on one tick and raises on another: the loop's frames stay short, and the
    fault reaches the HUD's messages."""
    import time as _time
    from worldloop.runtime.bench import _core
    from worldloop.runtime.worker import GeneratorWorker
    from worldloop.worldgen.procedural.render import make_current

    class Moody(Session):
        n = 0

        def step(self, action):
            self.n += 1
            if self.n == 5:
                _time.sleep(0.5)
            if self.n == 12:
                raise RuntimeError("the network fell over")
            return super().step(action)

    worker = GeneratorWorker(lambda: Moody("oracle", None, SPEC))
    worker.start()
    worker.ready.wait(60)
    make_current(gl_ctx)
    core, state, target = _core(worker, gl_ctx, (128, 128))
    state.press("forward")
    longest, messages, t_end = 0.0, [], _time.perf_counter() + 2.0
    while _time.perf_counter() < t_end:
        t0 = _time.perf_counter()
        core.update(1 / 60, t0)
        core.draw(target, (128, 128), t0)
        messages += core.messages
        longest = max(longest, _time.perf_counter() - t0)
        _time.sleep(max(0.0, 1 / 60 - (_time.perf_counter() - t0)))
    worker.send("stop")
    worker.join(10)
    assert longest < 0.2                                    # the 500 ms stall never reached the display
    assert any("fell over" in m for m in messages)
    assert worker.session.tick > 20                        # and the game went on after both


def test_the_window_loop_benchmark_walks_with_the_generator_beside_the_display():
    """bench busy's window case: the generator on its worker, the display at 60 Hz; ticks arrive at about the
    model's rate (the oracle is fast here) and the player, holding forward, is carried along."""
    from worldloop.runtime.bench import paced_play, window_play
    r = window_play(lambda: Session("oracle", None, SPEC), 1.5, size=(128, 128))
    assert 10 < r["ticks_per_s"] <= 31 and r["ticks"] > 15
    assert r["frame_p90_ms"] < 1000 and r["step_p50_ms"] > 0
    assert r["walked_m"] > 0.5                     # held forward for 1.5 s (walking is 1.5 m/s or so)
    h = paced_play(lambda: Session("oracle", None, SPEC), 1.0, [np.array([0.1, 0, 0, 0, 0])], size=(128, 128))
    assert 10 < h["ticks_per_s"] <= 31


@pytest.mark.parametrize("here,busy,want", [(2, 0.0, 2), (2, 1.0, 2), (2, 2.0, 1), (8, 6.0, 3), (8, 0.1, 8), (1, 0.9, 1)])
def test_generator_threads_are_the_free_cores_plus_one(monkeypatch, here, busy, want):
    from worldloop.runtime import cores
    monkeypatch.setattr(cores, "cores_here", lambda: here)
    monkeypatch.setattr(cores, "busy_cores", lambda sample_s=0.2: busy)
    threads, why = cores.generator_threads()
    assert threads == want
    assert f"{here} core(s) here, {busy:.1f} busy" in why


@pytest.fixture(scope="module")
def tiny_drawer(tmp_path_factory):
    from worldloop.worldgen.model.drawer import DRAW_IN_CHANNELS
    from worldloop.worldgen.model.network import DrawNet
    from worldloop.worldgen.model.train_drawer import save_drawer
    torch.manual_seed(2)
    net = DrawNet(DRAW_IN_CHANNELS)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("drawer") / "drawer"
    save_drawer(path, net, {"step": 0, "res": TINY.res})
    return path.with_suffix(".json")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_play_with_a_drawer_saves_loads_and_names_it(backend, tiny_checkpoint, tiny_drawer, tmp_path):
    acts = script(60)
    plain = Session(backend, tiny_checkpoint, SPEC)
    straight = Session(backend, tiny_checkpoint, SPEC, drawer=tiny_drawer)
    assert "+drawer-" in straight.backend.model_id and "+drawer-" not in plain.backend.model_id
    for a in acts:
        straight.step(a)
        plain.step(a)
    assert frame_digest(straight.frame) != frame_digest(plain.frame)      # the drawer drew
    first = Session(backend, tiny_checkpoint, SPEC, drawer=tiny_drawer)
    for a in acts[:30]:
        first.step(a)
    save = first.save(tmp_path / "t30.wlsave")
    with pytest.raises(SaveError, match="made with model"):
        Session(backend, tiny_checkpoint, SPEC, load=save)               # not without the drawer it was made with
    resumed = Session(backend, tiny_checkpoint, SPEC, load=save, drawer=tiny_drawer)
    for a in acts[30:]:
        resumed.step(a)
    assert frame_digest(resumed.frame) == frame_digest(straight.frame)


def test_a_drawer_of_another_resolution_is_refused(tiny_checkpoint, tmp_path):
    import json
    from worldloop.worldgen.model.checkpoint import CheckpointError
    from worldloop.worldgen.model.drawer import DRAW_IN_CHANNELS
    from worldloop.worldgen.model.network import DrawNet
    from worldloop.worldgen.model.train_drawer import save_drawer
    save_drawer(tmp_path / "d128", DrawNet(DRAW_IN_CHANNELS), {"step": 0, "res": 128})
    assert json.loads((tmp_path / "d128.json").read_text())["res"] == 128
    with pytest.raises(CheckpointError, match="d128.json: field res"):
        Session("torch", tiny_checkpoint, SPEC, drawer=tmp_path / "d128.json")


def test_starts_on_one_thread_share_one_gl_context(tiny_checkpoint, monkeypatch):
    import threading

    import moderngl
    from worldloop.runtime.glcontext import thread_context
    made = []
    real = moderngl.create_standalone_context
    monkeypatch.setattr(moderngl, "create_standalone_context", lambda *a, **k: made.append(1) or real(*a, **k))
    for backend, ck in (("torch", tiny_checkpoint), ("torch", tiny_checkpoint), ("oracle", None), ("oracle", None)):
        Session(backend, ck, SPEC)
    assert len(made) <= 1                                  # at most this thread's first
    here = thread_context()
    other = []
    t = threading.Thread(target=lambda: other.append(thread_context()))
    t.start()
    t.join()
    assert thread_context() is here and other[0] is not here


@pytest.mark.parametrize("backend", ["oracle", "torch"])
def test_every_backend_is_a_generator_with_stats(backend, tiny_checkpoint):
    from worldloop.runtime.backends import Generator
    s = Session(backend, tiny_checkpoint if backend == "torch" else None, SPEC)
    assert isinstance(s.backend, Generator)
    for a in script(20):
        s.step(a)
    st = s.backend.stats()
    assert st["tick"] == 20 and len(st["keyframe_poses"]) == st["keyframes"]
    assert (st["keyframes"] > 0) == (backend == "torch")


def test_the_compare_view_and_the_memory_map(tiny_checkpoint, tmp_path):
    from worldloop.runtime.compare import heat, memory_map, psnr
    acts = script(40)
    r = run_headless(Session("torch", tiny_checkpoint, SPEC), 40, acts, size=(384, 128), compare=True,
                     show_memory=True)
    assert 5 < r["psnr_mean"] < 60                       # a tiny untrained model is not the truth
    o = run_headless(Session("oracle", None, SPEC), 10, acts, size=(384, 128), compare=True)
    assert o["psnr_mean"] == 99.0                        # the oracle is
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    h = heat(a, b)
    assert h[0, 0].min() == 255 and h[1:, 1:].max() == 0 and psnr(a, a) == 99.0
    m = memory_map({"keyframe_poses": [(10.0, 0.0, 0.0), (0.0, -10.0, 0.0)], "in_use": [1]},
                   Pose(0.0, 0.0, 0.0, 0.0, 0.0), size=100, reach_m=50.0)
    assert tuple(m[50, 60, :3]) == (150, 150, 150)       # 10 m east: grey, not in use
    assert tuple(m[40, 50, :3]) == (255, 210, 40)        # 10 m north (-z) up: in use, yellow
    assert tuple(m[50, 50, :3]) == (255, 255, 255)       # the player


@pytest.mark.parametrize("backend", ["oracle", "torch"])
def test_the_action_recorded_is_the_one_applied(backend, tiny_checkpoint, tmp_path):
    from worldloop.worldgen.actionlog import read_action_log
    s = Session(backend, tiny_checkpoint if backend == "torch" else None, SPEC, record=tmp_path / "r")
    wild = np.array([5.0, -5.0, 0.0, 3.0, -3.0])            # far outside the trained range
    before = s.frame.pose
    s.step(wild)
    log_path, _ = s.close()
    applied = read_action_log(log_path).actions[0].as_array()
    assert np.allclose(applied, s.config.clamp_action(wild))
    assert s.frame.pose == apply_action(before, Action.from_array(applied))
