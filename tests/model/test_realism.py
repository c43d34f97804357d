"""Realism measures: each tells apart what it should and not what it should not."""
import numpy as np

from worldloop.worldgen.model import realism


def textures(n, seed, res=32):
    """Sharp-edged random scenes: blocks of colour with fine noise, like a rendered frame's detail."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, res, res, 3), np.uint8)
    for i in range(n):
        img = np.repeat(np.repeat(rng.uniform(40, 200, (res // 8, res // 8, 3)), 8, 0), 8, 1)
        out[i] = np.clip(img + rng.normal(0, 18, img.shape), 0, 255)
    return out


def test_c2st_separates_true_from_blurred_not_true_from_true():
    a, b = textures(160, 1), textures(160, 2)
    test = (np.arange(160) // 20) % 2 == 1
    same = realism.c2st(a, b, test, epochs=1, min_steps=120)
    blurred = realism.c2st(a, realism.gaussian_blur(b, 0.8), test, epochs=1, min_steps=120)
    assert abs(same - 0.5) < 0.1
    assert blurred > 0.8


def test_c2st_needs_samples_on_both_sides():
    a = textures(20, 1)
    assert realism.c2st(a, a, np.zeros(20, bool)) is None


def test_frechet_distance_grows_with_difference():
    a, b = textures(400, 3), textures(400, 4)
    fa, fb = realism.random_features(a), realism.random_features(b)
    fblur = realism.random_features(realism.gaussian_blur(b, 1.5))
    assert np.allclose(realism.random_features(a), fa)          # the network is the same every call
    same, other = realism.frechet_distance(fa, fb), realism.frechet_distance(fa, fblur)
    assert 0 <= same < other / 2
    assert realism.frechet_distance(fa[:1], fb) is None


def test_top_octave_power_drops_with_blur_and_honours_the_mask():
    a = textures(8, 5)
    assert realism.top_octave_power(realism.gaussian_blur(a, 1.0)) < 0.5 * realism.top_octave_power(a)
    mask = np.zeros(a.shape[:3], bool)
    assert realism.top_octave_power(a, mask) is None
    mask[:, :, :16] = True
    flat = a.copy()
    flat[:, :, :16] = 128
    assert realism.top_octave_power(flat, mask) == 0.0


def test_upright_edges_count_posts_not_ground():
    h = w = 32
    rows = np.arange(h)[:, None] * np.ones((1, w))
    ground = np.broadcast_to(200.0 / (rows + 1), (1, h, w)).astype(np.float32)   # depth falls down the rows
    assert realism.upright_edges(ground) == 0
    one, three = ground.copy(), ground.copy()
    one[0, :, 4:7] = 5.0
    for x in (4, 14, 24):
        three[0, :, x:x + 3] = 5.0
    assert realism.upright_edges(one) > 0
    assert realism.upright_edges(three) == 3 * realism.upright_edges(one)
    mask = np.zeros((1, h, w), bool)
    mask[:, :, 12:] = True
    assert realism.upright_edges(three, mask) == 2 * realism.upright_edges(one)
    assert realism.upright_edges(three, np.zeros((1, h, w), bool)) is None


def test_copy_share_finds_copies_shifted_or_mirrored():
    start = textures(1, 6)[0]
    shifted = np.roll(start, (3, 5), axis=(0, 1))[None]
    mirrored = start[:, ::-1][None].copy()
    other = textures(1, 7)
    assert realism.copy_share(shifted, start) > 0.6
    assert realism.copy_share(mirrored, start) > 0.9
    assert realism.copy_share(other, start) < 0.05
    flat = np.full_like(shifted, 90)
    assert realism.copy_share(flat, start) is None            # flat patches are not judged


def test_streaks_see_smears_along_rows_and_columns():
    noise = np.random.default_rng(8).integers(0, 255, (4, 48, 48, 3)).astype(np.uint8)
    plain = realism.streak_similarity(noise)
    assert abs(plain["rows"] - 0.5) < 0.05 and abs(plain["cols"] - 0.5) < 0.05
    smeared = np.repeat(noise[:, :, ::8], 8, axis=2)             # every row held for 8 pixels
    s = realism.streak_similarity(smeared)
    assert s["rows"] > 0.6 and abs(s["cols"] - 0.5) < 0.05
    stripes = smeared.transpose(0, 2, 1, 3)
    t = realism.streak_similarity(stripes)
    assert t["cols"] > 0.6 and abs(t["rows"] - 0.5) < 0.05
    assert realism.streak_similarity(noise, np.zeros(noise.shape[:3], bool)) == {"rows": None, "cols": None}
