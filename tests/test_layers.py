"""The package's shape: the layer contracts of `lint-imports` (run by `.ci/run`) and no import
cycles between modules, checked on the real import graph."""

from __future__ import annotations

import grimp
import networkx as nx


def test_no_module_import_cycles() -> None:
    graph = grimp.build_graph("madebate")
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("madebate"):
                edges.add_edge(module, imported)
    # A package's __init__ may gather its own modules (the facade, the built-in protocols).
    for package in ("madebate", "madebate.protocols", "madebate.models", "madebate.engine"):
        if package in edges:
            edges.remove_node(package)
    cycles = sorted(sorted(c) for c in nx.simple_cycles(edges))
    assert cycles == [], cycles
