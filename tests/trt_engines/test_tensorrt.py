"""The TensorRT path without a GPU: cache keys, sidecars, listing, cleaning, selection and messages.

Building and running engines needs an NVIDIA GPU and TensorRT; the project's machines have neither, so those
calls are not exercised here (README: what was verified where).
"""
import importlib.util
import json
import subprocess
import sys

import pytest

from worldloop.runtime import backends
from worldloop.trt_engines import tensorrt_engine as te


def test_engine_key_depends_on_every_input():
    k = te.engine_key("a" * 64, "10.3.0", "NVIDIA L4", "fp16")
    assert k == te.engine_key("a" * 64, "10.3.0", "NVIDIA L4", "fp16") and len(k) == 32
    others = [te.engine_key("b" * 64, "10.3.0", "NVIDIA L4", "fp16"),
              te.engine_key("a" * 64, "10.4.0", "NVIDIA L4", "fp16"),
              te.engine_key("a" * 64, "10.3.0", "NVIDIA A100", "fp16"),
              te.engine_key("a" * 64, "10.3.0", "NVIDIA L4", "fp32")]
    assert len({k, *others}) == 5
    with pytest.raises(ValueError, match="precision"):
        te.engine_key("a", "10", "g", "int8")


def test_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert te.default_cache_dir() == tmp_path / "worldloop" / "engines"


def test_write_list_clean(tmp_path):
    key = te.engine_key("c" * 64, "10.3.0", "NVIDIA L4", "fp16")
    path = te.write_engine(tmp_path, key, b"plan-bytes", {"precision": "fp16", "gpu": "NVIDIA L4",
                                                          "tensorrt": "10.3.0", "onnx_sha256": "c" * 64})
    side = json.loads((tmp_path / f"{key}.json").read_text())
    assert side["format"] == "worldloop.trt_engine" and side["key"] == key and path.read_bytes() == b"plan-bytes"
    rows = te.list_engines(tmp_path)
    assert len(rows) == 1 and rows[0]["ok"]
    path.write_bytes(b"tampered")
    assert not te.list_engines(tmp_path)[0]["ok"]
    assert te.clean_engines(tmp_path) == 1 and not list(tmp_path.iterdir())


def test_clean_deletes_only_what_its_listing_shows_inside_the_cache(tmp_path):
    cache, outside = tmp_path / "cache", tmp_path / "victim"
    cache.mkdir()
    outside.with_suffix(".engine").write_bytes(b"keep me")
    outside.with_suffix(".json").write_text("{}")
    (cache / "evil.json").write_text(json.dumps({"format": "worldloop.trt_engine", "key": "../victim"}))
    assert te.clean_engines(cache) == 1
    assert outside.with_suffix(".engine").read_bytes() == b"keep me" and outside.with_suffix(".json").exists()
    assert not list(cache.iterdir())
    with pytest.raises(NotADirectoryError, match="folder"):
        te.list_engines(outside.with_suffix(".engine"))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_building_without_tensorrt_says_what_to_install(tmp_path):
    with pytest.raises(te.TensorRTUnavailable, match=r"worldloop\[trt\]"):
        te.build_engine(tmp_path / "x.onnx", "fp16", tmp_path)


def test_auto_selection_says_which_and_why(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda n, *a: None if n == "tensorrt" else real(n, *a))
    name, why = backends.select_backend("auto")
    assert name == "onnx" and "tensorrt package is not installed" in why
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda n, *a: object() if n == "tensorrt" else real(n, *a))
    monkeypatch.setattr(backends.shutil, "which", lambda n: None)
    name, why = backends.select_backend("auto")
    assert name == "onnx" and "no NVIDIA GPU" in why
    monkeypatch.setattr(backends.shutil, "which", lambda n: "/usr/bin/nvidia-smi")
    assert backends.select_backend("auto")[0] == "trt"
    assert backends.select_backend("torch") == ("torch", "backend torch: asked for with --backend")


def test_trt_backend_without_a_gpu_is_a_clear_error():
    if backends.cuda_gpu_present():
        pytest.skip("a GPU is present")
    with pytest.raises(backends.BackendUnavailable, match="NVIDIA GPU"):
        backends.make_generator("trt", None)


def test_engines_command_lists_and_cleans(tmp_path):
    key = te.engine_key("d" * 64, "10.3.0", "NVIDIA L4", "fp32")
    te.write_engine(tmp_path, key, b"x", {"precision": "fp32", "gpu": "NVIDIA L4", "tensorrt": "10.3.0"})
    run = lambda *a: subprocess.run([sys.executable, "-m", "worldloop", "engines", *a, "--engine-dir",  # noqa: E731
                                     str(tmp_path)], capture_output=True, text=True, timeout=120)
    out = run("list")
    assert out.returncode == 0 and key in out.stdout and "fp32" in out.stdout
    assert "removed 1" in run("clean").stdout and not te.list_engines(tmp_path)


def test_onnx_runtime_gpu_providers_without_a_gpu_are_a_clear_error():
    import onnxruntime
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    from worldloop.trt_engines.ort import make_session
    with pytest.raises(RuntimeError, match="CUDAExecutionProvider"):
        make_session("unused.onnx", "cuda")
    proc = subprocess.run([sys.executable, "-m", "worldloop", "play", "--headless", "--ticks", "1", "--backend",
                           "onnx", "--ort-provider", "tensorrt"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "TensorrtExecutionProvider" in proc.stderr and "Traceback" not in proc.stderr
