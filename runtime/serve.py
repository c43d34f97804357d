"""The browser viewer: `worldloop serve` streams the live world to web pages and takes their input back.

One world runs on its own thread at the model's tick rate (a Session, as `play` runs it, and the display
drawing offscreen). Each tick's picture is drawn mono and, when a page asks for it, side by side (each eye
reprojected to its own pose: stereo.py), compressed to JPEG and sent over every page's WebSocket. The first
page to connect is the guide: its keys, mouse, touch, gamepad and device orientation drive the world. Every
other page follows (the classroom's guide mode); when the guide leaves, the longest-connected follower
becomes the guide. The world does not stop when a page goes: a page that reconnects takes up where the world
is now.

A frame message is binary: 4 bytes (big-endian) of header length, the header (JSON: tick, pose, mode, the
last input sequence number the world applied, the role of the receiving page) and the JPEG. An input message
is JSON text: {"type": "keys", "held": [...commands], "seq": n}, {"type": "look", "dx": radians, "dy":
radians, "seq": n}, {"type": "mode", "mode": "mono" | "sbs"}.

The web server is aiohttp's (a well-kept library); it listens on 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import asyncio
import io
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


WEB = Path(__file__).parent / "web"
COMMANDS = ("forward", "back", "left", "right", "up", "down", "run", "turn_left", "turn_right", "look_up",
            "look_down")
JPEG_QUALITY = 80


@dataclass
class Inputs:
    """What the guide holds and has moved since the last tick, shared between the server and the world."""
    held: set = field(default_factory=set)
    look: list = field(default_factory=lambda: [0.0, 0.0])
    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_look(self) -> tuple[float, float, int]:
        with self.lock:
            dx, dy = self.look
            self.look = [0.0, 0.0]
            return dx, dy, self.seq


def tick_action(inputs: Inputs, cfg, walk_mps=1.5, run_mps=4.0, turn_rps=1.5) -> tuple[np.ndarray, int]:
    """The guide's input over one tick -> an action clamped to the trained range, and the input seq it
    includes."""
    dt = 1.0 / cfg.tick_hz
    dx, dy, seq = inputs.take_look()
    with inputs.lock:
        held = set(inputs.held)

    def axis(neg, pos):
        return (pos in held) - (neg in held)

    speed = run_mps if "run" in held else walk_mps
    a = np.array([axis("back", "forward") * speed * dt, axis("left", "right") * speed * dt,
                  axis("down", "up") * walk_mps * dt,
                  axis("turn_right", "turn_left") * turn_rps * dt - dx,
                  axis("look_down", "look_up") * turn_rps * dt - dy], np.float64)
    applied = cfg.clamp_action(a)
    with inputs.lock:          # a drag bigger than one tick's turn carries over into the next ticks
        inputs.look[0] -= a[3] - applied[3]
        inputs.look[1] -= a[4] - applied[4]
    return applied, seq


class World:
    """The session on its own thread: a tick every 1/tick_hz s, its pictures encoded for the pages."""

    def __init__(self, make_session, size: int = 512, on_frame=None, tour=None, idle_s: float = 30.0):
        """tour: (actions, captions) of a compiled tour (tour.py), walked in a loop; the guide's input takes
        over from it, and after `idle_s` seconds without any the tour starts again from the beginning."""
        self.make_session, self.size, self.on_frame = make_session, size, on_frame
        self.tour, self.idle_s = tour, idle_s
        self.inputs = Inputs()
        self.want_sbs = False
        self.latest: dict[str, bytes] = {}
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="worldloop-serve-world", daemon=True)
        self.ticks = 0

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(timeout=600)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=30)

    def _encode(self, rgb: np.ndarray) -> bytes:
        from PIL import Image
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=JPEG_QUALITY)
        return buf.getvalue()

    def _run(self) -> None:
        try:
            from .display import Display, read_framebuffer
            from .glcontext import thread_context
            from .stereo import StereoOptions
            from worldgen.procedural.render import make_current
            session = self.make_session()
            ctx = thread_context()
            make_current(ctx)
            cfg = session.config
            display = Display(ctx, cfg)
            n = self.size
            mono = ctx.framebuffer(color_attachments=[ctx.texture((n, n), 3)])
            sbs = ctx.framebuffer(color_attachments=[ctx.texture((2 * n, n), 3)])
            stereo = StereoOptions()
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        dt = 1.0 / cfg.tick_hz
        due = time.perf_counter()
        frame = session.frame
        script, caption, last_seq, last_input = None, "", 0, -1e9
        if self.tour is not None:
            from .input import ScriptedInput
            script = ScriptedInput(*self.tour)
        try:
            while not self._stop.is_set():
                now = time.perf_counter()
                if now < due:
                    time.sleep(min(due - now, 0.05))
                    continue
                a, seq = tick_action(self.inputs, cfg)
                if script is not None:
                    if seq != last_seq or np.any(a):          # the guide moved: it drives for now
                        last_seq, last_input = seq, now
                    if now - last_input >= self.idle_s:
                        if script.done:                       # the tour's end: from the start again
                            frame = session.reset()
                            script.restart()
                        a = script.next_action()
                        caption = script.caption
                    else:
                        caption = ""
                try:
                    frame = session.step(a)
                except Exception as e:  # noqa: BLE001 - a generator fault: the session went back; go on
                    print(f"worldloop serve: {e}", flush=True)
                    frame = session.frame
                self.ticks += 1
                make_current(ctx)
                display.show(frame)
                out = {}
                display.draw(frame.pose, mono, (n, n), None)
                out["mono"] = self._encode(read_framebuffer(mono, (n, n)))
                if self.want_sbs:
                    display.draw(frame.pose, sbs, (2 * n, n), None, stereo, bool(np.any(a)))
                    out["sbs"] = self._encode(read_framebuffer(sbs, (2 * n, n)))
                head = {"tick": session.tick, "pose": [round(float(v), 5) for v in frame.pose.as_array()],
                        "seq": seq, "backend": session.backend.name, "tick_hz": cfg.tick_hz, "caption": caption}
                self.latest = {"head": head, **out}
                if self.on_frame is not None:
                    self.on_frame(self.latest)
                due += dt
                if time.perf_counter() - due > dt:       # behind by more than a tick: drop, as the game does
                    due = time.perf_counter()
        finally:
            session.close()


def frame_message(latest: dict, mode: str, role: str) -> bytes | None:
    """The binary message of one frame for a page in `mode` ("mono" or "sbs") and `role`."""
    picture = latest.get(mode) or latest.get("mono")
    if picture is None:
        return None
    head = json.dumps({**latest["head"], "mode": mode if mode in latest else "mono", "role": role}).encode()
    return struct.pack(">I", len(head)) + head + picture


class Server:
    """The aiohttp application: the page, its script, and one WebSocket per page."""

    def __init__(self, world: World):
        from aiohttp import web
        self.world = world
        self.clients: list = []            # [ws, mode] in the order they connected: the first is the guide
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = web.Application()
        self.app.add_routes([web.get("/", self.page), web.get("/viewer.js", self.script), web.get("/ws", self.socket)])
        self.app.on_startup.append(self._started)
        world.on_frame = self._frame_from_thread

    async def _started(self, app) -> None:
        self.loop = asyncio.get_running_loop()

    async def page(self, request):
        from aiohttp import web
        return web.Response(text=(WEB / "index.html").read_text(), content_type="text/html")

    async def script(self, request):
        from aiohttp import web
        return web.Response(text=(WEB / "viewer.js").read_text(), content_type="application/javascript")

    def _frame_from_thread(self, latest: dict) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._broadcast(latest)))

    async def _broadcast(self, latest: dict) -> None:
        for i, (ws, mode) in enumerate(list(self.clients)):
            msg = frame_message(latest, mode, "guide" if i == 0 else "follower")
            if msg is None or ws.closed:
                continue
            try:
                await ws.send_bytes(msg)
            except (ConnectionError, RuntimeError):
                pass                          # it went; its socket handler removes it

    async def socket(self, request):
        from aiohttp import WSMsgType, web
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        entry = [ws, "mono"]
        self.clients.append(entry)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if data.get("type") == "mode" and data.get("mode") in ("mono", "sbs"):
                    entry[1] = data["mode"]
                    self.world.want_sbs = any(m == "sbs" for _, m in self.clients)
                elif self.clients and self.clients[0] is entry:    # only the guide drives
                    self._take_input(data)
        finally:
            was_guide = self.clients[0] is entry
            self.clients.remove(entry)
            self.world.want_sbs = any(m == "sbs" for _, m in self.clients)
            if was_guide:
                with self.world.inputs.lock:      # the guide's keys go with it: the world stands still
                    self.world.inputs.held = set()
        return ws

    def _take_input(self, data: dict) -> None:
        inputs = self.world.inputs
        seq = data.get("seq")
        with inputs.lock:
            if data.get("type") == "keys" and isinstance(data.get("held"), list):
                inputs.held = {c for c in data["held"] if c in COMMANDS}
            elif data.get("type") == "look":
                try:
                    dx, dy = float(data.get("dx", 0.0)), float(data.get("dy", 0.0))
                except (TypeError, ValueError):
                    return
                if np.isfinite(dx) and np.isfinite(dy):
                    inputs.look[0] += max(-1.0, min(1.0, dx))
                    inputs.look[1] += max(-1.0, min(1.0, dy))
            else:
                return
            if isinstance(seq, int) and seq > inputs.seq:
                inputs.seq = seq


def lan_address() -> str | None:
    """This machine's address on the local network, for a phone to reach (None if it has none)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            addr = s.getsockname()[0]
        return None if addr.startswith("127.") else addr
    except OSError:
        return None


def reach_lines(host: str, port: int) -> list[str]:
    lines = [f"worldloop serve: open http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/ in a browser"]
    if host in ("0.0.0.0", ""):
        addr = lan_address()
        lines.append(f"from a phone on the same network: http://{addr}:{port}/" if addr else
                     "this machine has no network address besides 127.0.0.1: a phone cannot reach it")
        lines.append("anyone on the network can watch; the first page to connect drives")
    return lines


def serve(make_session, host: str = "127.0.0.1", port: int = 8080, size: int = 512, show=print, tour=None,
          idle_s: float = 30.0) -> None:
    """Run the world and the web server until interrupted (with `tour`, walking it: see World)."""
    from aiohttp import web
    world = World(make_session, size, tour=tour, idle_s=idle_s)
    server = Server(world)
    world.start()
    for line in reach_lines(host, port):
        show(line)
    try:
        web.run_app(server.app, host=host, port=port, print=None, handle_signals=True)
    finally:
        world.stop()

