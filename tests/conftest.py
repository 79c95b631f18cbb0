"""Shared fixtures, and the seam through which a test gives runs a model.

The model-injection seam
------------------------
A test that needs a run (`run_experiment`, `madebate run`, a judge named by id) to use a model it
controls registers that model as a provider, the way a user plugs in a backend: through the
public provider registry, `madebate.models.providers`, never by patching madebate's internals. The
`model_seam` fixture does this under the `test` prefix and removes the registration afterwards:

    def test_something(tmp_path, model_seam):
        model = mb.ScriptedModel(script)
        spec = {..., "model": model_seam.use(model)}   # "test"
        mb.run_experiment(spec, out=tmp_path / "run")
        assert model_seam.made == ["test"]               # ids the run built a provider for

`use(model)` serves that one instance for every id under the prefix (`test`, `test/judge`, ...);
`use(factory)` calls `factory(model_id, options)` for each provider the run builds, for a test
that wants one model per id or a fresh one per build. `use(model, prefix="openai")` stands in
for a built-in provider (a spec naming `openai/x` gets the test's model; the real provider is
put back when the test ends). Runs in another process cannot see it: those use
`model: scripted` or the OpenAI test server (`openai_test_server.py`).

Other helpers live beside the tests as plain modules (`openai_test_server`, `fault_proxy`),
importable because pytest puts this directory on `sys.path` (rootdir-relative, no hacks).

Markers: `slow` (seconds each: the real embedded model, a wheel build, a Ray cluster,
subprocesses, a browser) and `browser` (headless chromium). The inner loop is
`pytest -q -n 2 -m "not slow"` (pytest-xdist; each worker gets its own share of the CPUs, see
`pytest_configure`); `.ci/run` runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

import madebate as mb

# Hypothesis fails an example that takes over 200 ms by default: a wall-clock limit that a busy
# machine (other processes on every core) trips on correct code. The property tests check
# results, not speed, so the suite runs them without a per-example deadline.
settings.register_profile("madebate", deadline=None)
settings.load_profile("madebate")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker gets its own share of the CPUs (the processes it starts
    inherit it). The embedded model sizes its threads to the cores it may use; without a share,
    two workers each decoding with every core oversubscribe them many times over."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... in a worker
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    index = int(worker[2:])
    share = cores[index::count] or [cores[index % len(cores)]]
    os.sched_setaffinity(0, share)


ProviderFactory = Callable[[str, dict[str, Any]], mb.models.ModelAPI]


class ModelSeam:
    """Registers test models as providers in `madebate.models.providers` (see the module docstring)."""

    prefix = "test"

    def __init__(self) -> None:
        self.made: list[str] = []  # every model id a provider was built for, in order
        self._registered: list[str] = []
        self._replaced: dict[str, Any] = {}  # built-in providers stood in for, put back at close

    def use(self, model: mb.models.ModelAPI | ProviderFactory, *, prefix: str | None = None) -> str:
        """Serve `model` (an instance, or a factory `(model_id, options) -> ModelAPI`) for the
        model ids under `prefix` (default `test`); returns the plain id to name in a spec."""
        prefix = prefix or self.prefix
        if prefix in self._registered:
            mb.models.providers.unregister(prefix)
            self._registered.remove(prefix)
        elif prefix in mb.models.providers:
            self._replaced[prefix] = mb.models.providers.unregister(prefix)

        def build(name: str, options: dict[str, Any]) -> mb.models.ModelAPI:
            model_id = f"{prefix}/{name}" if name else prefix
            self.made.append(model_id)
            return model if isinstance(model, mb.models.ModelAPI) else model(model_id, options)

        mb.models.providers.register(prefix)(build)
        self._registered.append(prefix)
        return prefix

    def close(self) -> None:
        for prefix in self._registered:
            mb.models.providers.unregister(prefix)
        self._registered.clear()
        for prefix, original in self._replaced.items():
            mb.models.providers.register(prefix)(original)
        self._replaced.clear()


@pytest.fixture
def model_seam() -> Iterator[ModelSeam]:
    """Give runs a model through the provider registry; unregistered when the test ends."""
    seam = ModelSeam()
    try:
        yield seam
    finally:
        seam.close()
