"""How many threads the generator gets: from the cores actually free, plus one.

On a 2-core laptop with a browser open, a generator that takes both cores with threads that spin-wait for
work makes every call wait on the other process (the issue measured 1086 ms a step with torch's 2 spinning
threads against 52 ms with 1). So the generator's threads never spin (ONNX Runtime's intra-op spinning is
off, torch's OpenMP threads sleep: OMP_WAIT_POLICY=PASSIVE, set by `runtime` before torch loads), and their
number is the cores free just now (sampled from /proc/stat over a fifth of a second) plus one, at most the
cores here.

Why one more than the free cores: a thread that sleeps when idle costs the other process nothing while it
waits, and takes a share of the busy core when it runs, so the step ends sooner. Measured on a 2-core host
beside a process that keeps one core busy (docs/benchmarks.md, "Beside other work"): 27.7 ticks/s headless
with two threads against 25.0 with one, 24.3 against 22.3 in the window's loop. Nor is a core kept back for
the render thread: it draws a few ms a frame, and keeping a core from the generator for it cost more than it
gave (the window's loop, quiet: 25.4 ticks/s with one generator thread, 29.0 with two).
"""
from __future__ import annotations

import os
import time


def cores_here() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times() -> tuple[float, float] | None:
    try:
        with open("/proc/stat") as f:
            v = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0.0)     # idle + iowait
    return sum(v[:8]), idle


def busy_cores(sample_s: float = 0.2) -> float:
    """Cores kept busy by everything on the machine over the last `sample_s` seconds (0 where unknown)."""
    a = _cpu_times()
    if a is None:
        return 0.0
    time.sleep(sample_s)
    b = _cpu_times()
    total, idle = b[0] - a[0], b[1] - a[1]
    if total <= 0:
        return 0.0
    return (1.0 - idle / total) * (os.cpu_count() or 1)


def generator_threads(sample_s: float = 0.2) -> tuple[int, str]:
    """(threads, why) for the generator's network."""
    n = cores_here()
    busy = busy_cores(sample_s)
    free = min(n, max(0, int(round(n - busy))))
    threads = max(1, min(n, free + 1))
    why = (f"{threads} generator thread(s): {n} core(s) here, {busy:.1f} busy with other work"
           + (", one more than the free cores (its threads sleep when idle)" if threads > free else ""))
    return threads, why
