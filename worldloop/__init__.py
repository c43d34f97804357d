"""worldloop: explore worlds a neural network generates in real time.

The repository keeps the design card's folders at its top level (runtime/, worldgen/, trt_engines/, scenes/,
tools/); installed, they are subpackages of this one (worldloop.runtime, worldloop.worldgen, ...), so no
generic top-level name reaches site-packages.
"""

__all__ = ["World", "WorldState", "Rollout", "Frame", "Pose", "Action"]


def __getattr__(name):
    """The API's names, imported when first asked for (`import worldloop` stays light)."""
    if name in ("World", "WorldState", "Rollout"):
        from . import api
        return getattr(api, name)
    if name in ("Frame", "Pose", "Action"):
        from .worldgen import poses
        return getattr(poses, name)
    raise AttributeError(f"module 'worldloop' has no attribute {name!r}")
