"""Writing files so that a crash never leaves half of one: write a temporary name, then rename."""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path

_TEMP = re.compile(r"^\..+\.tmp(\d+)(\.[A-Za-z0-9]+)?$")   # what temp_path_for names


def user_data_dir() -> Path:
    """The user's worldloop folder: $WORLDLOOP_DATA, else $XDG_DATA_HOME/worldloop (~/.local/share/worldloop)."""
    env = os.environ.get("WORLDLOOP_DATA")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "worldloop"


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
    except (*bad, RecursionError, ValueError, SystemError) as e:     # ValueError: numbers with too many digits, and kin
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


def read_npz(path, error: type[Exception], max_entry_bytes: int, keys=None, max_entries: int = 64) -> dict:
    """The arrays of an .npz file (np.savez, no pickle) a user may have been sent: every zip entry checked first
    (stored or deflated, not encrypted, at most `max_entry_bytes` unpacked), then read; anything wrong raises
    error naming the file. keys: read only these (a missing one is an error)."""
    import zipfile

    import numpy as np
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if not path.is_file():
        raise error(f"{path}: not a regular file")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > max_entries:
                raise error(f"{path}: {len(infos)} entries, more than a file of this kind holds")
            for info in infos:
                if info.flag_bits & 0x1:
                    raise error(f"{path}: entry {info.filename} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise error(f"{path}: entry {info.filename} uses a compression numpy does not read")
                if info.file_size > max_entry_bytes:
                    raise error(f"{path}: entry {info.filename} unpacks to {info.file_size} bytes, more than a "
                                f"file of this kind holds ({max_entry_bytes})")
                if info.filename.endswith(".npy"):
                    _check_npy_header(z, info, path, error)
        with np.load(path, allow_pickle=False) as z:
            names = z.files if keys is None else list(keys)
            missing = [k for k in names if k not in z.files]
            if missing:
                raise error(f"{path}: missing field(s) {', '.join(missing)}")
            return {k: z[k] for k in names}
    except error:
        raise
    except Exception as e:   # zipfile and numpy's parser raise many kinds (BadZipFile, ValueError, SyntaxError..)
        raise error(f"{path}: unreadable (truncated or not this kind of file): {e.__class__.__name__}") from None


def npy_header(f) -> tuple:
    """(shape, dtype) from the header of the .npy file open in `f` (binary), no data read."""
    import numpy as np
    fmt = np.lib.format
    major = fmt.read_magic(f)[0]
    shape, _, dtype = (fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0)(f)
    return shape, dtype


def _check_npy_header(z, info, path: Path, error) -> None:
    """An array entry's header may not promise more data than the entry holds (numpy would allocate it all
    before finding out), nor an object dtype."""
    with z.open(info) as f:
        shape, dtype = npy_header(f)
    if dtype.hasobject:
        raise error(f"{path}: entry {info.filename} holds Python objects")
    n = 1
    for d in shape:
        n *= int(d)
    if n * dtype.itemsize > info.file_size:
        raise error(f"{path}: entry {info.filename} promises a {tuple(shape)} {dtype} array, more than it holds")
