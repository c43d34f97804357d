"""Seeded hash and gradient noise in numpy: integer hashing makes every value a pure function of its inputs.

Nothing here keeps state or draws from a global random generator, so the same seed gives the same world
bit for bit on every run and in every process.
"""
from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wraps on overflow by design)."""
    h = np.asarray(h, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
    return h ^ (h >> np.uint64(31))


def hash_ints(*keys) -> np.ndarray:
    """Hash any number of integer arrays (broadcast together) to uint64."""
    h = np.uint64(0x243F6A8885A308D3)
    with np.errstate(over="ignore"):
        for k in keys:
            k = np.asarray(k).astype(np.int64).astype(np.uint64)
            h = mix64(h ^ (k * _GOLD + np.uint64(0x632BE59BD9B4E019)))
    return h


def hash_unit(*keys) -> np.ndarray:
    """Hash integers to float64 uniform in [0, 1)."""
    return (hash_ints(*keys) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def seed_rng(*keys) -> np.random.Generator:
    """A numpy Generator determined by integer keys (seed, chunk index, kind, ...)."""
    return np.random.Generator(np.random.PCG64(int(hash_ints(*keys))))


def perlin(x: np.ndarray, z: np.ndarray, seed: int) -> np.ndarray:
    """2D gradient noise, roughly in [-1, 1], smooth (C2) everywhere."""
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    x0, z0 = np.floor(x), np.floor(z)
    fx, fz = x - x0, z - z0
    ix, iz = x0.astype(np.int64), z0.astype(np.int64)

    def grad_dot(dx, dz):
        angle = hash_unit(seed, ix + dx, iz + dz) * (2 * np.pi)
        return np.cos(angle) * (fx - dx) + np.sin(angle) * (fz - dz)

    u = fx * fx * fx * (fx * (fx * 6 - 15) + 10)
    v = fz * fz * fz * (fz * (fz * 6 - 15) + 10)
    a = grad_dot(0, 0) + u * (grad_dot(1, 0) - grad_dot(0, 0))
    b = grad_dot(0, 1) + u * (grad_dot(1, 1) - grad_dot(0, 1))
    return (a + v * (b - a)) * 1.41421356


def fbm(x, z, seed: int, octaves: int, gain: float, ridges: float = 0.0) -> np.ndarray:
    """Fractal sum of `octaves` noise layers, normalised to roughly [-1, 1].

    ridges in [0, 1] blends each octave towards ridged noise (1 - 2|n|), which gives sharp crests.
    """
    total = np.zeros(np.broadcast(np.asarray(x), np.asarray(z)).shape)
    amp, norm, freq = 1.0, 0.0, 1.0
    for o in range(octaves):
        n = perlin(np.asarray(x) * freq, np.asarray(z) * freq, seed * 31 + o)
        if ridges > 0:
            n = (1 - ridges) * n + ridges * (1 - 2 * np.abs(n))
        total += amp * n
        norm += amp
        amp *= gain
        freq *= 2.03  # not exactly 2, so octave lattices do not line up
    return total / norm
