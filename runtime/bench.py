"""`worldloop bench loop`: the loop's own cost per displayed frame, and input-to-display latency of a turn.

Both run the real LoopCore and Display offscreen (EGL), in real time. Latency: the camera stands still, a
mouse motion is injected, and the time until a drawn frame differs (read back from the framebuffer) is taken,
with reprojection on and off.
"""
from __future__ import annotations

import math
import time

import moderngl
import numpy as np

from worldloop.worldgen.poses import Action, Frame, apply_action
from worldloop.worldgen.procedural.render import make_current

from .app import LoopCore
from .bindings import Bindings
from .clock import FixedStep, RealClock
from .display import Display
from .input import ActionMapper, InputState
from .worker import GeneratorWorker, Published


class _StillWorker:
    """Stands in for the generator: every step is done at once, publishing the same picture at the step's new
    pose, so the loop runs as in play with no generator work. Measures the loop alone."""

    def __init__(self, session):
        self.session = session
        self._pub = Published(session.frame, 0, 0.0, 1)

    def pending(self) -> int:
        return 0

    def send(self, cmd, *args) -> None:
        if cmd == "step":
            action, step_id = args
            old = self._pub.frame
            frame = Frame(old.rgb, old.depth, apply_action(old.pose, Action.from_array(action)))
            self._pub = Published(frame, self._pub.tick + 1, 0.0, self._pub.serial + 1, step_id)

    def take(self) -> Published:
        return self._pub


def _started_worker(make_session) -> GeneratorWorker:
    worker = GeneratorWorker(make_session)
    worker.start()
    worker.ready.wait()
    if worker.error:
        raise worker.error
    return worker


def _core(worker, ctx, size):
    cfg = worker.session.config
    state = InputState()
    core = LoopCore(worker, Display(ctx, cfg), ActionMapper(Bindings(), cfg.tick_hz, cfg.action_max), state,
                    FixedStep(cfg.tick_hz))
    target = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    return core, state, target


def loop_cost(make_session, frames: int = 600, size=(960, 720)) -> dict:
    """ms per displayed frame of update + draw (GPU work finished), without the generator.

    "turning": the player walks and turns the mouse every frame, so every frame must be drawn (the worst case).
    "still": the player stands still; the window loop draws only when the picture would change, which is when
    a new frame arrives (every tick) or the HUD text changes, so frames between ticks cost only the update.
    """
    ctx = moderngl.create_standalone_context(backend="egl")
    session = make_session()
    make_current(ctx)
    out = {}
    for case in ("turning", "still"):
        core, state, target = _core(_StillWorker(session), ctx, size)
        if case == "turning":
            state.press("forward")                 # actions are mapped and sent every tick, as in play
        clock = RealClock()
        upd, cpu, total, thread, drawn, last = [], [], [], [], 0, clock.now()
        for _ in range(frames):
            if case == "turning":
                state.move_mouse(3.0, 0.0)
            c0 = time.thread_time()
            t0 = clock.now()
            core.update(t0 - last, t0)
            last = t0
            tu = clock.now()                 # input, ticks and actions done; drawing follows
            drawn += core.draw(target, size, t0, only_if_changed=True)
            t1 = clock.now()                 # the GL calls are made; what follows is the rasteriser finishing
            ctx.finish()
            thread.append(time.thread_time() - c0)     # CPU time of the loop's thread alone: not the rasteriser's
            upd.append(tu - t0)
            cpu.append(t1 - t0)
            total.append(clock.now() - t0)
            time.sleep(max(0.0, 1 / 60 - (clock.now() - t0)))     # at most 60 display frames a second, as in play
        u, c, t = np.array(upd[30:]) * 1000, np.array(cpu[30:]) * 1000, np.array(total[30:]) * 1000
        th = np.array(thread[30:]) * 1000
        out[case] = {"frames": len(t), "drawn_share": drawn / frames,
                     "update_p50_ms": float(np.percentile(u, 50)), "update_p90_ms": float(np.percentile(u, 90)),
                     "cpu_p50_ms": float(np.percentile(c, 50)), "cpu_p90_ms": float(np.percentile(c, 90)),
                     "p50_ms": float(np.percentile(t, 50)), "p90_ms": float(np.percentile(t, 90)),
                     "mean_ms": float(t.mean()),
                     "thread_cpu_p50_ms": float(np.percentile(th, 50)),
                     "thread_cpu_p90_ms": float(np.percentile(th, 90))}
    ctx.release()
    return out


def turn_latency(make_session, trials: int = 20, display_hz: float = 60.0, size=(480, 360)) -> dict:
    """Seconds from a mouse motion to the first displayed frame that shows it, with and without reprojection."""
    out = {}
    for reproject in (True, False):
        ctx = moderngl.create_standalone_context(backend="egl")
        worker = _started_worker(make_session)
        make_current(ctx)
        core, state, target = _core(worker, ctx, size)
        core.display.reproject = reproject
        clock = RealClock()
        rng = np.random.default_rng(0)
        lat, last = [], clock.now()
        row = (0, size[1] // 2, size[0], 1)
        for _ in range(trials):
            for _ in range(int(rng.integers(10, 25))):      # settle, then inject at a random moment
                last = _frame(core, target, size, clock, last, display_hz)
            before = target.read(viewport=row)
            t_in = clock.now()
            state.move_mouse(60.0, 0.0)                     # about 8.6 degrees to the right
            for _ in range(120):
                t0 = clock.now()
                core.update(t0 - last, t0)
                core.draw(target, size, t0)
                changed = target.read(viewport=row) != before      # the read waits for the drawing
                if changed:
                    lat.append(clock.now() - t_in)
                    break
                spare = 1.0 / display_hz - (clock.now() - t0)
                if spare > 0:
                    time.sleep(spare)
                last = t0
        worker.send("stop")
        worker.join(timeout=30)
        ctx.release()
        ms = np.array(lat) * 1000
        out["with_reprojection" if reproject else "without_reprojection"] = {
            "trials": len(ms), "mean_ms": float(ms.mean()), "p90_ms": float(np.percentile(ms, 90))}
    out["display_frame_ms"] = 1000.0 / display_hz
    return out


def _frame(core, target, size, clock, last, display_hz):
    t0 = clock.now()
    core.update(t0 - last, t0)
    core.draw(target, size, t0)
    core.display.ctx.finish()
    spare = 1.0 / display_hz - (clock.now() - t0)
    if spare > 0:
        time.sleep(spare)
    return t0


def _busy_process():
    """A process that keeps one core busy until killed (as a browser tab or a build would)."""
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def paced_play(make_session, seconds: float, actions, size=(512, 512)) -> dict:
    """Headless play held to the model's tick rate: each tick is one generator step and one display draw
    (offscreen), due every 1/tick_hz s; a tick that comes late is not made up (as the game drops lag). Returns
    ticks/s achieved and the tick's cost p50/p90."""
    from .display import Display
    ctx = moderngl.create_standalone_context(backend="egl")
    session = make_session()
    make_current(ctx)
    display = Display(ctx, session.config)
    screen = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    dt = 1.0 / session.config.tick_hz
    costs, i = [], 0
    t0 = time.perf_counter()
    due = t0
    while True:
        now = time.perf_counter()
        if now - t0 >= seconds:
            break
        if now < due:
            time.sleep(due - now)
            continue
        frame = session.step(actions[i % len(actions)])
        make_current(ctx)
        display.show(frame)
        display.draw(frame.pose, screen, size, None)
        ctx.finish()
        costs.append(time.perf_counter() - now)
        i += 1
        due += dt
        if time.perf_counter() - due > dt:        # behind by more than a tick: drop it
            due = time.perf_counter()
    session.close()
    ctx.release()
    ms = np.asarray(costs) * 1000
    return {"ticks": i, "ticks_per_s": i / seconds, "tick_p50_ms": float(np.percentile(ms, 50)),
            "tick_p90_ms": float(np.percentile(ms, 90))}


def window_play(make_session, seconds: float, display_hz: float = 60.0, size=(512, 512)) -> dict:
    """The window's loop without the window: the generator on its worker thread, the main thread drawing at
    `display_hz` (LoopCore, as `play` runs it), the player holding forward and turning slowly. Returns the
    ticks/s the generator delivered, the ticks it was too slow to take (their motion carried into the next),
    the length of the path walked (m), the step's p50/p90 as the worker timed it (sampled when the display
    took a new frame) and the display frame's p90."""
    ctx = moderngl.create_standalone_context(backend="egl")
    worker = None
    try:
        worker = _started_worker(make_session)
        make_current(ctx)
        core, state, target = _core(worker, ctx, size)
        core.hud_on = False
        state.press("forward")
        t0 = last = time.perf_counter()
        tick0, steps, frames, walked = worker.take().tick, [], [], 0.0
        seen, where = None, core.sent
        while last - t0 < seconds:
            f0 = time.perf_counter()
            state.move_mouse(0.5, 0.0)
            core.update(f0 - last, f0)
            core.draw(target, size, f0)
            ctx.finish()
            walked += math.hypot(core.sent.x - where.x, core.sent.z - where.z)
            where = core.sent
            pub = worker.take()
            if pub.serial != seen:
                seen = pub.serial
                steps.append(pub.step_ms)
            frames.append((time.perf_counter() - f0) * 1000)
            spare = 1.0 / display_hz - (time.perf_counter() - f0)
            if spare > 0:
                time.sleep(spare)
            last = f0
        elapsed = time.perf_counter() - t0
        ticks = worker.take().tick - tick0
    finally:
        if worker is not None:
            worker.send("stop")
            worker.join(timeout=30)
        ctx.release()
    steps = np.asarray(steps[1:] or [0.0])
    return {"ticks": ticks, "ticks_per_s": ticks / elapsed, "carried": core.dropped, "walked_m": walked,
            "step_p50_ms": float(np.percentile(steps, 50)), "step_p90_ms": float(np.percentile(steps, 90)),
            "frame_p90_ms": float(np.percentile(frames, 90))}


def bench_busy(backends, checkpoint, spec, actions, seconds: float = 30.0, show=print) -> list[dict]:
    """For each backend, quiet and beside a process that keeps one core busy (started and stopped here): headless
    play (`paced_play`: step and draw one after the other on one thread) and the window's loop (`window_play`:
    the generator on its worker thread, the display drawing beside it at 60 Hz). The generator's threads are
    chosen as `play` chooses them (cores.py: one more than the cores free, its threads sleeping when idle)."""
    from .cores import generator_threads
    from .session import Session
    rows = []
    for backend in backends:
        for case in ("quiet", "one core busy"):
            for loop in ("headless", "window"):
                busy = _busy_process() if case != "quiet" else None
                try:
                    time.sleep(1.0)                                   # let the busy process take its core
                    threads, why = generator_threads()
                    if backend == "oracle":
                        threads, why = None, "the oracle renders on the GPU path (llvmpipe here)"
                    make = lambda: Session(backend, checkpoint, spec, threads=threads)  # noqa: E731
                    row = paced_play(make, seconds, actions) if loop == "headless" else window_play(make, seconds)
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
                row.update(backend=backend, case=case, loop=loop, threads=threads, why=why)
                cost = (f"tick p50 {row['tick_p50_ms']:6.1f} ms   p90 {row['tick_p90_ms']:6.1f} ms" if loop == "headless"
                        else f"step p50 {row['step_p50_ms']:6.1f} ms   p90 {row['step_p90_ms']:6.1f} ms, "
                             f"frame p90 {row['frame_p90_ms']:5.1f} ms, walked {row['walked_m']:.1f} m")
                show(f"{backend:>6} {case:<14} {loop:<8} {row['ticks_per_s']:6.1f} ticks/s   {cost}   ({why})")
                rows.append(row)
    return rows


def _rss_mb() -> float:
    import resource
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def bench_soak(make_session, ticks: int, actions, progress=None) -> dict:
    """`ticks` generator steps in a row (no display): resident memory at a tenth of the way (the spatial
    memory is full by then: it holds at most memory_size keyframes) and at the end, and frames with NaN."""
    session = make_session()
    warm_at, warm_mb, nan_frames, ms = max(1, ticks // 10), None, 0, []
    for i in range(ticks):
        t0 = time.perf_counter()
        f = session.step(actions[i % len(actions)])
        ms.append((time.perf_counter() - t0) * 1000)
        if not (np.isfinite(f.depth).all() and np.isfinite(f.pose.as_array()).all()):
            nan_frames += 1
        if i + 1 == warm_at:
            warm_mb = _rss_mb()
        if progress:
            progress()
    end_mb = _rss_mb()
    session.close()
    return {"ticks": ticks, "rss_mb_at_tenth": warm_mb, "rss_mb_end": end_mb,
            "growth": (end_mb - warm_mb) / warm_mb, "nan_frames": nan_frames,
            "step_p50_ms": float(np.percentile(ms, 50)), "step_p90_ms": float(np.percentile(ms, 90))}


def bench_serve(backend: str, checkpoint, scene, seconds: float = 20.0, presses: int = 20, size: int = 512,
                show=print) -> dict:
    """`worldloop serve` through a real headless Chromium (Selenium, the system's chromium and chromedriver):
    frames a second the page receives, and input-to-frame latency (a key sent until a frame arrives whose world
    has applied it, measured in the page)."""
    import shutil
    import socket
    import subprocess
    import sys
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        raise RuntimeError("bench serve needs chromium and chromium-driver (tools/setup.sh installs them)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "worldloop", "serve", "--backend", backend, "--port", str(port), "--size", str(size)]
    if checkpoint:
        cmd += ["--checkpoint", str(checkpoint)]
    if scene:
        cmd.append(str(scene))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = None
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
        driver.get(f"http://127.0.0.1:{port}/")
        t_end = time.time() + 60
        while not driver.execute_script("return window.worldloop && window.worldloop.frames > 10"):
            if time.time() > t_end:
                raise RuntimeError("no frames reached the page")
            time.sleep(0.1)
        f0, t0 = driver.execute_script("return window.worldloop.frames"), time.time()
        time.sleep(seconds)
        fps = (driver.execute_script("return window.worldloop.frames") - f0) / (time.time() - t0)
        lat = []
        for i in range(presses):
            seq = driver.execute_script(      # forward pressed, then released: each a message the world applies
                """const s = window.worldloop; s.held = new Set(arguments[0] ? ['forward'] : []);
                s.seq += 1; s.sentAt[s.seq] = performance.now();
                s.ws.send(JSON.stringify({type: 'keys', held: [...s.held], seq: s.seq})); return s.seq;""", i % 2 == 0)
            t_end = time.time() + 10
            while True:
                got = driver.execute_script("const h = window.worldloop.last; return h.seq >= arguments[0] ? "
                                            "(h.latency_ms || null) : null;", seq)
                if got is not None or time.time() > t_end:
                    break
                time.sleep(0.005)
            if got is not None:
                lat.append(got)
            time.sleep(0.2)
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=30)
    lat = np.asarray(lat or [np.nan])
    row = {"backend": backend, "frames_per_s": fps, "latency_p50_ms": float(np.percentile(lat, 50)),
           "latency_p90_ms": float(np.percentile(lat, 90)), "presses": int(np.isfinite(lat).sum())}
    show(f"{backend:>6}: {fps:5.1f} frames/s in the page, input to frame p50 {row['latency_p50_ms']:6.1f} ms, "
         f"p90 {row['latency_p90_ms']:6.1f} ms ({row['presses']} presses)")
    return row
