"""Where the built-in YAML libraries are: inside the installed wheel, or beside a source checkout."""

from __future__ import annotations

from pathlib import Path

from madebate._errors import MadebateError

_PACKAGE_DIR = Path(__file__).resolve().parent


def library_dir(kind: str) -> Path:
    """The folder of built-in `paradigms` or `personas` YAML files."""
    for candidate in (_PACKAGE_DIR / "_data" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise MadebateError(f"the built-in {kind} library is missing from this installation")


def library_names(kind: str) -> list[str]:
    return sorted(p.stem for p in library_dir(kind).glob("*.yaml"))


def prompts_dir() -> Path:
    return _PACKAGE_DIR / "prompts"
