"""Example agents in the generated world, policy evaluation against the oracle, a short PPO run, and the
vector environment's benchmark (`worldloop agents ...`, `worldloop bench env`).

- RandomAgent and GoalSeeker (steers by the pose toward the task's landmark) each write a video.
- evaluate_policies: scripted policies, some blind and some that react to what they see (depth, sky, green),
  run in the generated world and in the oracle (the true frames) on the same seeds; the Spearman rank
  correlation of their returns says whether the generated world ranks policies as the true one does.
- learn: stable-baselines3's PPO on the discrete keys for a few CPU minutes, the return plotted as it rises.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np


# --- agents -----------------------------------------------------------------------------------------------

class RandomAgent:
    """A uniformly random action of the env's action space each tick (seeded)."""

    def __init__(self, action_space, seed: int = 0):
        self.space = action_space
        self.space.seed(seed)

    def act(self, obs, info) -> np.ndarray:
        return self.space.sample()


class GoalSeeker:
    """Steers by the pose toward the task's goal (a ReachGoal landmark): turns toward its bearing, walks when
    it faces it within `cone_deg`."""

    def __init__(self, task, action_max, cone_deg: float = 20.0):
        self.task, self.amax, self.cone = task, np.asarray(action_max, np.float32), math.radians(cone_deg)

    def act(self, obs, info) -> np.ndarray:
        from .tasks import bearing
        from .worldgen.poses import Pose
        d, b = bearing(Pose.from_array(info["pose"]), *self.task().goal)
        a = np.zeros(5, np.float32)
        a[3] = float(np.clip(b * 0.5, -self.amax[3], self.amax[3]))
        if abs(b) < self.cone:
            a[0] = self.amax[0] * 0.6
        return a


def run_agent(env, agent, episodes: int = 1, seed: int = 0, video=None, scale: int = 2) -> list[float]:
    """Episodes of `agent` in `env`; the returns. With `video`, every frame (scaled up `scale` times) to an mp4."""
    from .worldgen.video import VideoWriter
    writer = None
    returns = []
    try:
        for e in range(episodes):
            obs, info = env.reset(seed=seed + e)
            total, done = 0.0, False
            while not done:
                if video is not None:
                    rgb = env.render()
                    rgb = np.repeat(np.repeat(rgb, scale, 0), scale, 1)
                    if writer is None:
                        writer = VideoWriter(video, rgb.shape[1], rgb.shape[0], env.metadata["render_fps"])
                    writer.write(rgb)
                obs, r, term, trunc, info = env.step(agent.act(obs, info))
                total += r
                done = term or trunc
            returns.append(total)
    finally:
        if writer is not None:
            writer.close()
    return returns


# --- scripted policies for evaluation ---------------------------------------------------------------------

BLIND = ("straight", "circle", "zigzag")


class Scripted:
    """A closed-loop policy on the frame and depth: `kind` is one of
    straight, circle, zigzag (blind: the same path in any world), avoid (turn away when the centre is nearer
    than `p` metres), open (turn toward the half that is deeper, gain `p`), sky (toward the half with more sky),
    green (toward the half with more green)."""

    def __init__(self, kind: str, p: float = 0.0, walk: float = 0.6):
        self.kind, self.p, self.walk = kind, p, walk
        self.name = kind if kind in ("straight", "circle", "zigzag", "sky", "green") else f"{kind} {p:g}"

    def act(self, rgb: np.ndarray, depth: np.ndarray, t: int, amax: np.ndarray) -> np.ndarray:
        a = np.zeros(5, np.float32)
        a[0] = amax[0] * self.walk
        turn = 0.0
        h, w = depth.shape
        mid = slice(h // 3, 2 * h // 3)
        if self.kind == "circle":
            turn = 0.5
        elif self.kind == "zigzag":
            turn = 0.8 if (t // 45) % 2 == 0 else -0.8
        elif self.kind == "avoid":
            centre = float(np.median(depth[mid, w // 3: 2 * w // 3]))
            turn = -1.0 if centre < self.p else 0.0
        elif self.kind == "open":
            left, right = float(np.log(depth[mid, : w // 2]).mean()), float(np.log(depth[mid, w // 2:]).mean())
            turn = float(np.clip(self.p * (left - right), -1, 1))
        elif self.kind in ("sky", "green"):
            f = rgb.astype(np.int16)
            if self.kind == "sky":
                mask = (f[..., 2] > f[..., 0] + 25) & (f[..., 2] > 120)
            else:
                mask = (f[..., 1] > f[..., 0] + 10) & (f[..., 1] > f[..., 2] + 10)
            left, right = mask[:, : w // 2].mean(), mask[:, w // 2:].mean()
            turn = float(np.clip(4.0 * (left - right), -1, 1))
        a[3] = turn * amax[3]
        return a


def scripted_policies() -> list[Scripted]:
    return [Scripted("straight"), Scripted("circle"), Scripted("zigzag"), Scripted("avoid", 4.0),
            Scripted("avoid", 8.0), Scripted("avoid", 16.0), Scripted("open", 0.5), Scripted("open", 2.0),
            Scripted("open", 6.0), Scripted("sky"), Scripted("green"), Scripted("open", -2.0)]


def spearman(a, b) -> float:
    """Spearman's rank correlation (ties get their mean rank); nan when either side has no spread."""
    def ranks(x):
        x = np.asarray(x, np.float64)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=np.float64)
        for v in np.unique(x):
            r[x == v] = r[x == v].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def evaluate_policies(scene="meadow", task="explore", seeds=(0, 1, 2), ticks: int = 150, backend: str = "auto",
                      checkpoint=None, policies=None, progress=None) -> dict:
    """Every policy on every seed, in the generated world and in the oracle: one vector of worlds (a world a
    policy, one network call a tick) per seed and world kind. Returns the mean return of each policy in each,
    and their Spearman rank correlation."""
    from .env import WorldVectorEnv
    policies = policies if policies is not None else scripted_policies()
    out = {"scene": scene, "task": task, "seeds": list(seeds), "ticks": ticks,
           "policies": [p.name for p in policies]}
    for kind, be in (("generated", backend), ("oracle", "oracle")):
        venv = WorldVectorEnv(len(policies), scene, task=task, backend=be, checkpoint=checkpoint,
                              observe=("rgb", "depth"), max_steps=ticks)
        amax = venv.single_action_space.high
        totals = np.zeros((len(seeds), len(policies)))
        for si, s in enumerate(seeds):
            obs, _ = venv.reset(seed=[s] * len(policies))       # every policy from the same spawn
            done = np.zeros(len(policies), bool)
            for t in range(ticks):
                acts = np.stack([p.act(obs["rgb"][i], obs["depth"][i], t, amax) for i, p in enumerate(policies)])
                obs, r, term, trunc, _ = venv.step(acts)
                totals[si] += np.where(done, 0.0, r)
                done |= term | trunc
                if progress is not None:
                    progress(1)
                if done.all():
                    break
        venv.close()
        out[kind] = totals.mean(0).round(4).tolist()
        out[f"{kind}_per_seed"] = totals.round(4).tolist()
    out["spearman"] = spearman(out["generated"], out["oracle"])
    seeing = [i for i, p in enumerate(policies) if p.kind not in BLIND]   # the blind walk the same path anywhere
    out["spearman_seeing"] = spearman([out["generated"][i] for i in seeing], [out["oracle"][i] for i in seeing]) \
        if len(seeing) >= 3 else None
    return out


def plot_evaluation(result: dict, path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=110)
    g, o = result["generated"], result["oracle"]
    ax.scatter(o, g, color="tab:blue")
    for name, x, y in zip(result["policies"], o, g):
        ax.annotate(name, (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
    lo, hi = min(min(g), min(o)), max(max(g), max(o))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("return in the oracle (true frames)")
    ax.set_ylabel("return in the generated world")
    seeing = result.get("spearman_seeing")
    ax.set_title(f"{len(g)} policies, task {result['task']} in {result['scene']}: Spearman {result['spearman']:.2f}"
                 + (f" (the {sum(1 for n in result['policies'] if n not in BLIND)} that see: {seeing:.2f})"
                    if seeing is not None else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- learning ---------------------------------------------------------------------------------------------

def learn(scene="meadow", timesteps: int = 8192, seed: int = 0, backend: str = "auto", checkpoint=None,
          progress=None) -> dict:
    """PPO (stable-baselines3) on the discrete keys, task: reach the nearest landmark within 12 m. The agent
    observes the task's bearing and distance to it (worldloop.tasks.ReachGoal.observe); the world steps
    its generated frames all the while. Returns the episode returns in order, with the step each ended at."""
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError:
        raise RuntimeError("worldloop agents learn needs stable-baselines3: pip install 'worldloop[agents]'") from None
    import gymnasium as gym
    from .env import DiscreteActions, WorldEnv
    from .tasks import ReachGoal
    env = gym.wrappers.RecordEpisodeStatistics(gym.wrappers.FlattenObservation(DiscreteActions(
        WorldEnv(scene, task=ReachGoal(max_m=12.0, min_m=5.0), backend=backend, checkpoint=checkpoint,
                 observe=("task",), max_steps=150))))
    episodes = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "episode" in info:
                    episodes.append((int(self.num_timesteps), float(info["episode"]["r"])))
            if progress is not None:
                progress(1)
            return True

    model = PPO("MlpPolicy", env, n_steps=512, batch_size=128, n_epochs=8, learning_rate=1e-3, gamma=0.98,
                seed=seed, verbose=0, device="cpu")
    t0 = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=Record())
    env.close()
    return {"scene": scene, "timesteps": timesteps, "seconds": round(time.perf_counter() - t0, 1),
            "episodes": episodes}


def plot_learning(result: dict, path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = np.array([s for s, _ in result["episodes"]])
    rets = np.array([r for _, r in result["episodes"]])
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(steps, rets, ".", alpha=0.4, label="episode return")
    if len(rets) >= 5:
        k = max(5, len(rets) // 10)
        ax.plot(steps[k - 1:], np.convolve(rets, np.ones(k) / k, "valid"), lw=2, label=f"mean of {k}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(f"PPO on the discrete keys, reach a landmark in {result['scene']} "
                 f"({result['seconds']:.0f} s on the CPU)", fontsize=10)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- benchmark --------------------------------------------------------------------------------------------

def bench_env(ns=(1, 4, 16), ticks: int = 30, scene="meadow", backend: str = "auto", checkpoint=None,
              show=print, busy: bool = False) -> list[dict]:
    """Frames a second of a vector of N worlds against N separate environments stepped in turn, the same
    actions, in one run; `busy`: beside a process that keeps one core busy (started and stopped here)."""
    from .runtime.bench import _busy_process
    proc = _busy_process() if busy else None
    try:
        if proc is not None:
            time.sleep(1.0)                      # let it take its core
        return _bench_env(ns, ticks, scene, backend, checkpoint, show, busy)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def _bench_env(ns, ticks, scene, backend, checkpoint, show, busy) -> list[dict]:
    from .env import WorldEnv, WorldVectorEnv
    rows = []
    for n in ns:
        rng = np.random.default_rng(0)
        venv = WorldVectorEnv(n, scene, backend=backend, checkpoint=checkpoint)
        high = venv.single_action_space.high
        acts = [(rng.uniform(-1, 1, (n, 5)) * high * np.array([1, 0.3, 0, 0.5, 0.2])).astype(np.float32)
                for _ in range(ticks + 3)]
        venv.reset(seed=0)
        for a in acts[:3]:
            venv.step(a)
        t0 = time.perf_counter()
        for a in acts[3:]:
            venv.step(a)
        vec = n * ticks / (time.perf_counter() - t0)
        venv.close()
        envs = [WorldEnv(scene, backend=backend, checkpoint=checkpoint) for _ in range(n)]
        for i, e in enumerate(envs):
            e.reset(seed=i)
        for a in acts[:3]:
            for i, e in enumerate(envs):
                e.step(a[i])
        t0 = time.perf_counter()
        for a in acts[3:]:
            for i, e in enumerate(envs):
                e.step(a[i])
        sep = n * ticks / (time.perf_counter() - t0)
        for e in envs:
            e.close()
        row = {"n": n, "vector_fps": round(vec, 1), "separate_fps": round(sep, 1), "ratio": round(vec / sep, 2),
               "one_core_busy": busy}
        rows.append(row)
        show(f"{'one core busy, ' if busy else ''}N = {n:2d}: vector {vec:6.1f} frames/s, {n} separate environments in turn {sep:6.1f} frames/s, "
             f"ratio {vec / sep:.2f}x")
    return rows
