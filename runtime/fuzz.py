"""`worldloop fuzz`: mutated files through the project's own loaders, counting what is not a clean refusal.

For each kind of file a user may receive, a sound file is made by the project's own writer, then mutated
(seeded): bytes flipped, cut short, spliced; and, for text kinds, a number made huge, NaN or negative, a value
nested thousands deep, a name pointed outside its folder or at a special file, a line dropped, bytes that are
not UTF-8. Each case runs its loader (what play, eval or train would call) under a 2 s alarm and, for the whole
run, an address-space limit of the process's size plus 1 GB. Outcomes: loaded, refused (FileRefused, the
project's one error type), or a failure: crash (any other exception), hang (past 2 s) or memory (an
allocation past the limit). The target is no failure at all.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldloop.worldgen.errors import FileRefused

CASE_S = 2.0
MEMORY_HEADROOM = 1 << 30
EVIL_NUMBERS = ["1e400", "9" * 400, "NaN", "Infinity", "-1", "0", "1e308", "-1e308", "2147483648", "0.5",
                '"x"', "true", "[]", "{}", "null", "nan", "inf", "-inf"]
EVIL_NAMES = ["../outside.png", "/dev/zero", "/etc/hostname", "fifo", "", "a\\u0000b", "."]


class _Hang(BaseException):
    """Raised by the alarm: not an Exception, so no loader's `except Exception` can swallow it."""


@dataclass
class KindResult:
    kind: str
    cases: int = 0
    loaded: int = 0
    refused: int = 0
    crashes: int = 0
    hangs: int = 0
    memory: int = 0
    examples: list = field(default_factory=list)     # the first few failures: (case, what, where)

    @property
    def failures(self) -> int:
        return self.crashes + self.hangs + self.memory


# -- sound files, made by the project's own writers ----------------------------------------------------------
def _seed_files(root: Path) -> dict:
    """kind -> (folder of sound files, the file to mutate, loader(folder) -> None)."""
    from worldloop.runtime.bindings import load_bindings
    from worldloop.runtime.from_image import picture_frame
    from worldloop.worldgen.saves import read_save, write_save
    from worldloop.trt_engines import tensorrt_engine as te
    from worldloop.worldgen.actionlog import ActionLog, read_action_log, write_action_log
    from worldloop.worldgen.model.checkpoint import save_checkpoint
    from worldloop.worldgen.model.config import ModelConfig
    from worldloop.worldgen.model.generator import load_torch_net
    from worldloop.worldgen.model.train import load_train_config
    from worldloop.worldgen.poses import Action, Pose
    from worldloop.worldgen.procedural.spec import load_spec
    from PIL import Image
    import os
    kinds = {}

    def folder(name):
        d = root / name
        d.mkdir(parents=True)
        (root / "outside.png").write_bytes(b"outside")
        os.mkfifo(d / "fifo")
        return d

    d = folder("scene")
    shutil.copy(Path(__file__).resolve().parent.parent / "scenes" / "default.toml", d / "s.toml")
    kinds["scene"] = (d, "s.toml", lambda d: load_spec(d / "s.toml"))

    d = folder("picture")
    Image.new("RGB", (32, 32), (90, 140, 200)).save(d / "s.start.png")
    np.save(d / "s.depth.npy", np.full((32, 32), 10.0, np.float32))
    (d / "s.toml").write_text('seed = 1\nname = "s"\n[start_frame]\nrgb = "s.start.png"\ndepth = "s.depth.npy"\n')
    kinds["picture_toml"] = (d, "s.toml", lambda d: picture_frame(load_spec(d / "s.toml"), 32))
    d2 = root / "picture_png"
    shutil.copytree(d, d2, ignore=shutil.ignore_patterns("fifo"))
    kinds["picture_png"] = (d2, "s.start.png", lambda d: picture_frame(load_spec(d / "s.toml"), 32))
    d3 = root / "picture_npy"
    shutil.copytree(d, d3, ignore=shutil.ignore_patterns("fifo"))
    kinds["picture_npy"] = (d3, "s.depth.npy", lambda d: picture_frame(load_spec(d / "s.toml"), 32))

    d = folder("actionlog")
    rng = np.random.default_rng(0)
    write_action_log(ActionLog({"seed": 1, "biome": "meadow"}, Pose(0, 1.6, 0, 0, 0),
                               [Action(*rng.uniform(-0.1, 0.1, 5)) for _ in range(20)]), d / "a.ndjson")
    kinds["actionlog"] = (d, "a.ndjson", lambda d: read_action_log(d / "a.ndjson"))

    d = folder("save")
    arrays = {"prev_rgb": np.zeros((8, 8, 3), np.uint8), "memory_pose": np.zeros((2, 5))}
    write_save(d / "a.wlsave", {"seed": 1}, "m", "f" * 64, "torch", arrays, {"tick": 3, "pose": [0, 1, 0, 0, 0]})
    kinds["save"] = (d, "a.wlsave", lambda d: read_save(d / "a.wlsave"))

    d = folder("checkpoint")
    import torch
    from worldloop.worldgen.model.network import RefineNet
    cfg = ModelConfig(res=32, channels=(8, 8, 8), full_res_channels=4, film_hidden=8)
    torch.manual_seed(0)
    net = RefineNet(cfg)
    save_checkpoint(d / "m", {k: v.detach().numpy() for k, v in net.state_dict().items()}, cfg, {"step": 1})
    kinds["checkpoint_json"] = (d, "m.json", lambda d: load_torch_net(d / "m.json"))
    d2 = root / "checkpoint_weights"
    shutil.copytree(d, d2, ignore=shutil.ignore_patterns("fifo"))
    kinds["checkpoint_weights"] = (d2, "m.safetensors", lambda d: load_torch_net(_resign(d / "m.json")))

    d = folder("onnx")
    from worldloop.trt_engines.export import export_onnx, read_sidecar
    from worldloop.trt_engines.ort import check_session, make_session
    export_onnx(root / "checkpoint" / "m.json", d / "m.onnx")

    def load_onnx(d):
        read_sidecar(d / "m.onnx")
        check_session(make_session(d / "m.onnx", threads=1), d / "m.onnx", 32)
    kinds["onnx_sidecar"] = (d, "m.onnx.json", load_onnx)
    d2 = root / "onnx_model"
    shutil.copytree(d, d2, ignore=shutil.ignore_patterns("fifo"))
    kinds["onnx_model"] = (d2, "m.onnx", lambda d: load_onnx(_resign_onnx(d / "m.onnx")))

    d = folder("dataset")
    from worldloop.worldgen.procedural.dataset import DatasetConfig, check_dataset, generate, load_shard
    generate(DatasetConfig(scenes=1, frames_per_scene=24, res=32), d, show_progress=False)
    kinds["manifest"] = (d, "manifest.json", lambda d: check_dataset(d))
    d2 = root / "shard"
    shutil.copytree(d, d2, ignore=shutil.ignore_patterns("fifo"))
    kinds["shard"] = (d2, "scene_00000.npz", lambda d: load_shard(d / "scene_00000.npz"))

    d = folder("bindings")
    (d / "b.toml").write_text('mouse_sensitivity = 0.003\ninvert_y = false\n[keys]\nforward = ["w", "up"]\n')
    kinds["bindings"] = (d, "b.toml", lambda d: load_bindings(d / "b.toml"))

    d = folder("engine_sidecar")
    key = te.engine_key("c" * 64, "10.3.0", "NVIDIA L4", "fp16")
    te.write_engine(d, key, b"plan", {"precision": "fp16", "gpu": "NVIDIA L4", "tensorrt": "10.3.0",
                                      "onnx_sha256": "c" * 64})
    (d / "fifo").unlink()
    kinds["engine_sidecar"] = (d, f"{key}.json", lambda d: te.list_engines(d))

    d = folder("train_config")
    (d / "t.toml").write_text('[train]\ndata_dir = "data"\nout_dir = "run"\nsteps = 10\nbatch = 4\n'
                              '[model]\nres = 32\nchannels = [8, 16, 16]\n')
    kinds["train_config"] = (d, "t.toml", lambda d: load_train_config(d / "t.toml"))
    return kinds


def _resign(jpath: Path) -> Path:
    """A checkpoint whose weights were mutated, with the sidecar's digest made to match (so the weights'
    parser, not the digest, meets the mutation)."""
    from worldloop.worldgen.files import sha256_file
    side = json.loads(jpath.read_text())
    side["weights_sha256"] = sha256_file(jpath.with_suffix(".safetensors"))
    jpath.write_text(json.dumps(side))
    return jpath


def _resign_onnx(onnx: Path) -> Path:
    from worldloop.trt_engines.export import sidecar_path
    from worldloop.worldgen.files import sha256_file
    sp = sidecar_path(onnx)
    side = json.loads(sp.read_text())
    side["onnx_sha256"] = sha256_file(onnx)
    sp.write_text(json.dumps(side))
    return onnx


# -- mutations ---------------------------------------------------------------------------------------------
_NUMBER = re.compile(rb"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?")
_STRING = re.compile(rb'"[^"\n]{1,80}"')


def mutate(data: bytes, text: bool, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    ops = ["flip", "cut", "splice", "insert"] + (["number", "number", "nest", "name", "line", "utf8", "type"]
                                                 if text else [])
    for _ in range(int(rng.integers(1, 3))):
        op = ops[int(rng.integers(len(ops)))]
        if op == "flip" and b:
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(len(b)))
                b[i] ^= 1 << int(rng.integers(8))
        elif op == "cut" and b:
            b = b[:int(rng.integers(len(b)))]
        elif op == "splice" and len(b) > 2:
            i, j = sorted(int(v) for v in rng.integers(0, len(b), 2))
            k = int(rng.integers(len(b)))
            b = b[:k] + b[i:j] + b[k:]
        elif op == "insert":
            k = int(rng.integers(len(b) + 1))
            b = b[:k] + bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8)) + b[k:]
        elif op in ("number", "type"):
            found = list(_NUMBER.finditer(bytes(b)))
            if found:
                m = found[int(rng.integers(len(found)))]
                evil = EVIL_NUMBERS[int(rng.integers(len(EVIL_NUMBERS)))].encode()
                b = b[:m.start()] + evil + b[m.end():]
        elif op == "nest":
            depth = int(rng.choice([100, 1000, 5000, 100000]))
            found = list(_NUMBER.finditer(bytes(b)))
            k = found[int(rng.integers(len(found)))].start() if found else len(b)
            b = b[:k] + b"[" * depth + b"1" + b"]" * depth + b[k:]
        elif op == "name":
            found = list(_STRING.finditer(bytes(b)))
            if found:
                m = found[int(rng.integers(len(found)))]
                b = b[:m.start()] + json.dumps(EVIL_NAMES[int(rng.integers(len(EVIL_NAMES)))]).encode() + b[m.end():]
        elif op == "line":
            lines = bytes(b).split(b"\n")
            if len(lines) > 1:
                del lines[int(rng.integers(len(lines)))]
                b = bytearray(b"\n".join(lines))
        elif op == "utf8" and b:
            k = int(rng.integers(len(b)))
            b = b[:k] + b"\xff\xfe\xc3" + b[k:]
    return bytes(b)


def mutate_zip_entry(data: bytes, rng: np.random.Generator) -> bytes:
    """A zip (npz) with one entry mutated and the zip itself sound (CRCs right), so the mutation reaches the
    array and JSON parsers behind the zip layer: an array header made to promise another shape or dtype, its
    data cut, a JSON entry's numbers and nesting."""
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    name = list(entries)[int(rng.integers(len(entries)))]
    entry = entries[name]
    head = entry.find(b"\n", 10) + 1 if entry.startswith(b"\x93NUMPY") else 0
    if head and rng.random() < 0.6:          # the header: shape and dtype as text
        header = entry[:head]
        cut = header.rstrip(b" \n")
        new = mutate(cut, True, rng)
        pad = (64 - (len(new) + 1) % 64) % 64
        entries[name] = new + b" " * pad + b"\n" + entry[head:]
    else:
        entries[name] = mutate(entry, name.startswith("meta_json"), rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for k, v in entries.items():
            z.writestr(k, v)
    return out.getvalue()


# -- running -----------------------------------------------------------------------------------------------
def _on_alarm(*_):
    raise _Hang


def _limit_memory() -> None:
    import resource
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = size + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def run_fuzz(kinds: list[str] | None = None, cases: int = 200, seed: int = 0, progress=None,
             limit_memory: bool = True) -> list[KindResult]:
    """Mutate and load `cases` files per kind; returns a result per kind."""
    from worldloop.runtime.bindings import load_bindings  # noqa: F401  (imports before the memory limit is set)
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory(prefix="worldloop-fuzz-") as tmp:
        seeds = _seed_files(Path(tmp) / "seeds")
        todo = kinds or list(seeds)
        unknown = set(todo) - set(seeds)
        if unknown:
            raise ValueError(f"unknown fuzz kind(s) {', '.join(sorted(unknown))} (known: {', '.join(seeds)})")
        old = signal.signal(signal.SIGALRM, _on_alarm)
        if limit_memory:
            _limit_memory()
        try:
            for kind in todo:
                results.append(_run_kind(kind, *seeds[kind], Path(tmp) / "cases", cases, seed, progress))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    return results


def _run_kind(kind, src: Path, name: str, loader, work: Path, cases: int, seed: int, progress) -> KindResult:
    res = KindResult(kind)
    sound = (src / name).read_bytes()
    text = name.endswith((".toml", ".json", ".ndjson"))
    rng = np.random.default_rng([seed, sum(kind.encode())])
    for case in range(cases):
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(src, work, symlinks=True, ignore=shutil.ignore_patterns("fifo"))
        if (src / "fifo").exists():
            import os
            os.mkfifo(work / "fifo")
        zipped = name.endswith((".npz", ".wlsave"))
        data = mutate_zip_entry(sound, rng) if zipped and rng.random() < 0.6 else mutate(sound, text, rng)
        (work / name).write_bytes(data)
        res.cases += 1
        t0 = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, CASE_S)
            try:
                loader(work)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            res.loaded += 1
        except FileRefused:
            res.refused += 1
        except _Hang:
            res.hangs += 1
            _example(res, case, "hang", f"over {CASE_S:g} s")
        except MemoryError:
            res.memory += 1
            _example(res, case, "memory", "allocation beyond 1 GB")
        except Exception as e:  # noqa: BLE001 - what the fuzzer is looking for
            res.crashes += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            _example(res, case, f"{e.__class__.__name__}: {str(e)[:160]}",
                     f"{Path(where.filename).name}:{where.lineno}")
        if progress:
            progress(kind, time.perf_counter() - t0)
    return res


def _example(res: KindResult, case: int, what: str, where: str) -> None:
    if len(res.examples) < 5:
        res.examples.append({"case": case, "what": what, "where": where})


def report(results: list[KindResult]) -> dict:
    return {"format": "worldloop.fuzz", "version": 1,
            "kinds": {r.kind: {"cases": r.cases, "loaded": r.loaded, "refused": r.refused, "crashes": r.crashes,
                               "hangs": r.hangs, "memory": r.memory, "examples": r.examples} for r in results},
            "failures": sum(r.failures for r in results)}
