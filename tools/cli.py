"""`worldloop`: the command line. Each subcommand parses its flags and calls one library function."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUNDLED = Path(__file__).resolve().parent.parent / "worldgen" / "model" / "weights" / "bundled.json"


def _scene(arg):
    from worldloop.scenes import resolve
    from worldloop.worldgen.procedural.spec import load_spec
    return load_spec(resolve(arg))


def cmd_flythrough(args):
    from tqdm import tqdm
    from worldloop.worldgen.procedural.showcase import flythrough
    spec = _scene(args.scene)
    out = Path(args.out)
    ticks = int(args.seconds * 30)
    with tqdm(total=ticks + 1, unit="frame", desc=f"fly-through of {spec.name}") as bar:
        mp4, png = flythrough(spec, out / "flythrough.mp4", out / "flythrough.png", args.seconds, args.res,
                              progress=bar.update)
    print(f"wrote {mp4} and {png}")


def cmd_gallery(args):
    from worldloop.worldgen.procedural.showcase import biome_gallery
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)     # before the work, not after it
    print(f"wrote {biome_gallery(args.out, args.seed, args.res)}")


def cmd_data_gen(args):
    from worldloop.worldgen.procedural.dataset import DatasetConfig, generate
    cfg = DatasetConfig(scenes=args.scenes, frames_per_scene=args.frames_per_scene, res=args.res,
                        base_seed=args.seed)
    m = generate(cfg, args.out, args.shard, args.workers, show_progress=not args.quiet)
    print(f"{args.out}: {len(m['shards'])}/{cfg.scenes} scenes, {m['frames']} frames"
          + ("" if m["complete"] else " (other shards still to come)"))


def cmd_data_check(args):
    from worldloop.worldgen.procedural.dataset import check_dataset
    manifest, problems = check_dataset(args.dir)
    for p in problems:
        print(p)
    print(f"{args.dir}: {len(manifest['shards'])} shards, {manifest['frames']} frames, "
          f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def cmd_bench_render(args):
    from worldloop.worldgen.procedural.bench import bench_render
    spec = _scene(args.scene)
    rows = bench_render(spec, tuple(args.sizes), args.frames)
    print(f"ground-truth render, scene '{spec.name}' ({spec.biome}), batches of 64, readback included")
    print(f"{'res':>9} {'frames':>7} {'seconds':>8} {'frames/s':>9}")
    for r in rows:
        print(f"{r['res']:>4}x{r['res']:<4} {r['frames']:>7} {r['seconds']:>8.2f} {r['fps']:>9.1f}")


def cmd_train(args):
    from worldloop.worldgen.model.train import load_train_config, train
    final = train(load_train_config(args.config), show_progress=not args.quiet, start_from=args.start_from,
                  device=args.device)
    if final:
        print(f"wrote {final}")


def cmd_tour(args):
    from worldloop.runtime.app import Game, PlayOptions, has_display, run_headless, summary_line
    from worldloop.runtime.bindings import Bindings
    from worldloop.runtime.session import Session
    from worldloop.runtime.tour import compile_tour, load_tour, tour_scene
    from worldloop.worldgen.procedural.world import World
    tour = load_tour(args.tour)
    spec = tour_scene(tour)
    if not args.headless and not has_display():
        print("worldloop: no display found (DISPLAY is not set). Run headless instead: "
              f"worldloop tour {args.tour} --headless --video out/tour.mp4", file=sys.stderr)
        return 2
    backend, threads, checkpoint = _backend_threads_checkpoint(args)
    session_cfg = Session.config_for(backend, checkpoint)
    compiled = compile_tour(tour, World(spec), session_cfg)
    print(f"tour '{tour.title}' in scene '{spec.name}': {len(tour.stops)} stops, "
          f"{len(compiled.actions) / session_cfg.tick_hz:.0f} s")

    def make_session():
        return Session(backend, checkpoint, spec, start_pose=compiled.start, threads=threads)

    if args.headless:
        from worldloop.worldgen.interrupts import stop_flag
        with stop_flag() as stop:
            session = make_session()
            try:
                result = run_headless(session, len(compiled.actions), compiled.actions, args.video,
                                      size=args.window or (640, 480), stop=stop, captions=compiled.captions)
            finally:
                session.close()
        print(summary_line(result))
        if stop.requested:
            print(f"worldloop: stopped by {stop.signal} after tick {result['ticks']}; what was written is kept",
                  file=sys.stderr)
        return 130 if stop.requested else 0
    opts = PlayOptions(window=args.window or (960, 720), fullscreen=args.fullscreen,
                       kiosk_idle_s=tour.kiosk_idle_s if args.kiosk else None)
    result = Game(make_session, Bindings(), opts, compiled.actions, compiled.captions).run()
    print(summary_line(result))
    return 0


def _backend_threads_checkpoint(args) -> tuple[str, int | None, str | None]:
    """The backend `auto` or --backend picks, the generator's threads from the cores free (both said why), and
    the checkpoint (the oracle needs one only for its resolution and action range)."""
    from worldloop.runtime.backends import select_backend
    backend, why = select_backend(args.backend)
    print(why)
    threads = None
    if backend in ("onnx", "torch"):
        from worldloop.runtime.cores import generator_threads
        threads, why_threads = generator_threads()
        print(why_threads)
    checkpoint = args.checkpoint or str(BUNDLED)
    if backend == "oracle" and args.checkpoint is None and not BUNDLED.exists():
        checkpoint = None
    return backend, threads, checkpoint


def cmd_serve(args):
    from worldloop.runtime.serve import serve
    from worldloop.runtime.session import Session
    backend, threads, checkpoint = _backend_threads_checkpoint(args)
    spec, start, tour, idle = _scene(args.scene), None, None, 30.0
    if args.tour:
        from worldloop.runtime.tour import compile_tour, load_tour, tour_scene
        from worldloop.worldgen.procedural.world import World
        t = load_tour(args.tour)
        spec = tour_scene(t)
        compiled = compile_tour(t, World(spec), Session.config_for(backend, checkpoint))
        start, tour, idle = compiled.start, (compiled.actions, compiled.captions), t.kiosk_idle_s
        print(f"tour '{t.title}': walked in a loop; the guide's input takes over, and after {idle:g} idle "
              f"seconds the tour goes on")
    error = serve(lambda: Session(backend, checkpoint, spec, start_pose=start, threads=threads), args.host,
                  args.port, args.size, tour=tour, idle_s=idle)
    return 1 if error is not None else 0


def cmd_train_drawer(args):
    from worldloop.worldgen.model.train_drawer import train_drawer
    data = Path(args.data)
    if not (data / "train").is_dir():
        raise ValueError(f"{data}: no train/ folder; make the data with worldloop train --config "
                         f"worldgen/model/configs/bundled.toml (or worldloop data gen)")
    print(f"wrote {train_drawer(data, Path(args.out), args.steps, args.batch, adv_weight=args.adv_weight, progress=not args.quiet)}")
    return 0


def cmd_eval(args):
    from worldloop.worldgen.model.evaluate import run_eval
    if (args.paths is None) == (args.suite is None):
        raise ValueError("give exactly one of --paths and --suite")
    if args.suite == "explore" or args.explore:
        return cmd_eval_explore(args)
    report = run_eval(args.checkpoint, args.paths, args.suite, args.out, args.plot, args.strip,
                      show_progress=not args.quiet, invent=False if args.no_invent else None, settle=not args.no_settle)
    s = report["summary"]["steps"]
    print(f"{'tick':>5} {'paths':>5} {'model':>7} {'seen':>7} {'new':>7} {'copy':>7} {'warpchain':>9} {'sharp':>6}")
    for t, row in s.items():
        print(f"{t:>5} {row['paths']:>5} {row['model_psnr']:>7.2f} {row['model_psnr_seen']:>7.2f} "
              f"{row['model_psnr_new']:>7.2f} {row['copy_psnr']:>7.2f} {row['warpchain_psnr']:>9.2f} "
              f"{row['sharpness_ratio']:>6.2f}")
    for cat, lp in report["summary"]["loops"].items():
        print(f"loop {cat}: PSNR at return {lp['psnr_return']:.2f} dB, self-consistency {lp['self_consistency']:.2f} dB")
    for name, t in report["targets"].items():
        print(f"target {name}: {t['value']:.2f} {'met' if t['met'] else 'NOT met'}")
    return 0


def cmd_eval_explore(args):
    from worldloop.worldgen.model.explore import run_explore
    report = run_explore(args.checkpoint, args.paths, args.out, args.plot, args.sheets, args.before,
                         show_progress=not args.quiet, invent=False if args.no_invent else None, settle=not args.no_settle,
                         sample_every=args.sample_every, samples_dir=args.samples, drawer=args.drawer)
    s = report["summary"]
    print(f"explore: {s['frames']} frames sampled, {100 * s['never_seen_share']:.1f}% of their pixels never seen; "
          f"PSNR over seen pixels {_fmt(s['psnr_seen'])} dB")
    for region in ("whole", "never_seen"):
        row = s[region]
        for scale in ("full", "quarter"):
            ok = row.get(f"c2st_{scale}_calibrated")
            print(f"{region:>10} C2ST {scale:>7}: generated {_fmt(row.get(f'c2st_{scale}'))}, calibration: "
                  f"true vs true {_fmt(row.get(f'c2st_{scale}_true_vs_true'))}, true vs blurred "
                  f"{_fmt(row.get(f'c2st_{scale}_true_vs_blurred'))}"
                  + ("" if ok else "  (calibration failed: this test is too weak to count)"))
        print(f"{region:>10} Frechet {_fmt(row.get('frechet'))} (true vs true {_fmt(row.get('frechet_true_vs_true'))}),"
              f" top octave {_fmt(row['top_octave_ratio'])}x, upright {_fmt(row['upright_ratio'])}x, copying "
              f"{_fmt(row['copy_share'])} (true {_fmt(row['copy_share_true'])}), streaks rows "
              f"{_fmt(row['streak_rows_ratio'])}x cols {_fmt(row['streak_cols_ratio'])}x")
    for name, t in report["targets"].items():
        print(f"target {name}: {_fmt(t['value'])} {'met' if t['met'] else 'NOT met'}")
    return 0


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def cmd_bench_step(args):
    import torch
    from worldloop.worldgen.model.bench import bench_step
    from worldloop.worldgen.model.generator import TorchNet, load_torch_net
    from worldloop.worldgen.procedural.render import GroundTruthRenderer
    from worldloop.worldgen.procedural.trajectories import random_walk
    from worldloop.worldgen.procedural.noise import seed_rng
    _auto_threads(args)
    torch.set_num_threads(args.threads)
    cfg, net, _ = load_torch_net(args.checkpoint)
    spec = _scene(args.scene)
    renderer = GroundTruthRenderer(spec)
    world = renderer.world
    traj = random_walk(world, world.spawn_pose(), args.steps + 10, seed_rng(spec.seed, 0x5E))
    r = bench_step(cfg, TorchNet(net), renderer.render(traj.start, cfg.intrinsics), traj.actions)
    print(f"generator step, torch eager, {args.threads} threads, {cfg.res}x{cfg.res}, geometry and memory included")
    print(f"  p50 {r['p50_ms']:.1f} ms   p90 {r['p90_ms']:.1f} ms   over {r['steps']} steps")
    print(f"  prepare (warps, memory, inputs) {r['prepare_p50_ms']:.1f} ms, network {r['network_p50_ms']:.1f} ms, "
          f"finish {r['finish_p50_ms']:.1f} ms; {r['memory_keyframes']} keyframes in memory at the end")
    import os
    print(f"  OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}: "
          + ("torch's threads sleep between ticks, as in play (they do not fight other work for the cores)"
             if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "torch's threads spin"))


def cmd_play(args):
    from worldloop.runtime.app import Game, PlayOptions, has_display, run_headless, summary_line
    from worldloop.runtime.bindings import Bindings, load_bindings
    from worldloop.runtime.session import Session
    from worldloop.worldgen.actionlog import ActionLogError, read_action_log
    from worldloop.worldgen.files import clean_stale_temps
    from worldloop.worldgen.interrupts import stop_flag
    from worldloop.worldgen.procedural.spec import resolve_start_frame, spec_from_dict
    if not args.headless and not has_display():
        print("worldloop: no display found (DISPLAY is not set). Run headless instead: "
              "worldloop play --headless --ticks 300 --video out/play.mp4", file=sys.stderr)
        return 2
    backend, threads, checkpoint = _backend_threads_checkpoint(args)
    spec, start, actions = _scene(args.scene), None, None
    if args.replay:
        log = read_action_log(args.replay)
        spec = resolve_start_frame(spec_from_dict(log.scene, f"{args.replay}:scene"), Path(args.replay),
                                   ActionLogError, "scene.start_frame")     # a picture scene's files lie beside it
        start, actions = log.start, [a.as_array() for a in log.actions]

    def make_session():
        session = Session(backend, checkpoint, spec, record=args.record, load=args.load, start_pose=start,
                          ort_provider=args.ort_provider, threads=threads, drawer=args.drawer)
        if args.replay and abs(log.tick_hz - session.config.tick_hz) > 1e-9:
            raise ValueError(f"{args.replay}: field tick_hz is {log.tick_hz:g}, but the model ticks at "
                             f"{session.config.tick_hz:g} Hz: its actions would mean other motions")
        return session

    from worldloop.runtime.app import default_dir
    for folder in {Path(p).parent for p in (args.record, args.video) if p} | {default_dir("saves")}:
        clean_stale_temps(folder)          # what a killed run left half-written
    stereo = _stereo_options(args)
    if args.headless:
        with stop_flag() as stop:
            session = make_session()
            ticks = args.ticks if args.ticks is not None else (len(actions) if actions is not None else 300)
            try:
                result = run_headless(session, ticks, actions, args.video, size=args.window or (512, 512),
                                      hud=args.hud, stop=stop, stereo=stereo, compare=args.compare,
                                      show_memory=args.memory_map)
            finally:
                paths = session.close()
        if paths:
            print(f"recorded {paths[0]} and {paths[1]}")
        if stop.requested:
            print(f"worldloop: stopped by {stop.signal} after tick {result['ticks']}; what was written is kept",
                  file=sys.stderr)
        print(summary_line(result))
        return 130 if stop.requested else 0
    bindings = load_bindings(args.bindings) if args.bindings else Bindings()
    opts = PlayOptions(window=args.window or (960, 720), fullscreen=args.fullscreen, input_source=args.input,
                       stereo=stereo, compare=args.compare, memory_map=args.memory_map)
    result = Game(make_session, bindings, opts, actions).run()
    print(summary_line(result))
    return 0


def _stereo_options(args):
    """The stereo options of `play`, or None; bad values end with one line naming the option."""
    from worldloop.runtime.stereo import StereoOptions
    if args.stereo is None:
        for flag in ("ipd", "lens", "vignette", "fixed_horizon", "snap_turn"):
            if getattr(args, flag) not in (None, False):
                raise ValueError(f"--{flag.replace('_', '-')} goes with --stereo sbs")
        return None
    if args.snap_turn is not None and args.headless:
        raise ValueError("--snap-turn turns the player's view: it needs the window, not --headless")
    return StereoOptions(mode=args.stereo, ipd_m=0.064 if args.ipd is None else args.ipd, lens=args.lens,
                         vignette=0.0 if args.vignette is None else args.vignette, fixed_horizon=args.fixed_horizon,
                         snap_turn_deg=args.snap_turn)


def _window(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        assert 64 <= w <= 8192 and 64 <= h <= 8192
        return w, h
    except (ValueError, AssertionError):
        raise argparse.ArgumentTypeError(f"--window wants WxH such as 960x720, got {text!r}") from None


def cmd_bench_serve(args):
    from worldloop.runtime.bench import bench_serve
    print(f"worldloop serve through headless Chromium: {args.seconds:g} s of frames, then {args.presses} key "
          f"presses timed from the page to the first frame that applied them")
    for backend in args.backends:
        bench_serve(backend, args.checkpoint if backend != "oracle" else None, args.scene, args.seconds, args.presses)
    return 0


def _out_dir(text: str) -> Path:
    out = Path(text)
    out.mkdir(parents=True, exist_ok=True)          # before the work, not after it
    return out


def cmd_agents(args):
    import json
    from tqdm import tqdm
    from worldloop import agents
    from worldloop.env import WorldEnv
    out = _out_dir(args.out)
    ck = args.checkpoint
    if args.agents_cmd in ("random", "goal"):
        task = "explore" if args.agents_cmd == "random" else "reach"
        env = WorldEnv(args.scene, task=task, backend=args.backend, checkpoint=ck, observe=("rgb",),
                       max_steps=args.ticks, render_mode="rgb_array")
        agent = agents.RandomAgent(env.action_space, args.seed) if args.agents_cmd == "random" else \
            agents.GoalSeeker(lambda: env.task, env.action_space.high)
        video = out / f"{args.agents_cmd}_agent.mp4"
        returns = agents.run_agent(env, agent, args.episodes, args.seed, video)
        goal = f" (goal: the {env.task.name} at {env.task.goal[0]:.1f}, {env.task.goal[1]:.1f})" \
            if args.agents_cmd == "goal" else ""
        env.close()
        print(f"{args.agents_cmd} agent, task {task}{goal}: returns {[round(r, 2) for r in returns]}; wrote {video}")
    elif args.agents_cmd == "evaluate":
        pol = agents.scripted_policies()
        total = 2 * len(args.seeds) * args.ticks
        with tqdm(total=total, unit="tick", desc=f"{len(pol)} policies, generated world then oracle") as bar:
            res = agents.evaluate_policies(args.scene, args.task, args.seeds, args.ticks, args.backend, ck,
                                           progress=bar.update)
        (out / "evaluate.json").write_text(json.dumps(res, indent=1))
        png = agents.plot_evaluation(res, out / "evaluate.png")
        for name, g, o in zip(res["policies"], res["generated"], res["oracle"]):
            print(f"  {name:12s} generated {g:8.3f}   oracle {o:8.3f}")
        print(f"Spearman rank correlation of the {len(pol)} policies' returns: {res['spearman']:.3f} (of the "
              f"ones that react to what they see: {res['spearman_seeing']:.3f}); wrote {out / 'evaluate.json'} "
              f"and {png}")
    else:
        with tqdm(total=args.timesteps, unit="step", desc="PPO on the discrete keys") as bar:
            res = agents.learn(args.scene, args.timesteps, args.seed, args.backend, ck, progress=bar.update)
        (out / "learn.json").write_text(json.dumps(res, indent=1))
        png = agents.plot_learning(res, out / "learn.png")
        rets = [r for _, r in res["episodes"]]
        k = max(1, len(rets) // 5)
        print(f"{len(rets)} episodes in {res['seconds']:.0f} s; mean return of the first {k} "
              f"{sum(rets[:k]) / k:.2f}, of the last {k} {sum(rets[-k:]) / k:.2f}; wrote {png}")
    return 0


def cmd_bench_env(args):
    from worldloop.agents import bench_env
    print(f"worldloop.env: a vector of N worlds (one network call a tick) against N separate environments "
          f"stepped in turn, {args.ticks} ticks each, scene '{args.scene}'")
    bench_env(args.n, args.ticks, args.scene, args.backend, args.checkpoint)
    if args.busy:
        bench_env(args.n, args.ticks, args.scene, args.backend, args.checkpoint, busy=True)
    return 0


def cmd_bench_busy(args):
    from worldloop.runtime.bench import bench_busy
    from worldloop.worldgen.procedural.noise import seed_rng
    from worldloop.worldgen.procedural.trajectories import random_walk
    from worldloop.worldgen.procedural.world import World
    spec = _scene(args.scene)
    world = World(spec)
    actions = [a.as_array() for a in random_walk(world, world.spawn_pose(), 900, seed_rng(7)).actions]
    print(f"headless play held to 30 ticks/s for {args.seconds:g} s a case (a generator step and an offscreen "
          f"draw a tick), quiet and beside a process that keeps one core busy; scene '{spec.name}'")
    bench_busy(args.backends, args.checkpoint, spec, actions, args.seconds)
    return 0


def cmd_bench_soak(args):
    from tqdm import tqdm
    from worldloop.runtime.bench import bench_soak
    from worldloop.runtime.cores import generator_threads
    from worldloop.runtime.session import Session
    from worldloop.worldgen.procedural.noise import seed_rng
    from worldloop.worldgen.procedural.trajectories import random_walk
    from worldloop.worldgen.procedural.world import World
    spec = _scene(args.scene)
    world = World(spec)
    walk = [a.as_array() for a in random_walk(world, world.spawn_pose(), 3000, seed_rng(5)).actions]
    threads, why = generator_threads()
    print(f"{args.ticks} ticks of the {args.backend} generator in '{spec.name}' ({why})")
    with tqdm(total=args.ticks, unit="tick", desc="soak", disable=args.quiet) as bar:
        r = bench_soak(lambda: Session(args.backend, args.checkpoint, spec, threads=threads), args.ticks,
                       walk, bar.update)
    print(f"resident memory {r['rss_mb_at_tenth']:.0f} MB at tick {args.ticks // 10}, {r['rss_mb_end']:.0f} MB at "
          f"the end: growth {100 * r['growth']:+.1f}% (target under 5%); {r['nan_frames']} frame(s) with NaN; "
          f"step p50 {r['step_p50_ms']:.1f} ms, p90 {r['step_p90_ms']:.1f} ms")
    return 0 if r["growth"] < 0.05 and r["nan_frames"] == 0 else 1


def cmd_bench_loop(args):
    from worldloop.runtime.bench import loop_cost, turn_latency
    from worldloop.runtime.session import Session
    checkpoint = args.checkpoint or (str(BUNDLED) if BUNDLED.exists() else None)
    spec = _scene(args.scene)
    make = lambda: Session(args.backend, checkpoint, spec)  # noqa: E731
    cost = loop_cost(make, args.frames, args.window)
    size = "x".join(str(v) for v in args.window)
    for case, what in (("turning", "walking and turning every frame, so every frame is drawn"),
                       ("still", "standing still: drawn only when a new frame or HUD text arrives")):
        c = cost[case]
        print(f"loop cost per displayed frame ({size}, no generator, 60 Hz), {what}; {c['frames']} frames, "
              f"{100 * c['drawn_share']:.0f}% drawn:")
        print(f"  update (input, fixed ticks, actions sent): p50 {c['update_p50_ms']:.3f} ms, "
              f"p90 {c['update_p90_ms']:.3f} ms")
        print(f"  update and the draw calls (reprojection, upscale, HUD): p50 {c['cpu_p50_ms']:.2f} ms, "
              f"p90 {c['cpu_p90_ms']:.2f} ms")
        print(f"  with the rasteriser's drawing finished (glFinish): p50 {c['p50_ms']:.2f} ms, "
              f"p90 {c['p90_ms']:.2f} ms, mean {c['mean_ms']:.2f} ms")
        print(f"  CPU time of the loop's own thread in that (not the rasteriser's threads): "
              f"p50 {c['thread_cpu_p50_ms']:.2f} ms, p90 {c['thread_cpu_p90_ms']:.2f} ms")
    lat = turn_latency(make, args.trials, size=args.window)
    for k in ("with_reprojection", "without_reprojection"):
        r = lat[k]
        print(f"turn latency {k.replace('_', ' ')} ({args.backend} generator running, {size}): "
              f"mean {r['mean_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms over {r['trials']} turns "
              f"(one display frame = {lat['display_frame_ms']:.1f} ms)")


def cmd_export(args):
    from worldloop.trt_engines.export import export_drawer_onnx, export_onnx
    out = export_drawer_onnx(args.drawer, args.out) if args.drawer else export_onnx(args.checkpoint, args.out)
    print(f"wrote {out} and {out.with_suffix('.onnx.json')}")


def cmd_engines(args):
    from worldloop.trt_engines import tensorrt_engine as te
    cache = Path(args.engine_dir) if args.engine_dir else te.default_cache_dir()
    if args.engines_cmd == "list":
        rows = te.list_engines(cache)
        print(f"{cache}: {len(rows)} engine(s)")
        for m in rows:
            print(f"  {m.get('key', '?')}  {m.get('precision', '?')}  {m.get('gpu', '?')}  TensorRT "
                  f"{m.get('tensorrt', '?')}  {'ok' if m['ok'] else m.get('problem')}")
    elif args.engines_cmd == "clean":
        print(f"{cache}: removed {te.clean_engines(cache)} engine(s)")
    else:
        from worldloop.runtime.backends.onnx_backend import ensure_onnx
        onnx_path, _ = ensure_onnx(args.checkpoint)
        try:
            engine = te.build_engine(onnx_path, args.precision, cache)
        except te.TensorRTUnavailable as e:
            print(f"worldloop: {e}", file=sys.stderr)
            return 2
        print(f"engine {engine}")
    return 0


def cmd_fuzz(args):
    import json as _json
    from tqdm import tqdm
    from worldloop.runtime.fuzz import report, run_fuzz
    kinds = args.kinds.split(",") if args.kinds else None
    bar = tqdm(unit="case", desc="fuzz", disable=args.quiet)
    results = run_fuzz(kinds, args.cases, args.seed, progress=lambda kind, s: (bar.set_postfix_str(kind),
                                                                                bar.update()))
    bar.close()
    rep = report(results)
    print(f"{'kind':<20} {'cases':>7} {'loaded':>7} {'refused':>8} {'crashes':>8} {'hangs':>6} {'memory':>7}")
    for r in results:
        print(f"{r.kind:<20} {r.cases:>7} {r.loaded:>7} {r.refused:>8} {r.crashes:>8} {r.hangs:>6} {r.memory:>7}")
        for e in r.examples:
            print(f"    case {e['case']}: {e['what']} at {e['where']}")
    print(f"{rep['failures']} failure(s) in {sum(r.cases for r in results)} cases")
    if args.out:
        from worldloop.worldgen.files import atomic_write_text
        atomic_write_text(args.out, _json.dumps(rep, indent=1))
    return 1 if rep["failures"] else 0


def _auto_threads(args) -> int:
    """--threads, or the cores free now (runtime/cores.py), said in a line."""
    if args.threads is None:
        from worldloop.runtime.cores import generator_threads
        args.threads, why = generator_threads()
        print(why)
    return args.threads


def cmd_bench_generator(args):
    import os
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # torch's idle OpenMP threads would slow ONNX Runtime
    from worldloop.trt_engines.bench import bench_generator
    from worldloop.worldgen.procedural.noise import seed_rng
    from worldloop.worldgen.procedural.render import GroundTruthRenderer
    from worldloop.worldgen.procedural.trajectories import random_walk
    spec = _scene(args.scene)
    renderer = GroundTruthRenderer(spec)
    world = renderer.world
    traj = random_walk(world, world.spawn_pose(), args.steps + 10, seed_rng(spec.seed, 0x6E))
    rows = bench_generator(args.checkpoint, lambda cfg: renderer.render(traj.start, cfg.intrinsics), traj.actions,
                           _auto_threads(args))
    print(f"generator tick (geometry + memory + network), {args.threads} threads, {args.steps} ticks of a walk")
    print(f"{'res':>7} {'runtime':>7} {'p50 ms':>7} {'p90 ms':>7} {'net ms':>7} {'GMAC':>6} {'GMAC/s':>7}")
    for r in rows:
        print(f"{r['res']:>3}x{r['res']:<3} {r['runtime']:>7} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
              f"{r['network_p50_ms']:>7.2f} {r['gmac']:>6.3f} {r['gmac_per_s']:>7.1f}")
    for res in (64, 128):
        t = {r["runtime"]: r for r in rows if r["res"] == res}
        print(f"{res}x{res}: ONNX Runtime is {t['torch']['p50_ms'] / t['onnx']['p50_ms']:.2f}x faster per tick than "
              f"torch eager ({t['torch']['network_p50_ms'] / t['onnx']['network_p50_ms']:.2f}x on the network alone)")


def cmd_scene(args):
    from worldloop.worldgen.procedural import authoring as au
    from worldloop.worldgen.procedural.spec import load_spec
    from worldloop.scenes import resolve
    c = args.scene_cmd
    if c == "new":
        out = Path(args.out) if args.out else au.user_scene_dir() / f"{args.name or args.biome + str(args.seed)}.toml"
        spec = au.new_scene(args.biome, args.seed, args.set or [], args.name or out.stem)
        print(f"wrote {au.save_scene(spec, out)}")
    elif c == "show":
        spec = load_spec(resolve(args.scene))
        rows = au.describe(spec)
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
    elif c == "preview":
        spec = load_spec(resolve(args.scene))
        out = args.out or f"{Path(str(resolve(args.scene))).stem}.png"
        print(f"wrote {au.preview(spec, out, args.res)}")
    elif c == "list":
        for origin, name, path in au.list_scenes():
            spec = load_spec(path)
            print(f"{origin:<8} {name:<16} {spec.biome:<8} seed {spec.seed:<11} {path}")
    elif c == "validate":
        spec = load_spec(resolve(args.scene))
        from worldloop.worldgen.procedural.world import World
        pose = World(spec).spawn_pose()
        print(f"{resolve(args.scene)}: valid ({spec.biome}, seed {spec.seed}); spawn at x {pose.x:.1f} z {pose.z:.1f}")
    elif c == "capture":
        spec = au.capture(args.save, args.name)
        print(f"wrote {au.save_scene(spec, args.out)}")
    elif c == "edit":
        from worldloop.runtime.editor import run_editor
        run_editor(resolve(args.scene), args.out)
    elif c == "from-image":
        from worldloop.runtime.from_image import scene_from_image
        print(f"wrote {scene_from_image(args.image, args.out, args.checkpoint or str(BUNDLED))}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Bad flags give one line naming the command and the flag, and status 2, before any work starts."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_in(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {v}")
        return v
    return parse


def _float_in(lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not lo < v <= hi:          # NaN fails both
            raise argparse.ArgumentTypeError(f"must be above {lo:g} and at most {hi:g}, got {text}")
        return v
    return parse


def _checkpoint(text: str) -> str:
    """A checkpoint is X, X.json or X.safetensors; anything else (an ONNX file, say) is refused as given."""
    p = Path(text)
    if p.suffix and p.suffix not in (".json", ".safetensors"):
        raise argparse.ArgumentTypeError(f"{text}: a checkpoint is X.json or X.safetensors (with its twin beside "
                                         f"it), not a {p.suffix} file")
    return text


TICKS = _int_in(1, 10_000_000)
RES = _int_in(16, 2048)
COUNT = _int_in(1, 1_000_000)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="worldloop", description="Explore worlds that a neural network generates.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pl = sub.add_parser("play", help="play a generated world in a window (or headless to a video)")
    pl.add_argument("scene", nargs="?", help="scene TOML file or bundled scene name (default: default)")
    pl.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch", "trt", "oracle"],
                    help="generator backend; auto picks TensorRT on an NVIDIA GPU, else ONNX Runtime, else torch")
    pl.add_argument("--checkpoint", type=_checkpoint, help="model checkpoint (default: the bundled model)")
    pl.add_argument("--drawer", help="a trained drawer (worldloop train-drawer; drawer.json) that draws what is "
                    "due once, after the network (torch and onnx backends)")
    pl.add_argument("--ort-provider", default="cpu", choices=["cpu", "cuda", "tensorrt"],
                    help="with --backend onnx: ONNX Runtime's execution provider (cuda and tensorrt need a GPU)")
    pl.add_argument("--load", help="start from a save game (.wlsave)")
    pl.add_argument("--record", help="write OUT.ndjson (the actions) and OUT.mp4 (the frames)")
    pl.add_argument("--replay", help="play back an action log (.ndjson)")
    pl.add_argument("--headless", action="store_true", help="no window: render offscreen")
    pl.add_argument("--ticks", type=TICKS, help="with --headless: ticks to run (default: the replay's length or 300)")
    pl.add_argument("--video", help="with --headless: write what the display shows to this mp4")
    pl.add_argument("--hud", action="store_true", help="with --headless: draw the HUD into the video")
    pl.add_argument("--fullscreen", action="store_true")
    pl.add_argument("--compare", action="store_true", help="the classroom's split screen: the model | the true "
                    "frame at the same pose | their difference as a heat map, with the PSNR (procedural scenes)")
    pl.add_argument("--memory-map", action="store_true", help="a map of the spatial memory's keyframes in the "
                    "corner (those in use yellow)")
    pl.add_argument("--stereo", choices=["sbs"], help="two eyes side by side from each generated frame, each "
                    "reprojected with depth to its own pose at the display's rate (docs/stereo.md)")
    pl.add_argument("--ipd", type=float, help="with --stereo: the distance between the eyes in metres, 0.04-0.08 "
                    "(default 0.064)")
    pl.add_argument("--lens", action="store_true", help="with --stereo: barrel and chromatic correction for a phone "
                    "in a cardboard viewer")
    pl.add_argument("--vignette", type=float, help="with --stereo: darken the edges while moving, 0-1 (comfort)")
    pl.add_argument("--fixed-horizon", action="store_true", help="with --stereo: a faint level line at the horizon "
                    "(comfort)")
    pl.add_argument("--snap-turn", type=float, metavar="DEG", help="with --stereo: turn in steps of 30-45 degrees "
                    "(comfort)")
    pl.add_argument("--window", type=_window, help="window size WxH (default 960x720; headless 512x512)")
    pl.add_argument("--bindings", help="key bindings TOML (see docs/formats.md)")
    pl.add_argument("--input", default="pygame", choices=["pygame", "pynput"],
                    help="pynput listens globally: for kiosks and VR, where the window may not have focus")
    pl.set_defaults(func=cmd_play)

    sc = sub.add_parser("scene", help="make, show, preview, list, validate, edit and capture scene seeds")
    ss = sc.add_subparsers(dest="scene_cmd", required=True)
    s_new = ss.add_parser("new", help="a new scene from a biome's defaults")
    s_new.add_argument("--biome", required=True, choices=["meadow", "forest", "desert", "snow", "coast", "village",
                                                          "ruins"])
    s_new.add_argument("--seed", type=int, required=True)
    s_new.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a parameter, e.g. --set terrain.amplitude_m=20 --set time_of_day_h=18")
    s_new.add_argument("--name")
    s_new.add_argument("--out", help="TOML file (default: the user scene folder)")
    for name, helptext in (("show", "its parameters as a table"), ("validate", "check a scene and its spawn")):
        p_ = ss.add_parser(name, help=helptext)
        p_.add_argument("scene")
    s_prev = ss.add_parser("preview", help="contact sheet: the spawn's view N/E/S/W and a top-down map")
    s_prev.add_argument("scene")
    s_prev.add_argument("--out")
    s_prev.add_argument("--res", type=RES, default=256)
    ss.add_parser("list", help="bundled and user scenes")
    s_cap = ss.add_parser("capture", help="turn a save game into a scene seed at the place the player stood")
    s_cap.add_argument("save")
    s_cap.add_argument("--out", required=True)
    s_cap.add_argument("--name")
    s_edit = ss.add_parser("edit", help="an editor window on the ground-truth world: fly, tweak, set the spawn, save")
    s_edit.add_argument("scene")
    s_edit.add_argument("--out", help="where F2 saves (default: the scene file itself)")
    s_img = ss.add_parser("from-image", help="a scene whose start frame is a picture (neural backends only)")
    s_img.add_argument("image")
    s_img.add_argument("--out", required=True)
    s_img.add_argument("--checkpoint", type=_checkpoint)
    sc.set_defaults(func=cmd_scene)

    f = sub.add_parser("flythrough", help="render a walk through a scene to an mp4 and a contact sheet")
    f.add_argument("scene", nargs="?", help="scene TOML file or bundled scene name (default: default)")
    f.add_argument("--out", default="out", help="folder for flythrough.mp4 and flythrough.png (default: out)")
    f.add_argument("--seconds", type=_float_in(0, 3600), default=20.0, help="length of the walk (default: 20)")
    f.add_argument("--res", type=RES, default=256, help="frame size in pixels (default: 256)")
    f.set_defaults(func=cmd_flythrough)

    g = sub.add_parser("gallery", help="a contact sheet of every biome seen from its spawn")
    g.add_argument("--out", default="docs/biomes.png")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--res", type=RES, default=192)
    g.set_defaults(func=cmd_gallery)

    d = sub.add_parser("data", help="make and check training datasets").add_subparsers(dest="data_cmd",
                                                                                       required=True)
    dg = d.add_parser("gen", help="render dataset shards (one per scene); resumes, skipping finished shards")
    dg.add_argument("--scenes", type=COUNT, required=True, help="number of scenes (biomes in turn)")
    dg.add_argument("--frames-per-scene", type=_int_in(1, 10_000_000), required=True, help="frames rendered in each scene")
    dg.add_argument("--res", type=RES, default=128, help="square frame size in pixels (default: 128)")
    dg.add_argument("--out", required=True, help="dataset folder")
    dg.add_argument("--shard", help="render only scenes with index %% N == i, given as i/N")
    dg.add_argument("--workers", type=_int_in(1, 256), default=1, help="parallel render processes (default: 1)")
    dg.add_argument("--seed", type=int, default=0, help="base seed of the scene seeds (default: 0)")
    dg.add_argument("--quiet", action="store_true", help="no progress bar")
    dg.set_defaults(func=cmd_data_gen)
    dc = d.add_parser("check", help="validate a dataset folder: manifest, hashes, shapes, poses")
    dc.add_argument("dir")
    dc.set_defaults(func=cmd_data_check)

    t = sub.add_parser("train", help="train the world model (generates its data first if needed); resumable")
    t.add_argument("--config", required=True, help="training config TOML ([train] and [model] tables)")
    t.add_argument("--start-from", metavar="CHECKPOINT",
                   help="take this checkpoint's weights as the first stage's result and run only the adversarial "
                        "stage (train.adv_steps); the model configs must agree")
    t.add_argument("--device", default="cpu",
                   help="where the networks train: cpu (default) or cuda (an NVIDIA GPU, e.g. for "
                        "worldgen/model/configs/gpu256.toml); the geometry stays on the CPU")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    to = sub.add_parser("tour", help="a scripted walk with captions at its stops, for a class (docs/teaching.md); "
                        "P pauses and resumes; --kiosk loops and lets a visitor take over")
    to.add_argument("tour", help="a tour file (TOML, docs/formats.md), e.g. scenes/tours/village.toml")
    to.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch", "trt", "oracle"])
    to.add_argument("--checkpoint", type=_checkpoint, help="model checkpoint (default: the bundled model)")
    to.add_argument("--kiosk", action="store_true", help="loop the tour; a visitor's keys or mouse take over, and "
                    "after the tour's kiosk_idle_s idle seconds it starts again")
    to.add_argument("--headless", action="store_true", help="no window: render offscreen (with --video)")
    to.add_argument("--video", help="with --headless: write the tour, captions and all, to this mp4")
    to.add_argument("--window", type=_window, help="window size WxH (default 960x720; headless 640x480)")
    to.add_argument("--fullscreen", action="store_true")
    to.set_defaults(func=cmd_tour)

    sv = sub.add_parser("serve", help="the live world in a web browser (phone, headset, classroom): frames over a "
                        "WebSocket, keys/mouse/touch/gamepad/device orientation back; the first page drives, "
                        "the others follow")
    sv.add_argument("scene", nargs="?", help="scene TOML file or bundled scene name (default: default)")
    sv.add_argument("--port", type=_int_in(1, 65535), default=8080, help="port (default 8080)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 lets a phone on "
                         "the network in, and says how to reach it)")
    sv.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch", "trt", "oracle"])
    sv.add_argument("--checkpoint", type=_checkpoint, help="model checkpoint (default: the bundled model)")
    sv.add_argument("--size", type=_int_in(64, 2048), default=512, help="pixels a side of each eye's picture "
                    "(default 512)")
    sv.add_argument("--tour", help="walk this tour (TOML) in a loop, its captions on every page; the guide's "
                    "input takes over, and the tour goes on after its kiosk_idle_s idle seconds")
    sv.set_defaults(func=cmd_serve)

    td = sub.add_parser("train-drawer", help="train the drawer (a network that draws what is due once: never "
                        "seen, or seen only from more than twice as far) on pairs of frames rendered in the "
                        "training scenes; resumable")
    td.add_argument("--data", default="runs/bundled/data",
                    help="a dataset folder whose train/ shards name the scenes (default: the bundled model's, "
                         "made by worldloop train)")
    td.add_argument("--out", default="runs/drawer", help="output folder (drawer.json, drawer.safetensors, state)")
    td.add_argument("--steps", type=_int_in(1, 10 ** 6), default=1500, help="training steps (default 1500)")
    td.add_argument("--batch", type=_int_in(1, 256), default=8, help="pairs a step (default 8)")
    td.add_argument("--adv-weight", type=_float_in(0, 100), default=0.3,
                    help="weight of the discriminator's loss beside L1 (default 0.3)")
    td.add_argument("--quiet", action="store_true", help="no progress bar")
    td.set_defaults(func=cmd_train_drawer)

    e = sub.add_parser("eval", help="run a checkpoint open loop on paths against ground truth, with baselines")
    e.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED),
                   help="checkpoint (X.json / X.safetensors); default: bundled")
    e.add_argument("--paths", help="an action log (.ndjson) or a folder of them")
    e.add_argument("--suite", choices=["standard", "explore"],
                   help="a built-in suite on held-out seeds: 'standard' (PSNR against tick, loops) or 'explore' "
                        "(31 long paths into never-seen places, judged for realism: C2ST, Frechet distance, "
                        "spectrum, structure, copying, streaks; about 40 minutes on 2 cores)")
    e.add_argument("--explore", action="store_true", help="judge --paths with the explore suite's measures")
    e.add_argument("--sheets", help="explore: a folder for one contact sheet per path (true over generated)")
    e.add_argument("--before", help="explore: an earlier explore report, for the Frechet target (half of it)")
    e.add_argument("--samples", metavar="DIR",
                   help="explore: keep each path's sampled frames in DIR and reuse those the same weights, rules "
                        "and path made, so the measures can be rerun without generating again")
    e.add_argument("--sample-every", type=_int_in(1, 10_000), default=8,
                   help="explore: measure every N ticks of each path's late half (default 8)")
    e.add_argument("--out", help="report JSON")
    e.add_argument("--plot", help="report PNG: PSNR against tick, model and baselines")
    e.add_argument("--strip", help="PNG strip of generated frames over ground truth along a loop")
    e.add_argument("--no-invent", action="store_true",
                   help="without the far-detail fill of new edge strips (worldgen/model/invent.py) even where the model "
                        "config asks for it (exemplar_fill), for comparison")
    e.add_argument("--drawer", help="explore: a trained drawer (worldloop train-drawer; drawer.json) that draws "
                   "what is due after the network, in place of the far-detail fill")
    e.add_argument("--no-settle", action="store_true",
                   help="apply the network's colour correction to every pixel, settled or not (step.decode), "
                        "for comparison")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    x = sub.add_parser("export", help="export the checkpoint's network to ONNX (static shapes, checked, sidecar)")
    x.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
    x.add_argument("--out", help="ONNX file (default: beside the checkpoint, X.onnx)")
    x.add_argument("--drawer", help="export this trained drawer (drawer.json) instead of the checkpoint")
    x.set_defaults(func=cmd_export)

    en = sub.add_parser("engines", help="TensorRT engines in the cache folder: build, list, clean")
    en.add_argument("engines_cmd", choices=["build", "list", "clean"])
    en.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
    en.add_argument("--precision", default="fp16", choices=["fp16", "fp32"])
    en.add_argument("--engine-dir", help="cache folder (default: ~/.cache/worldloop/engines)")
    en.set_defaults(func=cmd_engines)

    fz = sub.add_parser("fuzz", help="mutated files of every kind a user may receive through the loaders: "
                                     "crashes, hangs and runaway memory counted (status 1 if any)")
    fz.add_argument("--cases", type=COUNT, default=300, help="cases per kind (default 300)")
    fz.add_argument("--kinds", help="comma-separated kinds (default: all; an unknown one lists them)")
    fz.add_argument("--seed", type=_int_in(0, 2 ** 32 - 1), default=0)
    fz.add_argument("--out", help="report JSON")
    fz.add_argument("--quiet", action="store_true")
    fz.set_defaults(func=cmd_fuzz)

    ag = sub.add_parser("agents", help="example agents in the generated world: a random and a goal-seeking agent "
                        "(videos), scripted policies ranked against the oracle, a short PPO run").add_subparsers(
        dest="agents_cmd", required=True)
    for name, helptext in (("random", "a random agent exploring, to a video"),
                           ("goal", "an agent steering by its pose to the nearest landmark, to a video"),
                           ("evaluate", "12 scripted policies in the generated world and in the oracle: the "
                                        "Spearman rank correlation of their returns, with a plot"),
                           ("learn", "PPO (stable-baselines3) on the discrete keys for a few CPU minutes: the "
                                     "return as it rises, plotted")):
        a = ag.add_parser(name, help=helptext)
        a.add_argument("--scene", default="meadow", help="scene file or bundled name (default: meadow)")
        a.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch", "trt", "oracle"])
        a.add_argument("--checkpoint", type=_checkpoint, help="model checkpoint (default: the bundled model)")
        a.add_argument("--out", default="out/agents", help="folder for the videos, plots and JSON "
                       "(default: out/agents)")
        a.add_argument("--seed", type=_int_in(0, 2**31 - 1), default=0)
        if name in ("random", "goal"):
            a.add_argument("--episodes", type=_int_in(1, 1000), default=1)
            a.add_argument("--ticks", type=_int_in(1, 100_000), default=300, help="ticks an episode (default 300)")
        elif name == "evaluate":
            a.add_argument("--task", default="explore", choices=["explore", "reach", "follow"])
            a.add_argument("--seeds", type=_int_in(0, 2**31 - 1), nargs="+", default=[0, 1, 2],
                           help="spawns every policy starts from (default 0 1 2)")
            a.add_argument("--ticks", type=_int_in(1, 100_000), default=150, help="ticks an episode (default 150)")
        else:
            a.add_argument("--timesteps", type=_int_in(512, 10_000_000), default=8192,
                           help="environment steps (default 8192, about 5 minutes here)")
        a.set_defaults(func=cmd_agents)

    b = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_cmd", required=True)
    br = b.add_parser("render", help="ground-truth RGB-D frames/s at several resolutions")
    br.add_argument("--scene", help="scene file or bundled name (default: default)")
    br.add_argument("--sizes", type=RES, nargs="+", default=[64, 128, 256])
    br.add_argument("--frames", type=COUNT, default=384, help="frames timed per size (default: 384)")
    br.set_defaults(func=cmd_bench_render)
    bs = b.add_parser("serve", help="worldloop serve through a real headless Chromium: frames/s and input-to-frame "
                      "latency")
    bs.add_argument("--backends", nargs="+", default=["onnx", "oracle"], choices=["onnx", "torch", "oracle"])
    bs.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
    bs.add_argument("--scene", help="scene file or bundled name (default: default)")
    bs.add_argument("--seconds", type=_float_in(1, 600), default=20.0, help="seconds of frames (default 20)")
    bs.add_argument("--presses", type=_int_in(1, 1000), default=20, help="key presses timed (default 20)")
    bs.set_defaults(func=cmd_bench_serve)
    be = b.add_parser("env", help="worldloop.env: a vector of N worlds against N separate environments, frames/s")
    be.add_argument("--n", type=_int_in(1, 256), nargs="+", default=[1, 4, 16], help="world counts (default 1 4 16)")
    be.add_argument("--ticks", type=_int_in(1, 100_000), default=30, help="ticks timed a case (default 30)")
    be.add_argument("--scene", default="meadow", help="scene file or bundled name (default: meadow)")
    be.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch", "oracle"])
    be.add_argument("--checkpoint", type=_checkpoint, help="model checkpoint (default: the bundled model)")
    be.add_argument("--busy", action="store_true", help="then again beside a process that keeps one core busy")
    be.set_defaults(func=cmd_bench_env)
    bb = b.add_parser("busy", help="headless play at 30 ticks/s, quiet and beside a process that keeps a core busy")
    bb.add_argument("--backends", nargs="+", default=["onnx", "oracle"], choices=["onnx", "torch", "oracle"])
    bb.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
    bb.add_argument("--scene", help="scene file or bundled name (default: default)")
    bb.add_argument("--seconds", type=_float_in(0, 3600), default=30.0, help="seconds a case (default 30)")
    bb.set_defaults(func=cmd_bench_busy)
    bk = b.add_parser("soak", help="many ticks in a row: memory growth and NaN frames (status 1 past 5%% or any NaN)")
    bk.add_argument("--backend", default="onnx", choices=["onnx", "torch", "oracle"])
    bk.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
    bk.add_argument("--scene", help="scene file or bundled name (default: default)")
    bk.add_argument("--ticks", type=_int_in(10, 10_000_000), default=100_000)
    bk.add_argument("--quiet", action="store_true")
    bk.set_defaults(func=cmd_bench_soak)
    bl = b.add_parser("loop", help="the loop's own cost per frame, and turn latency with and without reprojection")
    bl.add_argument("--backend", default="torch", choices=["oracle", "torch", "onnx"])
    bl.add_argument("--checkpoint", type=_checkpoint, help="default: the bundled model")
    bl.add_argument("--scene", help="scene file or bundled name (default: default)")
    bl.add_argument("--frames", type=COUNT, default=600, help="display frames per case (default 600)")
    bl.add_argument("--trials", type=COUNT, default=20, help="view turns timed for the latency (default 20)")
    bl.add_argument("--window", type=_window, default=(960, 720), metavar="WxH",
                    help="window size the loop draws into (default 960x720, play's default)")
    bl.set_defaults(func=cmd_bench_loop)
    for name, helptext, steps, func in (
            ("generator", "ms per tick, torch eager against ONNX Runtime, at 64 and 128 px", 200, cmd_bench_generator),
            ("step", "ms per generator step with the torch network (geometry and memory included)", 300,
             cmd_bench_step)):
        bx = b.add_parser(name, help=helptext)
        bx.add_argument("--checkpoint", type=_checkpoint, default=str(BUNDLED))
        bx.add_argument("--scene", help="scene file or bundled name (default: default)")
        bx.add_argument("--steps", type=COUNT, default=steps)
        bx.add_argument("--threads", type=_int_in(1, 256), default=None,
                        help="network threads (default: the cores free now, as play chooses)")
        bx.set_defaults(func=func)
    return p


def main(argv=None) -> int:
    import os
    from worldloop.worldgen.interrupts import terminate_as_interrupt
    args = build_parser().parse_args(argv)
    terminate_as_interrupt()
    try:
        return _run(args)
    except KeyboardInterrupt as e:
        print(f"worldloop: interrupted ({e.args[0] if e.args else 'SIGINT'})",
              file=sys.stderr)
        return 130
    except BrokenPipeError:                 # `worldloop ... | head`: the reader left; end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _run(args) -> int:
    from worldloop.worldgen.actionlog import ActionLogError
    from worldloop.worldgen.model.checkpoint import CheckpointError
    from worldloop.worldgen.model.evaluate import EvalError
    from worldloop.worldgen.procedural.dataset import DatasetError
    from worldloop.worldgen.procedural.spec import SpecError
    from worldloop.runtime.backends import BackendUnavailable
    from worldloop.worldgen.saves import SaveError
    try:
        return args.func(args) or 0
    except EvalError as e:
        print(f"worldloop: evaluation failed: {e}", file=sys.stderr)
        return 1
    except (SpecError, DatasetError, ActionLogError, CheckpointError, SaveError, BackendUnavailable,
            FileNotFoundError, NotADirectoryError, ValueError) as e:
        print(f"worldloop: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
