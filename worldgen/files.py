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


MAX_TEXT_BYTES = 64 << 20    # no scene, config, sidecar or manifest comes near this


def read_small_text(path, error: type[Exception], missing: str, limit: int = MAX_TEXT_BYTES) -> str:
    """A text file a user may have been sent: a regular file (a FIFO or a device would hang the reader), at most
    `limit` bytes, UTF-8; anything else raises error naming the file."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror})") from None
    import stat
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file")
    if st.st_size > limit:
        raise error(f"{path}: {st.st_size} bytes, more than a file of this kind can be ({limit})")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror})") from None


def _read_text(path, error: type[Exception], missing: str, loads, bad: tuple, what: str):
    path = Path(path)
    text = read_small_text(path, error, missing)
    try:
        return loads(text)
    except (*bad, RecursionError, ValueError) as e:     # ValueError: numbers with too many digits, and kin
        raise error(f"{path}: {what}: {str(e)[:200] if not isinstance(e, RecursionError) else 'nested too deeply'}") \
            from None


def read_json(path, error: type[Exception], missing: str):
    """A JSON file's content; a missing file raises error('{path}: {missing}'), bad JSON error('{path}: not JSON')."""
    import json
    return _read_text(path, error, missing, json.loads, (json.JSONDecodeError,), "not JSON")


def read_toml(path, error: type[Exception], missing: str) -> dict:
    """A TOML file's tables; a missing file raises error('{path}: {missing}'), bad TOML error('... not valid TOML')."""
    import tomllib
    return _read_text(path, error, missing, tomllib.loads, (tomllib.TOMLDecodeError,), "not valid TOML")
