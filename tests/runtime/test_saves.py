"""Save games: round trip, and clear refusals of truncated, altered, newer and foreign files."""
import hashlib
import json
import zipfile

import numpy as np
import pytest

from worldloop.worldgen.saves import VERSION, SaveError, read_save, write_save


def make(tmp_path):
    arrays = {"prev_rgb": np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "memory_pose": np.zeros((2, 5))}
    return write_save(tmp_path / "a.wlsave", {"seed": 1}, "model-abc", "f" * 64, "torch", arrays,
                      {"tick": 7, "pose": [0, 1, 2, 3, 0]})


def test_round_trip(tmp_path):
    meta, arrays = read_save(make(tmp_path), expect_model_id="model-abc")
    assert meta["tick"] == 7 and meta["model_id"] == "model-abc" and meta["version"] == 3
    assert arrays["prev_rgb"][1, 1, 1] == 16 and arrays["memory_pose"].shape == (2, 5)
    assert not list(tmp_path.glob(".*tmp*"))      # the temporary file was renamed away


def test_another_model_is_refused(tmp_path):
    with pytest.raises(SaveError, match="model-abc.*model-xyz"):
        read_save(make(tmp_path), expect_model_id="model-xyz")


def test_truncated_file_is_refused(tmp_path):
    p = make(tmp_path)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(SaveError, match="a.wlsave"):
        read_save(p)


def rewrite(p, edit):
    """Load a save's arrays, let edit(arrays) change them, and write them back."""
    with np.load(p) as z:
        d = {k: z[k] for k in z.files}
    edit(d)
    with open(p, "wb") as f:
        np.savez(f, **d)


def test_altered_state_is_refused(tmp_path):
    p = make(tmp_path)

    def alter(d):
        d["gen.prev_rgb"] = d["gen.prev_rgb"].copy()
        d["gen.prev_rgb"][0, 0, 0] = 99
    rewrite(p, alter)
    with pytest.raises(SaveError, match="altered"):
        read_save(p)


def test_newer_version_is_refused(tmp_path):
    p = make(tmp_path)

    def newer(d):
        meta = json.loads(str(d["meta_json"]))
        meta["version"] = VERSION + 1
        d["meta_json"] = np.array(json.dumps(meta))
        d["meta_sha256"] = np.array(hashlib.sha256(str(d["meta_json"]).encode()).hexdigest())
    rewrite(p, newer)
    with pytest.raises(SaveError, match="newer worldloop"):
        read_save(p)


def test_not_a_save(tmp_path):
    p = tmp_path / "x.wlsave"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(SaveError, match="x.wlsave"):
        read_save(p)


def test_altered_meta_is_refused(tmp_path):
    p = make(tmp_path)

    def alter(d):
        meta = json.loads(str(d["meta_json"]))
        meta["pose"] = [float("nan")] * 5
        d["meta_json"] = np.array(json.dumps(meta))
    rewrite(p, alter)
    with pytest.raises(SaveError, match="meta_json does not match meta_sha256"):
        read_save(p)

    def drop(d):
        del d["meta_sha256"]
    p = make(tmp_path)
    rewrite(p, drop)
    with pytest.raises(SaveError, match="meta_sha256 is missing"):
        read_save(p)


def test_entries_that_would_unpack_huge_or_are_flagged_are_refused_unread(tmp_path):
    p = tmp_path / "bomb.wlsave"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("gen.prev_rgb.npy", "w", force_zip64=True) as f:   # 300 MB of zeros: a 300 KB file
            block = bytes(1 << 20)
            for _ in range(300):
                f.write(block)
    assert p.stat().st_size < 2 << 20
    with pytest.raises(SaveError, match="unpacks to"):
        read_save(p)
    q = make(tmp_path)
    data = bytearray(q.read_bytes())
    at = data.find(b"PK\x01\x02")                      # the first central directory entry: set "encrypted"
    data[at + 8] |= 1
    q.write_bytes(bytes(data))
    with pytest.raises(SaveError, match="encrypted"):
        read_save(q)
