"""Writing files so that a crash never leaves half of one: write a temporary name, then rename."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_path_for(path) -> Path:
    """A temporary sibling of `path` for writers that need a file name (np.savez, ffmpeg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def sha256_file(path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def _read_text(path, error: type[Exception], missing: str, loads, bad: tuple, what: str):
    path = Path(path)
    try:
        return loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (*bad, UnicodeDecodeError) as e:
        raise error(f"{path}: {what}: {e}") from None


def read_json(path, error: type[Exception], missing: str):
    """A JSON file's content; a missing file raises error('{path}: {missing}'), bad JSON error('{path}: not JSON')."""
    import json
    return _read_text(path, error, missing, json.loads, (json.JSONDecodeError,), "not JSON")


def read_toml(path, error: type[Exception], missing: str) -> dict:
    """A TOML file's tables; a missing file raises error('{path}: {missing}'), bad TOML error('... not valid TOML')."""
    import tomllib
    return _read_text(path, error, missing, tomllib.loads, (tomllib.TOMLDecodeError,), "not valid TOML")
