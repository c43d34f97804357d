"""The fuzzer: every loader a user's file meets refuses mutated files cleanly; and the fuzzer sees failures."""
import json
import subprocess
import sys
import time

from worldloop.runtime import fuzz
from worldloop.worldgen.errors import FileRefused


def test_no_mutated_file_crashes_hangs_or_runs_away_with_memory(tmp_path):
    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, "-m", "worldloop", "fuzz", "--cases", "200", "--seed", "11", "--quiet",
                           "--out", str(out)], capture_output=True, text=True, timeout=240)
    rep = json.loads(out.read_text())
    assert len(rep["kinds"]) >= 15 and all(k["cases"] == 200 for k in rep["kinds"].values())
    assert rep["failures"] == 0, proc.stdout
    assert proc.returncode == 0
    # the mutations reach past the first check: some files still load, most are refused
    assert all(k["refused"] > 0 for n, k in rep["kinds"].items() if n != "engine_sidecar")
    assert sum(k["loaded"] for k in rep["kinds"].values()) > 200


def test_the_fuzzer_counts_crashes_and_hangs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.json").write_text('{"a": 1, "b": [2, 3]}')
    calls = []

    def loader(d):
        calls.append(1)
        k = len(calls) % 3
        if k == 0:
            raise KeyError("a")                        # a crash
        if k == 1:
            raise FileRefused("refused")
        time.sleep(5)                                  # a hang, cut at 2 s
    import signal
    old = signal.signal(signal.SIGALRM, fuzz._on_alarm)
    try:
        r = fuzz._run_kind("x", src, "f.json", loader, tmp_path / "work", 6, 0, None)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert (r.cases, r.refused, r.crashes, r.hangs) == (6, 2, 2, 2)
    assert r.examples[0]["what"].startswith(("KeyError", "hang"))


def test_mutations_are_seeded_and_reach_inside_zips():
    import numpy as np
    a = fuzz.mutate(b'{"x": 12, "y": "name"}', True, np.random.default_rng(3))
    b = fuzz.mutate(b'{"x": 12, "y": "name"}', True, np.random.default_rng(3))
    assert a == b
    import io
    import zipfile
    buf = io.BytesIO()
    np.savez(buf, v=np.arange(10))
    m = fuzz.mutate_zip_entry(buf.getvalue(), np.random.default_rng(0))
    with zipfile.ZipFile(io.BytesIO(m)) as z:
        assert z.testzip() is None                       # the zip is sound: its entry was changed
