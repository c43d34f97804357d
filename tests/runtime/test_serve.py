"""The browser viewer in a real headless Chromium (Debian's chromium, driven by Selenium): the page loads,
frames arrive, a key press moves the pose, side by side shows two views, a second page follows the guide."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                                reason="needs chromium and chromium-driver (tools/setup.sh installs them)")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*extra):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tools.cli", "serve", "--backend", "oracle", "--port", str(port),
                             "--size", "128", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(0.3)
    return proc, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def server():
    proc, url = start_server()
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=800,600"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def wait_for(driver, script, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = driver.execute_script(script)
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def test_the_page_streams_frames_and_keys_move_the_guide_others_follow(server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    guide, follower = browser(), None
    try:
        guide.get(server)
        wait_for(guide, "return window.worldloop && window.worldloop.frames > 5")
        assert guide.execute_script("return window.worldloop.last.role") == "guide"
        follower = browser()
        follower.get(server)
        wait_for(follower, "return window.worldloop && window.worldloop.frames > 5")
        assert follower.execute_script("return window.worldloop.last.role") == "follower"
        z0 = guide.execute_script("return window.worldloop.last.pose[2]")
        ActionChains(guide).key_down("w").pause(1.5).key_up("w").perform()
        time.sleep(0.5)
        z1 = guide.execute_script("return window.worldloop.last.pose[2]")
        assert z1 < z0 - 1.0                          # walked forward (along -z at yaw 0)
        zf = follower.execute_script("return window.worldloop.last.pose[2]")
        assert abs(zf - z1) < 0.3                     # the follower sees where the guide went
        # a follower's keys move nothing
        ActionChains(follower).key_down("s").pause(1.0).key_up("s").perform()
        time.sleep(0.3)
        assert abs(guide.execute_script("return window.worldloop.last.pose[2]") - z1) < 0.05
        # the picture is the world, and side by side shows two views of it
        guide.save_screenshot(str(tmp_path / "mono.png"))
        w_mono = wait_for(guide, "return document.getElementById('view').naturalWidth")
        guide.find_element("id", "stereo").click()
        wait_for(guide, "return window.worldloop.last.mode === 'sbs'")
        w, h = wait_for(guide, "const i = document.getElementById('view'); "
                               "return i.naturalWidth > i.naturalHeight && [i.naturalWidth, i.naturalHeight]")
        assert (w, h) == (2 * w_mono, w_mono)
        guide.save_screenshot(str(tmp_path / "sbs.png"))
        from PIL import Image
        shot = np.asarray(Image.open(tmp_path / "mono.png").convert("RGB")).astype(float)
        assert shot.std() > 15
        # the guide leaves: the follower becomes the guide, and the world went on without losing anything
        tick = follower.execute_script("return window.worldloop.last.tick")
        guide.quit()
        guide = None
        wait_for(follower, "return window.worldloop.last.role === 'guide'")
        assert follower.execute_script("return window.worldloop.last.tick") > tick
        if os.environ.get("WORLDLOOP_KEEP_SHOTS"):
            shutil.copy(tmp_path / "sbs.png", os.environ["WORLDLOOP_KEEP_SHOTS"])
    finally:
        for d in (guide, follower):
            if d is not None:
                d.quit()


def test_serve_says_how_to_reach_it():
    from runtime.serve import reach_lines
    assert reach_lines("127.0.0.1", 8080)[0].endswith("http://127.0.0.1:8080/ in a browser")
    lines = reach_lines("0.0.0.0", 9000)
    assert len(lines) == 3 and ("from a phone" in lines[1] or "cannot reach" in lines[1])


def test_a_tour_in_the_browser_shows_its_captions():
    from runtime.tour import load_tour
    proc, url = start_server("--tour", str(ROOT / "scenes" / "tours" / "forest.toml"))
    page = None
    try:
        page = browser()
        page.get(url)
        caption = wait_for(page, "return window.worldloop && window.worldloop.last && window.worldloop.last.caption",
                           timeout=60)
        assert caption == load_tour(ROOT / "scenes" / "tours" / "forest.toml").stops[0].caption
        assert wait_for(page, "return document.getElementById('caption').textContent") == caption
    finally:
        if page is not None:
            page.quit()
        proc.terminate()
        proc.wait(timeout=30)
