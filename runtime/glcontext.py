"""One offscreen GL context per thread, made on first use and kept: a backend that renders a start frame (or
the oracle, every frame) uses its thread's context instead of making and releasing one at every start."""
from __future__ import annotations

import threading

_local = threading.local()


def thread_context():
    """This thread's standalone EGL context (moderngl), made once."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        import moderngl
        ctx = _local.ctx = moderngl.create_standalone_context(backend="egl")
    return ctx
