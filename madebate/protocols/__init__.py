"""Decision protocols: the base class, the registry and the built-in rules (consensus, voting,
judge), with the pure tallies and the ballot formats they use.

Extension points: subclass `DecisionProtocol` and register it with `@protocols.register(NAME)`;
`create_protocol(NAME, **options)` builds one. The built-in rules register themselves when
their modules load; they are loaded here, once, so that any use of this package sees them.
"""

from madebate.protocols import _consensus, _judge, _voting  # noqa: F401  (built-in rules)
from madebate.protocols._consensus import (
    consensus_tally,
    hybrid,
    majority,
    supermajority,
    unanimity,
)
from madebate.protocols._protocols import (
    DecisionContext,
    DecisionProtocol,
    create_protocol,
    protocols,
)
from madebate.protocols._support import SupportState, track_support
from madebate.protocols._tally import Tally, approval, borda, cumulative, plurality

__all__ = [
    "DecisionContext",
    "DecisionProtocol",
    "SupportState",
    "Tally",
    "approval",
    "borda",
    "consensus_tally",
    "create_protocol",
    "cumulative",
    "hybrid",
    "majority",
    "plurality",
    "protocols",
    "supermajority",
    "track_support",
    "unanimity",
]
