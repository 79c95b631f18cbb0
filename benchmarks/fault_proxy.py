"""A fault-injecting reverse proxy for OpenAI-compatible servers: runs tests/fault_proxy.py
(the implementation lives with the tests, which import it; see its docstring for the faults).

    python benchmarks/fault_proxy.py --upstream http://127.0.0.1:8000 --port 8100 \
        --fault-rate 0.1 --seed 0 --retry-after-s 1
"""

from __future__ import annotations

import runpy
from pathlib import Path

if __name__ == "__main__":
    proxy = Path(__file__).resolve().parents[1] / "tests" / "fault_proxy.py"
    runpy.run_path(str(proxy), run_name="__main__")
