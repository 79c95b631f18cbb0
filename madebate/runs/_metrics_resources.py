"""The optional libraries and data some metrics need, each missing one reported with the command
that fetches it (`MissingResource`, a `ConfigError`: exit 2 in the CLI)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from madebate._errors import MissingResource
from madebate._task import Task

METRICS_EXTRA = "pip install 'madebate[metrics]'"


def library(module: str, metric: str, package: str) -> Any:
    """An optional metric library, imported, or a clear error naming how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingResource(
            f"the {metric} metric needs {package}: {METRICS_EXTRA}", field="scoring"
        ) from None


def nltk_data(resource: str, metric: str) -> Any:
    """Where an NLTK data package is (NLTK's path pointer, a folder or a zip) (`corpora/wordnet`, `tokenizers/punkt_tab/english`),
    searched where NLTK searches (NLTK_DATA, ~/nltk_data, the virtual environment, ...), or a
    clear error naming the one command that fetches it."""
    nltk = library("nltk", metric, "nltk")
    name = resource.split("/")[1]
    try:
        return nltk.data.find(resource)
    except LookupError:
        raise MissingResource(
            f"the {metric} metric needs NLTK's '{name}' data, not found in "
            f"{', '.join(map(str, nltk.data.path))}: fetch it once with "
            f"python -m nltk.downloader {name}",
            field="scoring",
        ) from None


_REQUIREMENTS: dict[str, Callable[[], object]] = {}
_EXAMPLE_CHECKS: dict[str, Callable[[Task], object]] = {}


def requires(metric: str, check: Callable[[], object]) -> None:
    """Register what a metric needs: `check` raises `MissingResource` when it is not there."""
    _REQUIREMENTS[metric] = check


def check_metrics(names: Iterable[str]) -> None:
    """Fail before any model call when a metric's library, data or weights are missing (a
    metric that failed while scoring would score every example 0 instead)."""
    for name in dict.fromkeys(names):
        check = _REQUIREMENTS.get(name)
        if check is not None:
            check()


def requires_of_examples(metric: str, check: Callable[[Task], object]) -> None:
    """Register what a metric reads from each example (IFEval's instruction ids): `check`
    raises `ConfigError` naming the example when it is missing or malformed."""
    _EXAMPLE_CHECKS[metric] = check


def check_examples(names: Iterable[str], tasks: Iterable[Task]) -> None:
    """Fail before any model call when an example lacks what a metric reads from it (else every
    discussion would run and then be recorded as an error, scored 0)."""
    checks = [c for n in dict.fromkeys(names) if (c := _EXAMPLE_CHECKS.get(n)) is not None]
    for task in tasks if checks else ():
        for check in checks:
            check(task)
