"""The browser viewer in a real headless Chromium (Debian's chromium, driven by Selenium): the page loads,
frames arrive, a key press moves the pose, side by side shows two views, a second page follows the guide."""
import math
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


def start_server(*extra, backend="oracle"):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "worldloop", "serve", "--backend", backend, "--port", str(port),
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


MEAN_OF_THIRDS = """
const i = document.getElementById('view');
if (!i.complete || i.naturalWidth !== 3 * i.naturalHeight) return null;
const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
const g = c.getContext('2d'); g.drawImage(i, 0, 0);
const w = i.naturalWidth / 3, h = i.naturalHeight, out = [];
for (let k = 0; k < 3; k++) {
  const d = g.getImageData(k * w, 0, w, h).data; let s = 0;
  for (let j = 0; j < d.length; j += 4) s += (d[j] + d[j + 1] + d[j + 2]) / 3;
  out.push(s / (d.length / 4));
}
return out;"""


def test_model_beside_truth_in_the_browser(server, tmp_path):
    """The classroom's split screen in the page: model | truth | difference with the PSNR. The oracle is the
    truth, so its two pictures agree and the difference is black."""
    page = browser()
    try:
        page.get(server)
        wait_for(page, "return window.worldloop && window.worldloop.frames > 3")
        assert page.find_element("id", "compare").is_displayed()
        page.find_element("id", "compare").click()
        wait_for(page, "return window.worldloop.last.mode === 'compare'")
        model, truth, diff = wait_for(page, MEAN_OF_THIRDS)
        assert model > 20 and abs(model - truth) < 2 and diff < 3
        assert page.execute_script("return window.worldloop.last.psnr") == 99
        assert "PSNR 99.0 dB" in page.find_element("id", "psnr").text
        page.find_element("id", "compare").click()            # and back to the world
        wait_for(page, "return window.worldloop.last.mode === 'mono' && "
                       "document.getElementById('psnr').textContent === ''")
    finally:
        page.quit()


def test_the_model_against_truth_and_its_memory_map_in_the_browser(tmp_path):
    """With the neural model: the PSNR is a real figure, the difference is not black, and the memory map shows
    the keyframes (one at least in use, yellow) drawn on the page's canvas."""
    proc, url = start_server(backend="torch")
    page = None
    try:
        page = browser()
        page.get(url)
        wait_for(page, "return window.worldloop && window.worldloop.frames > 3", 60)
        from selenium.webdriver.common.action_chains import ActionChains
        page.find_element("id", "memory").click()
        ActionChains(page).key_down("w").pause(2.0).key_up("w").perform()
        page.find_element("id", "compare").click()
        wait_for(page, "return window.worldloop.last.mode === 'compare' && window.worldloop.mapDrawn > 3")
        psnr = page.execute_script("return window.worldloop.last.psnr")
        assert 12 < psnr < 60
        model, truth, diff = wait_for(page, MEAN_OF_THIRDS)
        assert diff > 1
        memory = page.execute_script("return window.worldloop.last.memory")
        assert len(memory["keyframes"]) >= 1 and len(memory["in_use"]) >= 1
        yellow = page.execute_script("""
            const d = document.getElementById('map').getContext('2d').getImageData(0, 0, 200, 200).data;
            let n = 0; for (let j = 0; j < d.length; j += 4) if (d[j] > 240 && d[j + 1] > 190 && d[j + 2] < 80) n++;
            return n;""")
        assert yellow >= 8                 # a keyframe in use: a 6x6 yellow square (the player may cover part)
        page.save_screenshot(str(tmp_path / "compare.png"))
        if os.environ.get("WORLDLOOP_KEEP_SHOTS"):
            shutil.copy(tmp_path / "compare.png", os.environ["WORLDLOOP_KEEP_SHOTS"])
    finally:
        if page is not None:
            page.quit()
        proc.terminate()
        proc.wait(timeout=30)


# A headset stood in for (headless Chromium offers no XR device): navigator.xr offers immersive-vr, and its
# session hands the page a layer whose framebuffer is a real WebGL2 texture of 256x128, the left eye's viewport
# its left half; after each of the page's XR frames the layer's pixels are read back.
FAKE_XR = """
window.__xr = {frames: 0, pixels: null, yaw: 0};
window.XRWebGLLayer = class {
  constructor(session, gl) {
    window.__xr.gl = gl;
    const t = gl.createTexture(); gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 256, 128, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    this.framebuffer = gl.createFramebuffer(); gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, t, 0);
    window.__xr.fb = this.framebuffer;
  }
  getViewport(v) { return {x: v.eye === 'left' ? 0 : 128, y: 0, width: 128, height: 128}; }
};
const session = {renderState: {}, updateRenderState(s) { this.renderState = s; },
  requestReferenceSpace: async () => ({}), addEventListener() {},
  requestAnimationFrame(cb) { setTimeout(() => {
    const h = window.__xr.yaw / 2;       // the head turned left by yaw about +y
    cb(performance.now(), {getViewerPose: () => ({views: [{eye: 'left'}, {eye: 'right'}],
                                                  transform: {orientation: {x: 0, y: Math.sin(h), z: 0, w: Math.cos(h)}}})});
    const g = window.__xr.gl, px = new Uint8Array(256 * 128 * 4);
    window.__xr.error = g.getError();
    g.bindFramebuffer(g.READ_FRAMEBUFFER, window.__xr.fb);
    g.readPixels(0, 0, 256, 128, g.RGBA, g.UNSIGNED_BYTE, px);
    window.__xr.frames += 1; window.__xr.pixels = Array.from(px); }, 50); }};
Object.defineProperty(navigator, 'xr', {value: {isSessionSupported: async (m) => m === 'immersive-vr',
                                                requestSession: async () => session}});
"""


def test_webxr_shows_each_eye_its_half_upright(server):
    """Where the browser offers immersive-vr, the button appears, the page asks for side by side, and each
    XR frame puts the left half of the picture in the left eye's viewport and the right in the right, sky up."""
    page = browser()
    try:
        page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_XR})
        page.get(server)
        wait_for(page, "return window.worldloop && window.worldloop.frames > 3")
        assert page.find_element("id", "xr").is_displayed()
        page.find_element("id", "xr").click()
        wait_for(page, "return window.worldloop.last.mode === 'sbs' && window.__xr.frames > 5")
        assert page.execute_script("return window.__xr.error") == 0
        px = np.array(page.execute_script("return window.__xr.pixels"), np.uint8).reshape(128, 256, 4)[::-1]
        for eye in (px[:, :128, :3].astype(float), px[:, 128:, :3].astype(float)):
            top, bottom = eye[:20].mean((0, 1)), eye[-20:].mean((0, 1))
            assert top[2] > top[0] + 60          # the sky (blue) at the top of each eye
            assert bottom[1] > bottom[2] + 40    # the ground (green) at the bottom
        left, right = px[:, :128, :3].astype(float), px[:, 128:, :3].astype(float)
        assert 0 < np.abs(left - right).mean() < 30     # two views of one place, a little apart
        # the head turns 0.4 rad left in the headset: the world's view turns with it
        yaw0 = page.execute_script("return window.worldloop.last.pose[3]")
        page.execute_script("window.__xr.yaw = 0.4")
        time.sleep(1.5)
        assert abs(page.execute_script("return window.worldloop.last.pose[3]") - yaw0 - 0.4) < 0.05
    finally:
        page.quit()


def test_serve_says_how_to_reach_it():
    from worldloop.runtime.serve import reach_lines
    assert reach_lines("127.0.0.1", 8080)[0].endswith("http://127.0.0.1:8080/ in a browser")
    lines = reach_lines("0.0.0.0", 9000)
    assert len(lines) == 3 and ("from a phone" in lines[1] or "cannot reach" in lines[1])


def test_a_tour_in_the_browser_shows_its_captions():
    from worldloop.runtime.tour import load_tour
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


def test_drag_gamepad_and_device_orientation_drive_the_guide(server):
    """The page's other inputs, through the real page: a pointer drag (mouse or touch) turns the view, a
    gamepad's left stick walks (navigator.getGamepads stood in for: headless Chromium has no pads), and the
    phone's orientation turns it (DeviceOrientationEvent dispatched in the page)."""
    from selenium.webdriver.common.action_chains import ActionChains
    page = browser()
    try:
        page.get(server)
        wait_for(page, "return window.worldloop && window.worldloop.frames > 5 && window.worldloop.last.role === 'guide'")
        yaw = lambda: page.execute_script("return window.worldloop.last.pose[3]")   # noqa: E731
        pos = lambda: page.execute_script("return window.worldloop.last.pose")       # noqa: E731
        y0 = yaw()
        img = page.find_element("id", "view")
        ActionChains(page).move_to_element(img).click_and_hold().move_by_offset(120, 0).release().perform()
        time.sleep(0.6)
        assert yaw() < y0 - 0.2                                  # dragged right: turned right
        p0 = pos()
        page.execute_script("navigator.getGamepads = () => [{axes: [0, -1, 0, 0]}];")
        time.sleep(1.2)
        page.execute_script("navigator.getGamepads = () => [];")
        time.sleep(0.4)
        p1 = pos()
        assert np.hypot(p1[0] - p0[0], p1[2] - p0[2]) > 0.8       # the stick walked
        page.find_element("id", "orient").click()
        y1 = yaw()
        for alpha in (0, 10, 20, 30):
            page.execute_script("window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', "
                                "{alpha: arguments[0], beta: 90, gamma: 0}));", alpha)
            time.sleep(0.1)
        time.sleep(0.6)
        # alpha grows as the phone turns left (counter-clockwise seen from above): the view turned left 30 degrees
        assert yaw() > y1 + 0.3
        # in landscape, looking at the horizon, the same orientation comes as (0, 0, 89) or (180, 180, -89)
        # (the Euler angles flip there): the view must not jump
        view = "return window.worldloopViewOfDevice(arguments[0], arguments[1], arguments[2])"
        a, b = page.execute_script(view, 0, 0, 89), page.execute_script(view, 180, 180, -89)
        assert abs(a["yaw"] - b["yaw"]) < 0.01 and abs(a["pitch"] - b["pitch"]) < 0.05
        up = page.execute_script(view, 0, 120, 0)             # portrait, top tilted back 30 degrees: looking up
        assert abs(up["pitch"] - math.radians(30)) < 1e-6
    finally:
        page.quit()


def test_bad_messages_and_other_sites_are_refused_without_harm(server):
    import asyncio

    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as http:
            ws_url = server.replace("http://", "ws://") + "ws"
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await http.ws_connect(ws_url, headers={"Origin": "http://evil.example"})
            assert e.value.status == 403
            async with http.ws_connect(ws_url, headers={"Origin": server.rstrip("/")}) as ws:
                for bad in ("[" * 5000, '{"type": "look", "dx": 1' + "0" * 400 + ', "seq": 1}', "null", "{]",
                            '{"type": "keys", "held": "forward", "seq": true}', '{"type": "mode", "mode": 3}'):
                    await ws.send_str(bad)
                got = 0
                async with asyncio.timeout(20):
                    while got < 5:
                        msg = await ws.receive()
                        if msg.type == aiohttp.WSMsgType.BINARY:
                            got += 1
                        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                await ws.send_str("x" * 9000)        # past the message limit: aiohttp ends this connection
                return got

    assert asyncio.run(go()) == 5                  # after the bad messages the frames kept coming
    page = browser()                               # and the server still serves
    try:
        page.get(server)
        wait_for(page, "return window.worldloop && window.worldloop.frames > 3")
    finally:
        page.quit()


def test_a_port_in_use_is_one_line():
    import socket as _socket
    from worldloop.runtime.serve import check_address
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ValueError, match=f"--port {port}: cannot listen there"):
            check_address("127.0.0.1", port)


def test_a_tour_in_the_browser_gives_way_to_the_guide_and_starts_again_when_idle(tmp_path):
    tour = tmp_path / "short.toml"
    tour.write_text('[tour]\ntitle = "short"\nscene = "forest"\nkiosk_idle_s = 5\n'
                    '[[stop]]\nat = [1.5, 0.0]\ncaption = "first stop"\nwait_s = 60\n')
    proc, url = start_server("--tour", str(tour))
    page = None
    try:
        page = browser()
        page.get(url)
        wait_for(page, "return window.worldloop && window.worldloop.last && window.worldloop.last.caption", 60)
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(page).key_down("w").pause(1.0).key_up("w").perform()
        time.sleep(0.3)
        assert page.execute_script("return window.worldloop.last.caption") == ""    # the guide drives now
        walked = page.execute_script("return window.worldloop.last.tick")
        # idle for the tour's 5 s: the world goes back to its start and the tour begins again
        wait_for(page, f"return window.worldloop.last.tick < {walked}", 20)
        assert wait_for(page, "return window.worldloop.last.caption", 20) == "first stop"
    finally:
        if page is not None:
            page.quit()
        proc.terminate()
        proc.wait(timeout=30)
