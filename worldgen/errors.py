"""The project's one error type for a file that cannot be used.

Every loader of a file a user may receive (scene, start picture, action log, save, checkpoint, dataset shard
and manifest, ONNX sidecar, engine sidecar, key bindings) refuses bad input with a subclass of FileRefused whose
message names the file and the field. Anything else escaping a loader is a bug (`worldloop fuzz` looks for them).
"""


class FileRefused(ValueError):
    """A file that is missing, malformed, out of range, altered, or for something else."""
