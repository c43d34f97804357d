// The worldloop browser viewer: frames in over a WebSocket, input out (keys, mouse or touch drag, the Gamepad
// API, device orientation). The first page to connect is the guide and drives; the others follow.
"use strict";
(function () {
  const KEYS = {KeyW: "forward", ArrowUp: "forward", KeyS: "back", ArrowDown: "back", KeyA: "left",
                ArrowLeft: "left", KeyD: "right", ArrowRight: "right", Space: "up", KeyE: "up", KeyC: "down",
                KeyQ: "down", ShiftLeft: "run", ShiftRight: "run"};
  const LOOK_RAD_PER_PX = 0.004;
  const img = document.getElementById("view");
  const roleEl = document.getElementById("role");
  const statusEl = document.getElementById("status");
  const stereoBtn = document.getElementById("stereo");
  const captionEl = document.getElementById("caption");
  const compareBtn = document.getElementById("compare");
  const memoryBtn = document.getElementById("memory");
  const psnrEl = document.getElementById("psnr");
  const mapEl = document.getElementById("map");
  const state = {ws: null, held: new Set(), pad: new Set(), seq: 0, mode: "mono", role: "", frames: 0,
                 last: null, url: null, orient: null, sentAt: {}, memory: false};
  window.worldloop = state;               // for tests and the benchmark: frames seen, the last header

  function send(obj) {
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(obj));
  }
  function sendKeys() {
    state.seq += 1;
    state.sentAt[state.seq] = performance.now();
    send({type: "keys", held: [...new Set([...state.held, ...state.pad])], seq: state.seq});
  }
  function sendLook(dx, dy) {
    state.seq += 1;
    state.sentAt[state.seq] = performance.now();
    send({type: "look", dx: dx, dy: dy, seq: state.seq});
  }

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      statusEl.textContent = "";
      send({type: "mode", mode: state.mode});
      send({type: "memory", on: state.memory});
    };
    ws.onclose = () => { statusEl.textContent = "(reconnecting)"; setTimeout(connect, 1000); };
    ws.onmessage = (ev) => {
      const view = new DataView(ev.data);
      const n = view.getUint32(0);
      const head = JSON.parse(new TextDecoder().decode(new Uint8Array(ev.data, 4, n)));
      const blob = new Blob([new Uint8Array(ev.data, 4 + n)], {type: "image/jpeg"});
      const url = URL.createObjectURL(blob);
      const previous = state.url;       // revoked whether or not it finished loading: nothing leaks
      state.url = url;
      img.onload = () => { if (state.xrFrame) state.xrFrame(img); };
      img.src = url;
      if (previous) URL.revokeObjectURL(previous);
      if (head.seq in state.sentAt) {
        head.latency_ms = performance.now() - state.sentAt[head.seq];
        for (const k of Object.keys(state.sentAt)) if (+k <= head.seq) delete state.sentAt[k];
      }
      state.frames += 1;
      state.last = head;
      if ((head.caption || "") !== captionEl.textContent) captionEl.textContent = head.caption || "";
      compareBtn.hidden = !head.can_compare;
      psnrEl.textContent = head.mode === "compare" && head.psnr != null ?
        "model | truth | difference: PSNR " + head.psnr.toFixed(1) + " dB" : "";
      if (state.memory && head.memory) drawMap(head.memory, head.pose);
      if (head.role !== state.role) {
        state.role = head.role;
        roleEl.textContent = head.role === "guide" ? "you guide" : "following the guide";
      }
    };
  }

  document.addEventListener("keydown", (e) => {
    const c = KEYS[e.code];
    if (!c) return;
    e.preventDefault();
    if (!state.held.has(c)) { state.held.add(c); sendKeys(); }
  });
  document.addEventListener("keyup", (e) => {
    const c = KEYS[e.code];
    if (c && state.held.delete(c)) sendKeys();
  });
  window.addEventListener("blur", () => { if (state.held.size) { state.held.clear(); sendKeys(); } });

  // mouse or touch drag to look
  let drag = null;
  img.addEventListener("pointerdown", (e) => { drag = {x: e.clientX, y: e.clientY}; img.setPointerCapture(e.pointerId); });
  img.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag = {x: e.clientX, y: e.clientY};
    if (dx || dy) sendLook(dx * LOOK_RAD_PER_PX, dy * LOOK_RAD_PER_PX);
  });
  img.addEventListener("pointerup", () => { drag = null; });

  // the Gamepad API: left stick moves (as keys), right stick looks
  function pollPads() {
    const pads = navigator.getGamepads ? [...navigator.getGamepads()].filter(Boolean) : [];
    const held = new Set();
    let lx = 0, ly = 0;
    for (const p of pads) {
      const [ax = 0, ay = 0, rx = 0, ry = 0] = p.axes;
      if (ay < -0.3) held.add("forward");
      if (ay > 0.3) held.add("back");
      if (ax < -0.3) held.add("left");
      if (ax > 0.3) held.add("right");
      if (Math.abs(rx) > 0.15) lx += rx * 0.03;
      if (Math.abs(ry) > 0.15) ly += ry * 0.03;
    }
    if ([...held].join() !== [...state.pad].join()) { state.pad = held; sendKeys(); }
    if (lx || ly) sendLook(lx, ly);
    requestAnimationFrame(pollPads);
  }
  requestAnimationFrame(pollPads);

  // The direction the phone's back faces (where a phone in a viewer looks), from the W3C device orientation
  // (R = Rz(alpha) Rx(beta) Ry(gamma) in east-north-up): the view direction's heading (counter-clockwise
  // positive, as worldloop's yaw) and elevation. Taken from the whole rotation, not from the Euler angles one by
  // one, it does not jump where they flip (a phone in landscape looking at the horizon: gamma near +-90).
  function viewOfDevice(alpha, beta, gamma) {
    const r = Math.PI / 180, a = alpha * r, b = beta * r, g = gamma * r;
    const dx = -Math.sin(g) * Math.cos(a) - Math.cos(g) * Math.sin(b) * Math.sin(a);
    const dy = -Math.sin(g) * Math.sin(a) + Math.cos(g) * Math.sin(b) * Math.cos(a);
    const dz = -Math.cos(g) * Math.cos(b);
    return {yaw: Math.atan2(dy, dx), pitch: Math.asin(Math.max(-1, Math.min(1, dz)))};
  }
  window.worldloopViewOfDevice = viewOfDevice;

  // a phone in a viewer: its orientation turns the view (the change since the last reading)
  const orientBtn = document.getElementById("orient");
  if (window.DeviceOrientationEvent) {
    orientBtn.hidden = false;
    orientBtn.onclick = async () => {
      if (typeof DeviceOrientationEvent.requestPermission === "function") {
        try { await DeviceOrientationEvent.requestPermission(); } catch (e) { return; }
      }
      window.addEventListener("deviceorientation", (e) => {
        if (e.alpha == null) return;
        const {yaw, pitch} = viewOfDevice(e.alpha, e.beta || 0, e.gamma || 0);
        if (state.orient) {
          let dy = yaw - state.orient.yaw;
          if (dy > Math.PI) dy -= 2 * Math.PI;
          if (dy < -Math.PI) dy += 2 * Math.PI;
          sendLook(-dy, -(pitch - state.orient.pitch));
        }
        state.orient = {yaw: yaw, pitch: pitch};
      });
      orientBtn.disabled = true;
    };
  }

  // A top-down map of the spatial memory centred on the player, north (-z) up, REACH_M to each edge: keyframes
  // grey, those the last tick drew from yellow, the player white with a tick along its heading (as play's
  // --memory-map draws it)
  const REACH_M = 60;
  function drawMap(memory, pose) {
    const g = mapEl.getContext("2d"), n = mapEl.width, k = (n / 2) / REACH_M;
    const [x, , z, yaw] = pose;
    const at = (px, pz) => [n / 2 + (px - x) * k, n / 2 + (pz - z) * k];
    g.clearRect(0, 0, n, n);
    g.fillStyle = "rgba(0,0,0,0.6)";
    g.fillRect(0, 0, n, n);
    const used = new Set(memory.in_use);
    memory.keyframes.forEach((kf, i) => {
      const [u, v] = at(kf[0], kf[1]);
      g.fillStyle = used.has(i) ? "rgb(255,210,40)" : "rgb(150,150,150)";
      g.fillRect(u - 3, v - 3, 6, 6);
    });
    const [u, v] = at(x, z);
    g.strokeStyle = g.fillStyle = "#fff";
    g.lineWidth = 2;
    g.beginPath();                         // the heading: yaw 0 looks along -z, counter-clockwise positive
    g.moveTo(u, v);
    g.lineTo(u - Math.sin(yaw) * 14, v - Math.cos(yaw) * 14);
    g.stroke();
    g.fillRect(u - 3, v - 3, 6, 6);
    state.mapDrawn = (state.mapDrawn || 0) + 1;
  }

  function setMode(mode) {
    state.mode = state.mode === mode ? "mono" : mode;
    stereoBtn.textContent = state.mode === "sbs" ? "one view" : "side by side";
    compareBtn.textContent = state.mode === "compare" ? "the world" : "model | truth";
    send({type: "mode", mode: state.mode});
  }
  stereoBtn.onclick = () => setMode("sbs");
  compareBtn.onclick = () => setMode("compare");
  memoryBtn.onclick = () => {
    state.memory = !state.memory;
    mapEl.hidden = !state.memory;
    memoryBtn.textContent = state.memory ? "hide the map" : "memory map";
    send({type: "memory", on: state.memory});
  };

  // WebXR, where the browser offers it: an immersive-vr session showing each half of the side-by-side frame
  // to its eye (progressive enhancement: without WebXR the button stays hidden)
  const xrBtn = document.getElementById("xr");
  // The heading (counter-clockwise positive, as worldloop's yaw) and elevation of the way a WebXR pose looks:
  // its orientation quaternion turns -z (forward in XR's reference spaces, y up) to the view direction.
  function viewOfHead(q) {
    const {x, y, z, w} = q;
    const fx = -2 * (x * z + w * y), fy = -2 * (y * z - w * x), fz = -(1 - 2 * (x * x + y * y));
    return {yaw: Math.atan2(-fx, -fz), pitch: Math.asin(Math.max(-1, Math.min(1, fy)))};
  }
  if (navigator.xr && navigator.xr.isSessionSupported) {
    navigator.xr.isSessionSupported("immersive-vr").then((ok) => { xrBtn.hidden = !ok; }).catch(() => {});
    xrBtn.onclick = async () => {
      const session = await navigator.xr.requestSession("immersive-vr");
      const canvas = document.createElement("canvas");
      const gl = canvas.getContext("webgl2", {xrCompatible: true});
      session.updateRenderState({baseLayer: new XRWebGLLayer(session, gl, {antialias: false})});
      if (state.mode !== "sbs") setMode("sbs");
      const tex = gl.createTexture();
      state.xrFrame = (image) => {
        gl.bindTexture(gl.TEXTURE_2D, tex);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, image);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      };
      const fb = gl.createFramebuffer();
      const ref = await session.requestReferenceSpace("local");
      const draw = (t, frame) => {
        session.requestAnimationFrame(draw);
        const pose = frame.getViewerPose(ref);
        const layer = session.renderState.baseLayer;
        if (!pose || !state.last) return;
        const head = viewOfHead(pose.transform.orientation);   // the head's turns steer the view, as a drag does
        if (state.xrHead) {
          let dy = head.yaw - state.xrHead.yaw;
          if (dy > Math.PI) dy -= 2 * Math.PI;
          if (dy < -Math.PI) dy += 2 * Math.PI;
          if (Math.abs(dy) > 1e-4 || Math.abs(head.pitch - state.xrHead.pitch) > 1e-4)
            sendLook(-dy, -(head.pitch - state.xrHead.pitch));
        }
        state.xrHead = head;
        gl.bindFramebuffer(gl.READ_FRAMEBUFFER, fb);
        gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
        gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, layer.framebuffer);
        const w = img.naturalWidth / 2, h = img.naturalHeight;
        pose.views.forEach((v, i) => {
          const vp = layer.getViewport(v);
          gl.blitFramebuffer(i * w, h, (i + 1) * w, 0, vp.x, vp.y, vp.x + vp.width, vp.y + vp.height,
                             gl.COLOR_BUFFER_BIT, gl.LINEAR);
        });
      };
      session.requestAnimationFrame(draw);
      session.addEventListener("end", () => { state.xrFrame = null; state.xrHead = null; });
    };
  }

  connect();
})();
