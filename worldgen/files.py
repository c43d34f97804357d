"""Writing files so that a crash never leaves half of one: write a temporary name, then rename."""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path

_TEMP = re.compile(r"^\..+\.tmp(\d+)(\.[A-Za-z0-9]+)?$")   # what temp_path_for names


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename."""
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


@contextmanager
def replacing(path):
    """`with replacing(path) as tmp:` write tmp; at the end it becomes `path` by an atomic rename. If the block
    fails or is interrupted (Ctrl-C included), `path` is as it was and tmp is gone."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def clean_stale_temps(folder) -> list[Path]:
    """Remove the temporary files (temp_path_for's names) that a process killed mid-write left in `folder`:
    those whose writer is no longer running. Returns what was removed."""
    folder = Path(folder)
    gone = []
    if not folder.is_dir():
        return gone
    for p in folder.iterdir():
        m = _TEMP.match(p.name)
        if m and p.is_file() and not _running(int(m.group(1))):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2 ** 22          # another user's process, or a number no process has
    return True


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
