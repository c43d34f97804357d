"""The example agents, the policy evaluation and its rank correlation, the PPO run, the env benchmark."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from worldloop import agents
from worldloop.env import WorldEnv

ROOT = Path(__file__).resolve().parents[2]


def test_spearman_ranks_with_ties():
    assert agents.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert agents.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert agents.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)
    assert math.isnan(agents.spearman([1, 1, 1], [1, 2, 3]))


def test_the_goal_seeker_reaches_its_landmark_and_writes_a_video(tmp_path):
    env = WorldEnv("meadow", task="reach", backend="oracle", max_steps=400, render_mode="rgb_array")
    (ret,) = agents.run_agent(env, agents.GoalSeeker(lambda: env.task, env.action_space.high), 1, 0,
                              tmp_path / "goal.mp4")
    assert ret > env.task.bonus                       # arrived: the bonus and the metres closed
    assert env.task.dist <= env.task.radius_m
    import imageio_ffmpeg
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "goal.mp4"))
    assert n == env.steps and n > 20
    (rnd,) = agents.run_agent(env, agents.RandomAgent(env.action_space, 0), 1, 0)
    assert rnd < ret
    env.close()


def test_the_same_world_twice_ranks_policies_alike():
    """Run against the oracle in both places, every policy gets the same return in each: the correlation
    is 1. (Against the generated world it is what `worldloop agents evaluate` measures.)"""
    pol = [agents.Scripted("straight"), agents.Scripted("circle"), agents.Scripted("open", 2.0),
           agents.Scripted("avoid", 8.0), agents.Scripted("sky")]
    res = agents.evaluate_policies("meadow", "explore", seeds=(0,), ticks=12, backend="oracle", policies=pol)
    assert res["generated"] == res["oracle"] and res["spearman"] == pytest.approx(1.0)
    assert len(set(res["oracle"])) > 2                 # the policies do differ


def test_agents_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "worldloop", "agents", "random", "--ticks", "20", "--out",
                           str(tmp_path), "--backend", "oracle"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert (tmp_path / "random_agent.mp4").stat().st_size > 1000 and "returns" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "worldloop", "agents", "evaluate", "--ticks", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--ticks" in proc.stderr


def test_a_short_ppo_run_records_its_episodes(tmp_path):
    pytest.importorskip("stable_baselines3")
    res = agents.learn("meadow", timesteps=512, backend="oracle")
    assert res["episodes"] and all(s <= 512 + 512 for s, _ in res["episodes"])
    png = agents.plot_learning(res, tmp_path / "learn.png")
    assert png.stat().st_size > 5000
    json.dumps(res)


def test_the_env_benchmark_reports_both_ways():
    lines = []
    (row,) = agents.bench_env(ns=(2,), ticks=3, backend="oracle", show=lines.append)
    assert row["n"] == 2 and row["vector_fps"] > 0 and row["separate_fps"] > 0
    assert "N =  2" in lines[0]
