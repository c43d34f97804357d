"""The browser viewer: `worldloop serve` streams the live world to web pages and takes their input back.

One world runs on its own thread at the model's tick rate (a Session, as `play` runs it, and the display
drawing offscreen). Each tick's picture is drawn mono and, when a page asks for it, side by side (each eye
reprojected to its own pose: stereo.py) and, for procedural scenes, as model | truth | difference (compare.py,
with the PSNR), compressed to JPEG and sent over every page's WebSocket. The first
page to connect is the guide: its keys, mouse, touch, gamepad and device orientation drive the world. Every
other page follows (the classroom's guide mode); when the guide leaves, the longest-connected follower
becomes the guide. The world does not stop when a page goes: a page that reconnects takes up where the world
is now.

A frame message is binary: 4 bytes (big-endian) of header length, the header (JSON: tick, pose, mode, the
last input sequence number the world applied, the role of the receiving page; in compare mode the PSNR; for a
page that asked for the memory map, where the spatial memory's keyframes stand and which are in use) and the
JPEG. An input message is JSON text: {"type": "keys", "held": [...commands], "seq": n}, {"type": "look",
"dx": radians, "dy": radians, "seq": n}, {"type": "mode", "mode": "mono" | "sbs" | "compare"}, {"type":
"memory", "on": true | false}.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bindings import Bindings
from .input import MOVE_COMMANDS, ActionMapper, InputState


WEB = Path(__file__).parent / "web"
JPEG_QUALITY = 80
MODES = ("mono", "sbs", "compare")


class Inputs:
    """What the guide holds and has moved, shared between the server and the world: the game's own InputState
    (so the game's ActionMapper turns it into actions, a drag beyond one tick's turn carrying over), and the
    sequence number of the last input message taken."""

    def __init__(self):
        self.state = InputState()
        self.seq = 0

    @property
    def lock(self) -> threading.Lock:
        return self.state.lock


class World:
    """The session on its own thread: a tick every 1/tick_hz s, its pictures encoded for the pages."""

    def __init__(self, make_session, size: int = 512, on_frame=None, tour=None, idle_s: float = 30.0):
        """tour: (actions, captions) of a compiled tour (tour.py), walked in a loop; the guide's input takes
        over from it, and after `idle_s` seconds without any the tour starts again from the beginning."""
        self.make_session, self.size, self.on_frame = make_session, size, on_frame
        self.tour, self.idle_s = tour, idle_s
        self.inputs = Inputs()
        self.modes: set[str] = {"mono"}         # the pictures some page wants (MODES), set by the server
        self.want_memory = False                # whether some page shows the memory map
        self.can_compare = False                # whether the scene has a truth to compare with (set on start)
        self.latest: dict[str, bytes] = {}
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="worldloop-serve-world", daemon=True)
        self.ticks = 0
        self.on_stop = None

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
            from .display import Display
            from .glcontext import thread_context
            from .stereo import StereoOptions
            from worldloop.worldgen.procedural.render import make_current
            session = self.make_session()
            ctx = thread_context()
            make_current(ctx)
            cfg = session.config
            display = Display(ctx, cfg)
            n = self.size
            mono = ctx.framebuffer(color_attachments=[ctx.texture((n, n), 3)])
            sbs = ctx.framebuffer(color_attachments=[ctx.texture((2 * n, n), 3)])
            stereo = StereoOptions()
            mapper = ActionMapper(Bindings(), cfg.tick_hz, cfg.action_max)
            self.can_compare = not session.spec.from_picture     # the truth exists for procedural scenes only
            views = {"ctx": ctx, "display": display, "mono": mono, "sbs": sbs, "stereo": stereo, "compare": None}
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        dt = 1.0 / cfg.tick_hz
        due = time.perf_counter()
        frame = session.frame
        script, caption, last_seq, last_input, guided = None, "", 0, -1e9, False
        if self.tour is not None:
            from .input import ScriptedInput
            script = ScriptedInput(*self.tour)
        try:
            while not self._stop.is_set():
                now = time.perf_counter()
                if now < due:
                    time.sleep(min(due - now, 0.05))
                    continue
                seq = self.inputs.seq                  # read first: every input it counts is in the action
                a = mapper.tick_action(self.inputs.state)
                if script is not None:
                    if seq != last_seq or np.any(a):          # the guide moved: it drives for now
                        last_seq, last_input, guided = seq, now, True
                    if now - last_input >= self.idle_s:
                        if script.done or guided:             # the tour's end, or the guide walked it off its
                            frame = session.reset()           # path: from the start again
                            script.restart()
                            guided = False
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
                self._draw_and_publish(frame, a, seq, caption, session, views)
                due += dt
                if time.perf_counter() - due > dt:       # behind by more than a tick: drop, as the game does
                    due = time.perf_counter()
        except Exception as e:  # noqa: BLE001 - the world cannot go on: say so once, and let the server end
            self.error = e
            print(f"worldloop serve: the world stopped ({e.__class__.__name__}: {str(e)[:200]})", flush=True)
            if self.on_stop is not None:
                self.on_stop()
        finally:
            if views["compare"] is not None:
                views["compare"].release()
            session.close()

    def _draw_and_publish(self, frame, a, seq, caption, session, views):
        """The tick's pictures (mono, and side by side or model | truth | difference when a page wants it, the
        memory map's keyframes when a page shows it), encoded and handed to the server."""
        from worldloop.worldgen.procedural.render import make_current
        from .compare import Comparison
        from .display import read_framebuffer
        display, n, cfg = views["display"], self.size, session.config
        display.show(frame)
        out = {}
        display.draw(frame.pose, views["mono"], (n, n), None)
        out["mono"] = self._encode(read_framebuffer(views["mono"], (n, n)))
        head = {"tick": session.tick, "pose": [round(float(v), 5) for v in frame.pose.as_array()],
                "seq": seq, "backend": session.backend.name, "tick_hz": cfg.tick_hz, "caption": caption,
                "can_compare": self.can_compare}
        if "sbs" in self.modes:
            display.draw(frame.pose, views["sbs"], (2 * n, n), None, views["stereo"], bool(np.any(a)))
            out["sbs"] = self._encode(read_framebuffer(views["sbs"], (2 * n, n)))
        if "compare" in self.modes and self.can_compare:
            if views["compare"] is None:            # made when first asked for, in this thread's context
                views["compare"] = Comparison(session.spec, cfg)
            panel, p = views["compare"].update(frame)
            make_current(views["ctx"])
            out["compare"] = self._encode(panel)   # the model's resolution: the page scales it
            head["psnr"] = round(float(p), 2)
        if self.want_memory:                        # read here, on the thread that changes the memory
            st = session.backend.stats()
            out["memory"] = {"keyframes": [[round(float(v), 2) for v in k] for k in st.get("keyframe_poses", [])],
                             "in_use": list(st.get("in_use", []))}
        self.latest = {"head": head, **out}
        on_frame = self.on_frame
        if on_frame is not None:
            on_frame(self.latest)


def frame_message(latest: dict, mode: str, role: str, memory: bool = False) -> bytes | None:
    """The binary message of one frame for a page in `mode` (MODES) and `role`, with the memory map's keyframes
    when `memory`."""
    picture = latest.get(mode) or latest.get("mono")
    if picture is None:
        return None
    head = {**latest["head"], "mode": mode if mode in latest else "mono", "role": role}
    if head["mode"] != "compare":
        head.pop("psnr", None)
    if memory and "memory" in latest:
        head["memory"] = latest["memory"]
    head = json.dumps(head).encode()
    return struct.pack(">I", len(head)) + head + picture


@dataclass
class Page:
    """One connected page: its socket, the picture it shows (MODES), whether it shows the memory map, and
    whether a frame to it is still on its way."""
    ws: object
    mode: str = "mono"
    memory: bool = False
    sending: bool = False


class Server:
    """The aiohttp application: the page, its script, and one WebSocket per page."""

    def __init__(self, world: World):
        from aiohttp import web
        self.world = world
        self.clients: list[Page] = []      # in the order they connected: the first guides
        self._tasks: set = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = web.Application()
        self.app.add_routes([web.get("/", self.page), web.get("/viewer.js", self.script), web.get("/ws", self.socket)])
        self.app.on_startup.append(self._started)
        self.app.on_shutdown.append(self._stopping)
        world.on_frame = self._frame_from_thread
        world.on_stop = self._world_stopped

    def _world_stopped(self) -> None:
        """The world thread failed: end the server (the CLI prints the reason, once)."""
        import os
        import signal
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(lambda: os.kill(os.getpid(), signal.SIGTERM))

    async def _started(self, app) -> None:
        self.loop = asyncio.get_running_loop()

    async def _stopping(self, app) -> None:
        self.world.on_frame = None
        self.world.stop()

    async def page(self, request):
        from aiohttp import web
        return web.Response(text=(WEB / "index.html").read_text(), content_type="text/html")

    async def script(self, request):
        from aiohttp import web
        return web.Response(text=(WEB / "viewer.js").read_text(), content_type="application/javascript")

    def _frame_from_thread(self, latest: dict) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._broadcast, latest)
        except RuntimeError:                  # the loop closed between the check and the call: shutting down
            pass

    def _broadcast(self, latest: dict) -> None:
        """The newest frame to every page that is not still taking the last one: a slow page drops frames
        instead of queueing them."""
        for i, page in enumerate(list(self.clients)):
            if page.ws.closed or page.sending:
                continue
            msg = frame_message(latest, page.mode, "guide" if i == 0 else "follower", page.memory)
            if msg is not None:
                page.sending = True
                task = asyncio.ensure_future(self._send(page, msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, page: Page, msg: bytes) -> None:
        try:
            await page.ws.send_bytes(msg)
        except (ConnectionError, RuntimeError):
            pass                              # it went; its socket handler removes it
        finally:
            page.sending = False

    def _wants(self) -> None:
        """Tell the world what the pages now show, so it draws only that."""
        self.world.modes = {"mono"} | {p.mode for p in self.clients}
        self.world.want_memory = any(p.memory for p in self.clients)

    async def socket(self, request):
        from aiohttp import WSMsgType, web
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="worldloop serve: a page from another site may not connect")
        ws = web.WebSocketResponse(heartbeat=20, compress=False, max_msg_size=8192)
        await ws.prepare(request)
        entry = Page(ws)
        if not self.clients:
            with self.world.inputs.lock:      # a new guide counts its input from 1
                self.world.inputs.seq = 0
        self.clients.append(entry)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(data, dict):
                    continue
                if data.get("type") == "mode" and data.get("mode") in MODES:
                    entry.mode = data["mode"]
                    self._wants()
                elif data.get("type") == "memory" and isinstance(data.get("on"), bool):
                    entry.memory = data["on"]
                    self._wants()
                elif self.clients and self.clients[0] is entry:    # only the guide drives
                    self._take_input(data)
        finally:
            was_guide = self.clients[0] is entry
            self.clients.remove(entry)
            self._wants()
            if was_guide:
                with self.world.inputs.lock:      # the guide's keys go with it, and the next counts from 1
                    self.world.inputs.state.held = set()
                    self.world.inputs.seq = 0
        return ws

    def _take_input(self, data: dict) -> None:
        inputs = self.world.inputs
        st, sens = inputs.state, Bindings().mouse_sensitivity
        seq = data.get("seq")
        with inputs.lock:
            if data.get("type") == "keys" and isinstance(data.get("held"), list):
                st.held = {c for c in data["held"] if c in MOVE_COMMANDS}
            elif data.get("type") == "look":      # radians, as mouse motion (the mapper's sensitivity)
                try:
                    dx, dy = float(data.get("dx", 0.0)), float(data.get("dy", 0.0))
                except (TypeError, ValueError, OverflowError):
                    return
                if np.isfinite(dx) and np.isfinite(dy):
                    st.mouse_dx += max(-1.0, min(1.0, dx)) / sens
                    st.mouse_dy += max(-1.0, min(1.0, dy)) / sens
            else:
                return
            if type(seq) is int and inputs.seq < seq < 2 ** 31:
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


def check_address(host: str, port: int) -> None:
    """ValueError naming --host/--port when the server could not listen there (before any model is loaded)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None


def serve(make_session, host: str = "127.0.0.1", port: int = 8080, size: int = 512, show=print, tour=None,
          idle_s: float = 30.0) -> BaseException | None:
    """Run the world and the web server until interrupted (with `tour`, walking it: see World). Returns the
    world's error if it stopped on one."""
    from aiohttp import web
    check_address(host, port)
    world = World(make_session, size, tour=tour, idle_s=idle_s)
    server = Server(world)
    world.start()
    for line in reach_lines(host, port):
        show(line)
    try:
        web.run_app(server.app, host=host, port=port, print=None, handle_signals=True)
    finally:
        world.stop()
    return world.error

