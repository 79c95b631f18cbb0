"""The paradigm library: built-in paradigms by name (`paradigms/*.yaml`) and paradigm files by
path, read and checked by compiling them for a nominal team."""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

from madebate._data import library_dir, library_names
from madebate._errors import ConfigError
from madebate._text import quote_name
from madebate._yaml import read_yaml, validate_model
from madebate.engine._paradigm import ParadigmSpec
from madebate.engine._paradigm_compile import check_paradigm


def builtin_paradigms() -> list[str]:
    """The names of the paradigms shipped with madebate."""
    return library_names("paradigms")


def load_paradigm(name_or_path: str | Path | ParadigmSpec) -> ParadigmSpec:
    """A built-in paradigm by name, or a paradigm YAML file by path. Checked before returning."""
    if isinstance(name_or_path, ParadigmSpec):
        spec = name_or_path
    else:
        text = str(name_or_path)
        path = Path(text)
        if text.endswith((".yaml", ".yml")) or path.is_file():
            spec = _read(path)
        else:
            builtin = library_dir("paradigms") / f"{text}.yaml"
            if not builtin.is_file():
                names = builtin_paradigms()
                near = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ConfigError(
                    f"unknown paradigm {quote_name(text)}{hint}; built-ins: {', '.join(names)}; "
                    "or give a path to a YAML file",
                    field="paradigm",
                )
            spec = _read(builtin)
    check_paradigm(spec)
    return spec


def _read(path: Path) -> ParadigmSpec:
    try:
        raw = path.read_bytes()
    except OSError:  # read_yaml says what is wrong
        return _parse(str(path))
    return _read_version(str(path), raw).model_copy(deep=True)


@functools.lru_cache(maxsize=64)
def _read_version(path: str, raw: bytes) -> ParadigmSpec:
    """A paradigm file parsed once per content: a sweep checks each cell's paradigm, and
    parsing the YAML again for each of 10,000 cells took minutes."""
    return _parse(path)


def _parse(path: str) -> ParadigmSpec:
    data = read_yaml(Path(path))
    return validate_model(ParadigmSpec, data, source=path).with_source(path)
