"""Generation metrics, each per example in 0..1 and best over the example's references: BLEU
(sacrebleu's sentence BLEU), ROUGE-1/2/L F-measure (rouge-score, with its Porter stemmer) and
METEOR (NLTK's, with WordNet synonyms). Extra: madebate[metrics]; METEOR also needs NLTK's
WordNet data (`python -m nltk.downloader wordnet`).

A cell's figure is the mean of the per-example scores. For BLEU that is the mean sentence BLEU,
which is not corpus BLEU (corpus BLEU pools n-gram counts over all examples first and is usually
higher); MALLM also scores BLEU per example, on the same 0-1 scale."""

from __future__ import annotations

import functools
import re
from typing import Any

from madebate._task import Task
from madebate.runs._metric_base import _reference_texts, _scored_text, metrics
from madebate.runs._metrics_resources import library, nltk_data, requires


def _pair(answer: str | None, solution: str | None, task: Task) -> tuple[str, list[str]] | None:
    """The text scored and its non-blank references; None when either is missing (scores 0)."""
    text = _scored_text(answer, solution, task)
    refs = [r for r in _reference_texts(task) if r.strip()]
    return (text, refs) if text is not None and refs else None


@metrics.register("bleu")
def bleu(answer: str | None, solution: str | None, task: Task) -> float:
    """Sentence BLEU against all references at once (sacrebleu's defaults: 13a tokenisation,
    exponential smoothing of zero n-gram counts), divided by 100 to lie in 0..1."""
    pair = _pair(answer, solution, task)
    if pair is None:
        return 0.0
    sacrebleu = library("sacrebleu", "bleu", "sacrebleu")
    return min(1.0, float(sacrebleu.sentence_bleu(pair[0], pair[1]).score) / 100)


@functools.lru_cache(maxsize=4)
def _rouge_scorer(kind: str) -> Any:
    module = library("rouge_score.rouge_scorer", kind, "rouge-score")
    return module.RougeScorer([kind], use_stemmer=True)


def _rouge(kind: str, answer: str | None, solution: str | None, task: Task) -> float:
    pair = _pair(answer, solution, task)
    if pair is None:
        return 0.0
    scorer = _rouge_scorer(kind)
    return max(float(scorer.score(ref, pair[0])[kind].fmeasure) for ref in pair[1])


@metrics.register("rouge1")
def rouge1(answer: str | None, solution: str | None, task: Task) -> float:
    """ROUGE-1 F-measure (shared words), best over references."""
    return _rouge("rouge1", answer, solution, task)


@metrics.register("rouge2")
def rouge2(answer: str | None, solution: str | None, task: Task) -> float:
    """ROUGE-2 F-measure (shared word pairs), best over references."""
    return _rouge("rouge2", answer, solution, task)


@metrics.register("rougeL")
def rouge_l(answer: str | None, solution: str | None, task: Task) -> float:
    """ROUGE-L F-measure (longest common subsequence of words), best over references."""
    return _rouge("rougeL", answer, solution, task)


# The name before MALLM's set arrived; BIG-bench's `rouge` maps here. Same metric as rougeL.
metrics.register("rouge_l")(rouge_l)


_TOKEN = re.compile(r"\w+|[^\w\s]")


_WORDNETS: dict[str, Any] = {}


def _wordnet(root: Any) -> Any:
    """A WordNet reader of its own for the data found, one per place (NLTK's shared lazy
    `wordnet` would keep whichever copy it met first)."""
    key = str(root)
    if key not in _WORDNETS:
        import warnings

        from nltk.corpus.reader.wordnet import WordNetCorpusReader

        with warnings.catch_warnings():  # "multilingual functions are not available": unused
            warnings.simplefilter("ignore", UserWarning)
            _WORDNETS[key] = WordNetCorpusReader(root, None)
    return _WORDNETS[key]


@metrics.register("meteor")
def meteor(answer: str | None, solution: str | None, task: Task) -> float:
    """METEOR (Banerjee and Lavie 2005) as NLTK computes it: unigram matches by exact form, then
    Porter stem, then WordNet synonym; F-mean weighted to recall (alpha 0.9) times a
    fragmentation penalty (0.5 * (chunks / matches)^3); best over references. Words and
    punctuation marks are split by a regular expression (MALLM splits with NLTK's
    word_tokenize, which needs the punkt data too; the two differ on contractions only)."""
    pair = _pair(answer, solution, task)
    if pair is None:
        return 0.0
    score_module = library("nltk.translate.meteor_score", "meteor", "nltk")
    wordnet = _wordnet(nltk_data("corpora/wordnet", "meteor"))
    hypothesis = _TOKEN.findall(pair[0])
    references = [_TOKEN.findall(ref) for ref in pair[1]]
    return float(score_module.meteor_score(references, hypothesis, wordnet=wordnet))


requires("bleu", lambda: library("sacrebleu", "bleu", "sacrebleu"))
for _kind in ("rouge1", "rouge2", "rougeL", "rouge_l"):
    requires(_kind, lambda: library("rouge_score.rouge_scorer", "rouge", "rouge-score"))
requires("meteor", lambda: nltk_data("corpora/wordnet", "meteor"))
