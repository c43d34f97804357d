"""The drawer: a second network that draws a place once, where the generator has no detail for it.

The per-tick network corrects the warp every tick; where nobody has looked (a strip a turn reveals) or where
the warp magnifies what was seen only from afar (walking on, land that stood 200 m away is 50 m away now and
carries four times fewer pixels than it needs), a regression fills the average, and repeated every tick it
smears. The drawer instead draws such pixels once, when they need it, and the warp and memory carry what it
drew from then on:

- every pixel carries the distance it was last drawn from (`seen_m`, in the generator's state), carried
  through the warp with its colour;
- a pixel is **due** where nothing covered it, or where it now stands less than half as far as it was drawn
  from (`DRAW_APPROACH`: the explore suite's rule for "seen only from afar");
- the drawer sees the frame, its depth, the due mask and two channels of world-anchored noise (`world_noise`:
  a hash of the world cell each pixel's surface lies in and the scene's seed, so the same place is drawn the
  same way whenever it is drawn, and a seed is a world), and returns RGB and depth corrections applied on the
  due pixels only; they are then drawn from their present distance.

It is trained on pairs of true frames of one path (`train_drawer`): a frame warped with its true depth to a
pose up to a few seconds on, against the true frame there, with L1 on the due pixels and a patch
discriminator that judges the composite (LaMa's recipe: the adversarial loss asks for a plausible world where
no single answer is right).
"""
from __future__ import annotations

import numpy as np

from .geometry import Camera, _pixels, relative

DRAW_APPROACH = 2.0       # a pixel is due once it stands this many times nearer than it was drawn from
DRAW_MIN_SHARE = 0.02     # the drawer waits until this share of the frame is due (as in its training pairs:
# a tick's due pixels alone are a thin band it never saw)
NOISE_CELLS_M = (1.0, 4.0)  # world-anchored noise: cell sizes on the ground plane
DRAW_IN_CHANNELS = 9       # rgb 3, encoded depth 1, due mask 1, log approach 1, noise 2, sky 1
DRAW_OUT_CHANNELS = 4
SKY_FRACTION = 0.85      # depth beyond this share of far_m is sky (a warp turns the sky plane: 899 m at 1000)


def _hash(ix: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Integer cells -> floats in [-1, 1], fixed by the seed (a 64-bit mix, as splitmix64)."""
    h = (ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (iz.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x165667B19E3779F9)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return ((h >> np.uint64(40)).astype(np.float32) / np.float32(2 ** 23)) - np.float32(1.0)


def world_noise(cam: Camera, depth: np.ndarray, pose, seed: int, far_m: float) -> np.ndarray:
    """(2, H, W) noise keyed by the world cell (x, z) each pixel's surface lies in, one channel per cell size;
    0 on the sky."""
    h, w = depth.shape
    p = cam.points_world(depth, pose)
    out = np.zeros((len(NOISE_CELLS_M), h * w), np.float32)
    land = depth.reshape(-1) < far_m * SKY_FRACTION
    with np.errstate(invalid="ignore", over="ignore"):
        for k, cell in enumerate(NOISE_CELLS_M):
            ix = np.floor(p[land, 0] / cell).astype(np.int64)
            iz = np.floor(p[land, 2] / cell).astype(np.int64)
            out[k, land] = _hash(ix, iz, seed + 7919 * k)
    return out.reshape(len(NOISE_CELLS_M), h, w)


def carry_seen(cam: Camera, seen_prev: np.ndarray, depth_new: np.ndarray, valid: np.ndarray, src, dst) -> np.ndarray:
    """The distance each new pixel was drawn from: the source pixel its surface lands on (nearest); inf where
    nothing covered it."""
    h, w = depth_new.shape
    m, t = relative(src, dst)
    u, v, _ = _pixels(cam.intr, (cam.rays32 * depth_new.reshape(-1, 1) - t) @ m.T)
    out = np.full(h * w, np.inf, np.float32)
    ok = valid.reshape(-1) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    idx = np.flatnonzero(ok)
    out[idx] = seen_prev[np.minimum(v[idx].astype(np.int64), h - 1), np.minimum(u[idx].astype(np.int64), w - 1)]
    return out.reshape(h, w)


def due_mask(seen_m: np.ndarray, depth: np.ndarray, far_m: float) -> np.ndarray:
    """Pixels to draw: never drawn (seen inf), or now at most 1/DRAW_APPROACH as far as they were drawn from.
    The sky is never due by approach (it does not come nearer)."""
    land = depth < far_m * SKY_FRACTION
    return ~np.isfinite(seen_m) | (land & (seen_m > DRAW_APPROACH * depth))


def drawer_inputs(rgb: np.ndarray, denc: np.ndarray, depth: np.ndarray, seen_m: np.ndarray, due: np.ndarray,
                  noise: np.ndarray, far_m: float) -> np.ndarray:
    """(DRAW_IN_CHANNELS, H, W) float32: rgb float [0, 1] (H, W, 3), encoded depth, depth metres, seen, due."""
    x = np.empty((DRAW_IN_CHANNELS, *depth.shape), np.float32)
    x[0:3] = rgb.transpose(2, 0, 1)
    x[3] = denc
    x[4] = due
    approach = np.where(np.isfinite(seen_m), seen_m / np.maximum(depth, 0.05), 64.0)
    x[5] = np.log2(np.clip(approach, 1.0, 64.0)) / 6.0
    x[6:8] = noise
    x[8] = depth >= far_m * SKY_FRACTION
    return x


def pair_inputs(cam: Camera, far_m: float, a, b, rng: np.random.Generator, seed: int, blur: bool = True):
    """A training pair: true frame `a` (blurred half the time, as generated frames come to be) warped with its
    true depth to the pose of true frame `b`, holes filled as the generator fills them. Returns (inputs,
    target rgb float (H, W, 3), target encoded depth, due mask, base rgb, base encoded depth)."""
    from .geometry import fill_holes, warp
    from .step import encode_depth, rgb_to_float
    rgb = rgb_to_float(a.rgb)
    if blur and rng.random() < 0.5:
        from .realism import gaussian_blur
        rgb = gaussian_blur(rgb[None], float(rng.uniform(0.3, 1.0)))[0]
    depth = a.depth.astype(np.float32)
    wp = warp(cam, rgb, depth, a.pose, b.pose)
    seen = carry_seen(cam, depth, wp.depth, wp.valid, a.pose, b.pose)
    base_rgb, base_d = fill_holes(wp.rgb, wp.depth, wp.valid, cam.elevation(b.pose.pitch))
    due = due_mask(seen, base_d, far_m)
    denc = encode_depth(base_d, far_m)
    x = drawer_inputs(base_rgb, denc, base_d, seen, due, world_noise(cam, base_d, b.pose, seed, far_m), far_m)
    return (x, rgb_to_float(b.rgb), encode_depth(b.depth, far_m), due, base_rgb.astype(np.float32), denc)


class RenderedPairs:
    """Pairs rendered on demand in the training scenes: a pose anywhere free, and a pose 2-80 m straight on
    (turned up to 45 degrees a third of the time), so what stood far away in the first is near in the second:
    a dataset's paths move a few metres between frames a few seconds apart, and never show a tree 100 m
    away coming near."""

    def __init__(self, specs, intr):
        import moderngl
        from ..procedural.render import GroundTruthRenderer
        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.renderers = [GroundTruthRenderer(s, ctx=self.ctx) for s in specs]
        self.spawns = [r.world.spawn_pose() for r in self.renderers]
        self.intr = intr

    def sample(self, rng: np.random.Generator):
        """(frame a, frame b, seed)."""
        from ..poses import heading_vectors
        n = int(rng.integers(len(self.renderers)))
        r, sp = self.renderers[n], self.spawns[n]
        w = r.world
        for _ in range(200):
            x, z = sp.x + rng.uniform(-150, 150), sp.z + rng.uniform(-150, 150)
            yaw = rng.uniform(-np.pi, np.pi)
            d = float(np.exp(rng.uniform(np.log(2.0), np.log(80.0))))
            fwd, _ = heading_vectors(yaw)
            x2, z2 = x + d * fwd[0], z + d * fwd[2]
            if w.is_free(x, z, 1.0) and w.is_free(x2, z2, 1.0):
                break
        pitch = rng.uniform(-0.2, 0.1)
        turn = rng.uniform(-0.8, 0.8) if rng.random() < 1 / 3 else rng.uniform(-0.05, 0.05)
        a = r.render(w.eye_pose(x, z, yaw, pitch), self.intr)
        b = r.render(w.eye_pose(x2, z2, yaw + turn, pitch + rng.uniform(-0.05, 0.05)), self.intr)
        return a, b, int(w.spec.seed)

    def release(self):
        for r in self.renderers:
            r.release()
        self.ctx.release()


def draw(net, cam: Camera, rgb: np.ndarray, depth: np.ndarray, seen: np.ndarray, pose, seed: int, far_m: float):
    """(rgb uint8, depth, seen) with the due pixels drawn by `net` (a numpy callable (B, 9, H, W) -> (B, 4, H, W))
    and now drawn from where they stand."""
    from .step import decode_depth, encode_depth, rgb_to_float, rgb_to_uint8
    due = due_mask(seen, depth, far_m)
    if due.mean() < DRAW_MIN_SHARE:
        return rgb, depth, seen
    rgbf, denc = rgb_to_float(rgb), encode_depth(depth, far_m)
    x = drawer_inputs(rgbf, denc, depth, seen, due, world_noise(cam, depth, pose, seed, far_m), far_m)
    out = net(x[None])[0]
    if not np.isfinite(out).all():
        raise FloatingPointError("the drawer produced NaN or Inf")
    rgbf = np.where(due[..., None], rgbf + out[:3].transpose(1, 2, 0), rgbf)
    depth = np.where(due, decode_depth(denc + out[3], far_m), depth)
    return rgb_to_uint8(rgbf), depth.astype(np.float32), np.where(due, depth, seen).astype(np.float32)
