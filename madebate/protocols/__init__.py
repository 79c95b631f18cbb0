"""Decision protocols: the base class, the registry and the built-in rules (consensus, voting,
judge), with the pure tallies and the ballot formats they use.

The built-in rules register themselves with `protocols` when their modules load; they are
loaded here, once, so that any use of this package sees every built-in protocol.
"""

from madebate.protocols import _consensus, _judge, _voting  # noqa: F401  (built-in rules)
