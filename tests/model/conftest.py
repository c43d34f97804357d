import sys
from pathlib import Path

import pytest

from worldloop.worldgen.procedural.render import GroundTruthRenderer
from worldloop.worldgen.procedural.spec import biome_default

sys.path.insert(0, str(Path(__file__).parent))   # for helpers.py (tests import in importlib mode)


@pytest.fixture(scope="session")
def village_renderer(gl_ctx):
    r = GroundTruthRenderer(biome_default("village", seed=1), ctx=gl_ctx)
    yield r
    r.release()
