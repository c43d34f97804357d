"""Scene specs: defaults per biome, TOML round trip, and clear refusals of bad files."""
import pytest

from worldloop.worldgen.procedural.spec import BIOMES, SpecError, biome_default, load_spec, spec_from_toml


def write(tmp_path, text):
    p = tmp_path / "scene.toml"
    p.write_text(text)
    return p


def test_every_biome_round_trips_through_toml(tmp_path):
    for biome in BIOMES:
        spec = biome_default(biome, seed=42)
        again = load_spec(write(tmp_path, spec.to_toml()))
        assert again == spec
        assert again.hash() == spec.hash()


def test_file_overrides_biome_defaults(tmp_path):
    spec = load_spec(write(tmp_path, 'seed = 3\nbiome = "desert"\n[terrain]\namplitude_m = 2.5\n'))
    assert spec.biome == "desert" and spec.terrain.amplitude_m == 2.5
    assert spec.terrain.ridges == biome_default("desert").terrain.ridges  # untouched keys keep the default


@pytest.mark.parametrize("text, words", [
    ('seed = 1\ncolour = "red"\n', ["scene.toml", "unknown key 'colour'"]),
    ('seed = 1\n[terrain]\nbumpiness = 3\n', ["scene.toml", "terrain.bumpiness", "allowed"]),
    ('seed = 1\n[terrain]\namplitude_m = 900\n', ["scene.toml", "terrain.amplitude_m", "[0.0, 200.0]"]),
    ('seed = 1\n[fog]\ndensity = -1\n', ["fog.density", "out of range"]),
    ('seed = 1\ntime_of_day_h = "noon"\n', ["time_of_day_h", "must be a number"]),
    ('seed = 1.5\n', ["seed", "integer"]),
    ('seed = 1\nbiome = "jungle"\n', ["biome", "jungle", "meadow"]),
    ('biome = "snow"\n', ["missing key 'seed'"]),
    ('seed = 1\nversion = 7\n', ["version 7"]),
    ('seed = 1\n[sky]\nzenith = [0.1, 0.2]\n', ["sky.zenith", "list of 3 numbers"]),
    ('seed = = 1\n', ["scene.toml", "not valid TOML"]),
])
def test_bad_files_are_refused_naming_file_and_key(tmp_path, text, words):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    for w in words:
        assert w in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="no such scene file"):
        load_spec(tmp_path / "nope.toml")


def test_bundled_scenes_load():
    from worldloop.scenes import bundled
    assert "default" in bundled()
    for path in bundled().values():
        load_spec(path)


def test_spec_from_toml_names_source():
    with pytest.raises(SpecError, match="<mine>"):
        spec_from_toml("seed = 1\nx = 2\n", "<mine>")
