"""A local Ray cluster for tests: two CPUs on loopback, quiet, shut down on the way out.

    with local_ray():
        result = mb.run_experiment(spec, out=..., executor=RayExecutor(workers=1))

The caller skips first when ray is not installed; `ray` is imported only here, on entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_ray() -> Iterator[None]:
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
