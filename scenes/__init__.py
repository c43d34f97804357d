"""Bundled scene seeds: small TOML files beside this module, found by name."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def bundled() -> dict[str, Path]:
    """Name -> path of every bundled scene."""
    return {p.stem: p for p in sorted(HERE.glob("*.toml"))}


def resolve(name_or_path: str | None) -> Path:
    """A scene given as a file path or as a bundled name ('default' when None)."""
    if not name_or_path:
        return HERE / "default.toml"
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    scenes = bundled()
    if name_or_path in scenes:
        return scenes[name_or_path]
    raise FileNotFoundError(f"no scene file '{name_or_path}' and no bundled scene of that name "
                            f"(bundled: {', '.join(scenes)})")
