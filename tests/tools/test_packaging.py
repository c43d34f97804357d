"""The installed package puts one name into site-packages: worldloop (the design card's folders under it)."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_only_worldloop_with_its_data(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    assert {n.split("/")[0] for n in names} == {"worldloop", "worldloop-0.1.0.dist-info"}
    for want in ("worldloop/api.py", "worldloop/env.py", "worldloop/runtime/serve.py", "worldloop/runtime/web/viewer.js",
                 "worldloop/worldgen/model/weights/bundled.safetensors", "worldloop/scenes/old-town.toml",
                 "worldloop/scenes/tours/village.toml", "worldloop/tools/cli.py", "worldloop/trt_engines/export.py"):
        assert want in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "worldloop = worldloop.tools.cli:main" in zipfile.ZipFile(next(tmp_path.glob("*.whl"))).read(entry).decode()


def test_the_installed_package_runs_from_elsewhere(tmp_path):
    """Installed from the wheel into a folder of its own and imported from outside the repository: the
    API steps a world and the command line lists the scenes, with nothing read from the checkout."""
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheel_dir)], check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                    str(next(wheel_dir.glob("*.whl")))], check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    code = ("import worldloop, numpy as np\n"
            "w = worldloop.World('old-town', backend='oracle')\n"
            "f = w.step([0.1, 0, 0, 0, 0])\n"
            "print(worldloop.__file__); print(f.rgb.shape, round(w.pose.z, 3))\n"
            "import importlib.util; print(importlib.util.find_spec('runtime'), importlib.util.find_spec('tools'))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(str(site)) and lines[1] == "(128, 128, 3) -0.1" and lines[2] == "None None"
    proc = subprocess.run([sys.executable, "-m", "worldloop", "scene", "list"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and str(site) in proc.stdout and "old-town" in proc.stdout
