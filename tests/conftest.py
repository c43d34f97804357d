import dataclasses

import moderngl
import pytest

from worldloop.worldgen.procedural.spec import biome_default


@pytest.fixture(scope="session")
def gl_ctx():
    """One headless EGL context shared by the session's renderers (creating one costs ~50 ms)."""
    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    ctx.release()


@pytest.fixture
def flat_village():
    """The default village with perfectly flat terrain at y = 0, so the horizon sits on the centre row."""
    spec = biome_default("village", seed=1)
    return dataclasses.replace(spec, terrain=dataclasses.replace(spec.terrain, amplitude_m=0.0,
                                                                 water_level_m=-5.0))
