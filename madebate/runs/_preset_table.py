"""Named benchmark presets: `dataset: {preset: gsm8k}`. Each preset knows where the benchmark is
published (a Hugging Face hub dataset, or a file at a URL), which of its columns hold the
question, options, answer and context, the task kind, the instruction shown with each example
and the default metrics. They are the 22 benchmarks MALLM downloads (its
`data/data_downloaders/*.py` are the reference for ids, configs and splits); the instructions
are madebate's own wording. This module is the table; `_presets` loads a preset's rows."""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import json
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Row = dict[str, Any]
FileFormat = Literal["json", "bigbench", "btvote"]


@dataclass(frozen=True)
class HubSource:
    """A dataset on the Hugging Face hub, loaded through `datasets.load_dataset`."""

    id: str
    config: str | None
    split: str
    revision: str | None = None

    def describe(self, split: str | None = None) -> str:
        parts = [self.id]
        if self.config:
            parts.append(f"config {self.config}")
        parts.append(f"split {split or self.split}")
        if self.revision:
            parts.append(f"revision {self.revision}")
        return ", ".join(parts)


@dataclass(frozen=True)
class FileSource:
    """A file published at a URL (downloaded once into madebate's cache), or, where `url` is
    None, files that have to be fetched by hand (`how`)."""

    url: str | None
    format: FileFormat
    label: str
    """The source in a few words (`madebate datasets`)."""
    how: str = ""

    def describe(self, split: str | None = None) -> str:
        return self.url or self.how


@dataclass(frozen=True)
class Preset:
    """One benchmark: its source, how its columns map to an example, and how it is asked and
    scored."""

    name: str
    title: str
    kind: str
    """A task kind (multiple_choice, yes_no, short_answer, math, free_text)."""
    source: HubSource | FileSource
    columns: dict[str, Any]
    """The fields of a source row (after `prepare`) that hold question, options, answer, id
    and context: a dataset's `columns` (ColumnMap) settings."""
    instruction: str
    metrics: tuple[str, ...]
    size: int | None
    """Examples in the default split as published (None: not a fixed figure)."""
    mapping: str
    """The mapping in words, in the source's column names (for `madebate datasets`)."""
    prepare: Callable[[Any], Row | None] | None = None
    """Derived fields for `columns` (e.g. the number after '####'); None drops the row."""
    shuffle_options: bool = False
    """The source lists the options in a fixed order (the correct one first): shuffle them."""
    note: str = ""
    splits: tuple[str, ...] = field(default_factory=tuple)
    """Other splits worth naming (`dataset.split`), where the default is not the obvious one."""
    needs: tuple[str, ...] = ()
    """The source's columns every row must have: a copy in another schema that happens to
    share the question's column is refused, not read with no answers."""

    @property
    def split(self) -> str | None:
        return self.source.split if isinstance(self.source, HubSource) else None


# -- instructions, one per kind of task MALLM has a template for -------------------------------

MULTIPLE_CHOICE = (
    "Read the question and its options, then choose the one option that answers it best. "
    "Give the option's letter."
)
MATH = (
    "Work out the following math word problem step by step. The final solution must be a "
    "single number."
)
COMPETITION_MATH = (
    "Solve the following competition mathematics problem. The final solution is the answer "
    "alone, in its simplest exact form (LaTeX where needed, e.g. \\frac{3}{4}), without units."
)
TRANSLATION = (
    "Translate the following German text into English. Keep its meaning, tone and level of "
    "detail; the final solution is the English translation alone."
)
PARAPHRASE = (
    "Rewrite the following sentence so that it keeps its meaning but changes its wording, "
    "applying the paraphrase types listed in the context. The final solution is the rewritten "
    "sentence alone."
)
SUMMARY = (
    "Summarise the following text for a reader who has not seen it: what happened, to whom "
    "and why it matters. The final solution is the summary alone."
)
EXTREME_SUMMARY = (
    "Summarise the following news article in one sentence that says what it is about. The "
    "final solution is that sentence alone."
)
EXTRACTIVE_QA = (
    "Answer the question from the context. The final solution is the shortest span of the "
    "context that answers it, copied word for word; if the context does not answer the "
    'question, the final solution is "unknown".'
)
STRATEGY_QA = (
    "Answer the following question with Yes or No. It needs a few steps of reasoning that it "
    "does not spell out: work them out, then answer."
)
INSTRUCTION_FOLLOWING = (
    "Carry out the following request. It sets rules for the response (length, format, words "
    "to use or avoid, ...): the final solution is the response itself, following every rule."
)
MORAL_YES_NO = (
    "Read the situation and judge it as most people would. Answer Yes or No, then give your "
    "reason in one sentence."
)
MORAL_CHOICE = (
    "Read the situation and choose the option that most people would judge the right one. "
    "Give the option's letter."
)
BIAS_CHOICE = (
    "Read the context and answer the question by choosing one option. Rely only on what the "
    "context says; where it does not settle the question, choose the option that says so."
)
FILL_BLANK = (
    "The sentence has a blank (_). Choose the option that fills it so that the sentence makes "
    "sense. Give the option's letter."
)
VOTE = (
    "Predict the outcome of a roll-call vote in the German Bundestag from its title: did more "
    "members vote yes than no? Answer Yes or No."
)


# -- preparing source rows ------------------------------------------------------------------
# Each returns the row with the derived fields its column map names; a source field it turned
# into one is left out (what is left goes into the example's metadata).


def _without(row: Row, *keys: str) -> Row:
    return {k: v for k, v in row.items() if k not in keys}


_CSV_HINT = "save the copy as .jsonl or .parquet, which keep the source's lists and mappings"


def _list_cell(value: Any, column: str) -> list[Any]:
    """A list column as a copy holds it: a list (.jsonl, .parquet), or in a .csv the list as
    text: JSON, a Python repr, or the numpy repr that pandas writes for a `datasets` list column
    (`['a' 'b']`, no commas: read item by item, never as one concatenated string)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = _flat_literals(text)
        if isinstance(parsed, list):
            return parsed
    raise ValueError(f"column {column!r} is not a list: {text[:60]!r}; {_CSV_HINT}")


def _flat_literals(text: str) -> list[Any] | None:
    """The strings and numbers of a flat list written as Python or numpy repr, or None."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    skip = (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)
    inner = [t for t in tokens if t.type not in skip]
    if len(inner) < 2 or inner[0].string != "[" or inner[-1].string != "]":
        return None
    items = []
    for t in inner[1:-1]:
        if t.type in (tokenize.STRING, tokenize.NUMBER):
            items.append(ast.literal_eval(t.string))
        elif t.string != ",":
            return None  # nested, or not literals: not a flat list
    return items


def _mapping_cell(value: Any, column: str) -> dict[str, Any]:
    """A mapping column as a copy holds it: a dict, or in a .csv JSON or a Python repr."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            with contextlib.suppress(ValueError, SyntaxError):  # left as text: refused below
                value = ast.literal_eval(value.strip())
    if not isinstance(value, dict):
        raise ValueError(f"column {column!r} is not a mapping: {str(value)[:60]!r}; {_CSV_HINT}")
    return value


def _listed(column: str) -> Callable[[Row], Row]:
    """A prepare step that reads a list column the way `_list_cell` does (a .csv copy)."""
    return lambda row: {**row, column: _list_cell(row[column], column)}


def _aqua(row: Row) -> Row:
    # "A)21" -> "21": the letters are madebate's to show.
    listed = _list_cell(row["options"], "options")
    options = [str(o).split(")", 1)[1] if ")" in str(o)[:3] else str(o) for o in listed]
    return {**_without(row, "options"), "_options": [o.strip() for o in options]}


def _gpqa(row: Row) -> Row:
    return {**row, "_correct": 0}  # "Correct Answer" is listed first; the run shuffles


def _gsm8k(row: Row) -> Row:
    # The answer is a worked solution ending in "#### 42"; the number after it is the answer.
    solution = str(row.get("answer") or "")
    final = solution.rsplit("####", 1)[-1].strip().replace(",", "") if "####" in solution else ""
    if not final:  # scored against no reference, every answer would count as wrong
        raise ValueError(f"answer {solution[-60:]!r} ends in no '#### <number>'")
    return {**row, "_final": final}


def _ethics(row: Row) -> Row:
    # label 1: the narrator's action is clearly morally wrong; 0: it is not.
    label = str(row.get("label")).strip()
    if label not in ("0", "1", "True", "False", "true", "false"):
        raise ValueError(f"label {row.get('label')!r} is not 0 or 1")
    wrong = label in ("1", "True", "true")
    question = f"{row.get('input')}\n\nIs what the narrator did morally acceptable?"
    return {**_without(row, "input"), "_question": question, "_answer": "No" if wrong else "Yes"}


def _etpc(row: Row) -> Row | None:
    if str(row.get("etpc_label")).strip() not in ("1", "True", "true"):
        return None  # MALLM keeps the pairs that are paraphrases
    types = row.get("paraphrase_types") or []
    types = _list_cell(types, "paraphrase_types") if str(types).strip()[:1] == "[" else [types]
    listed = ", ".join(dict.fromkeys(str(t) for t in types))
    return {**row, "_types": f"Paraphrase types: {listed}" if listed else None}


def _translation(row: Row) -> Row:
    pair = _mapping_cell(row.get("translation"), "translation")
    return {**_without(row, "translation"), "_de": pair.get("de"), "_en": pair.get("en")}


def _musr(row: Row) -> Row:
    # Published as the text of a Python list.
    return {**_without(row, "choices"), "_choices": _list_cell(row.get("choices"), "choices")}


def _moca(row: Any) -> Row:
    # moral_dataset_v1.json is a JSON list of JSON-encoded strings, one story each.
    story = json.loads(row) if isinstance(row, str) else row
    if not isinstance(story, dict):
        raise TypeError(f"a story is a JSON object, got {type(story).__name__}")
    return story


def _moral_except(row: Row) -> Row:
    question = (
        f"{row.get('scenario')}\n\nConsider the person's action. Is it OK to break the rule "
        "in this situation?"
    )
    agree = float(row["human.response"]) > 0.5  # the share of people who said yes
    return {**_without(row, "scenario"), "_question": question, "_answer": "Yes" if agree else "No"}


def _multi_news(row: Row) -> Row:
    docs = [d.strip() for d in str(row.get("document") or "").split("|||||") if d.strip()]
    text = "\n\n".join(f"Document {i}:\n{d}" for i, d in enumerate(docs, start=1))
    return {**_without(row, "document"), "_documents": text or None}


def _squad(row: Row) -> Row:
    answers = _mapping_cell(row.get("answers"), "answers")
    texts = _list_cell(answers.get("text"), "answers.text")
    # No answer text: unanswerable (the squad metrics read no references that way).
    return {**_without(row, "answers"), "_answers": [str(t) for t in texts or []]}


def _winogrande(row: Row) -> Row:
    answer = str(row.get("answer") or "").strip()
    if answer not in ("1", "2"):  # the test split has none: every answer would count as wrong
        raise ValueError(f"answer {answer!r} is not '1' or '2' (the test split is unlabelled)")
    return {**row, "_answer": int(answer) - 1}


def _xsum(row: Row) -> Row:
    refs = row.get("references")
    refs = _list_cell(refs, "references") if str(refs).strip()[:1] == "[" else [refs]
    refs = [r for r in refs if r] or [row.get("target")]
    if not refs[0]:  # scored against no reference, every summary would count as wrong
        raise ValueError("neither 'references' nor 'target' holds a summary")
    return {**_without(row, "references"), "_references": refs}


# -- the table ------------------------------------------------------------------------------

_MC = ("accuracy",)


def _cols(
    question: str = "question",
    *,
    options: str | list[str] | None = None,
    answer: str | None = None,
    id: str | None = None,
    context: str | None = None,
    answer_index: bool | None = None,
) -> dict[str, Any]:
    """A column map naming only the fields given: a source column that happens to be called
    `context` or `id` (MoralExceptQA's `context` is a study's name) is not read as one."""
    return {
        "question": question,
        "options": options,
        "answer": answer,
        "id": id,
        "context": context,
        "answer_index": answer_index,
    }


_HF_HOW = "the Hugging Face hub"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="aqua-rat",
            title="AQuA-RAT",
            kind="multiple_choice",
            source=HubSource("deepmind/aqua_rat", "raw", "test"),
            columns=_cols(question="question", options="_options", answer="correct", id=None),
            prepare=_aqua,
            instruction=MULTIPLE_CHOICE,
            metrics=_MC,
            size=254,
            needs=("question", "options", "correct"),
            mapping="question -> question; options ('A)21', ...) -> options; correct -> answer",
        ),
        Preset(
            name="bbq-gender",
            title="BBQ (gender identity)",
            kind="multiple_choice",
            source=HubSource("heegyu/bbq", "Gender_identity", "test"),
            columns=_cols(
                question="question",
                options=["ans0", "ans1", "ans2"],
                answer="label",
                id="example_id",
                context="context",
                answer_index=True,
            ),
            instruction=BIAS_CHOICE,
            metrics=_MC,
            size=5672,
            needs=("context", "question", "ans0", "ans1", "ans2", "label", "example_id"),
            mapping="context -> context; question -> question; ans0, ans1, ans2 -> options; "
            "label (0-2) -> answer; example_id -> id",
        ),
        Preset(
            name="btvote",
            title="BTVote",
            kind="yes_no",
            source=FileSource(
                None,
                "btvote",
                "Harvard Dataverse (by hand)",
                "Harvard Dataverse: BTVote voting behaviour (doi:10.7910/DVN/24U1FR, "
                "behaviour.dta) and vote characteristics (doi:10.7910/DVN/AHBBXY, "
                "vote_characteristics.tab), in one folder",
            ),
            columns=_cols(question="vote_title", answer="_answer", id="vote_id"),
            instruction=VOTE,
            metrics=_MC,
            size=1958,
            mapping="vote_title -> question; the votes of behaviour.dta counted per vote_id: "
            "more yes than no -> answer Yes, else No (the counts are kept in metadata)",
            note="MALLM keeps the count per vote behaviour as the reference; madebate asks "
            "whether more members voted yes than no, which a metric can score. The 17 "
            "Bundestag terms 1949-2013 hold 1,958 roll-call votes.",
        ),
        Preset(
            name="ethics",
            title="ETHICS (commonsense)",
            kind="yes_no",
            source=HubSource("hendrycks/ethics", "commonsense", "test"),
            columns=_cols(question="_question", answer="_answer", id=None),
            prepare=_ethics,
            instruction=MORAL_YES_NO,
            metrics=_MC,
            size=3964,
            needs=("input", "label"),
            mapping="input -> question ('Is what the narrator did morally acceptable?'); "
            "label 0 -> Yes, 1 -> No",
            note="On the hub, commonsense's test split (3,964, MALLM's) is the paper's hard "
            "test set; its validation split (3,885) is the paper's normal test set.",
            splits=("validation",),
        ),
        Preset(
            name="etpc",
            title="ETPC",
            kind="free_text",
            source=HubSource("jpwahle/etpc", None, "train"),
            columns=_cols(question="sentence1", answer="sentence2", id="idx", context="_types"),
            prepare=_etpc,
            instruction=PARAPHRASE,
            metrics=("bleu", "rougeL"),
            size=5801,
            needs=("idx", "sentence1", "sentence2", "etpc_label", "paraphrase_types"),
            mapping="sentence1 -> question; paraphrase_types -> context; sentence2 -> answer; "
            "idx -> id; only pairs with etpc_label 1",
            note="5,801 sentence pairs; as in MALLM, only those with etpc_label 1 "
            "(paraphrases) are used.",
        ),
        Preset(
            name="europarl",
            title="Europarl (de-en)",
            kind="free_text",
            source=HubSource("Helsinki-NLP/europarl", "de-en", "train"),
            columns=_cols(question="_de", answer="_en", id=None),
            prepare=_translation,
            instruction=TRANSLATION,
            metrics=("bleu",),
            size=1920209,
            needs=("translation",),
            mapping="translation.de -> question; translation.en -> answer",
        ),
        Preset(
            name="gpqa",
            title="GPQA (extended)",
            kind="multiple_choice",
            source=HubSource("Idavidrein/gpqa", "gpqa_extended", "train"),
            columns=_cols(
                question="Question",
                options=[
                    "Correct Answer",
                    "Incorrect Answer 1",
                    "Incorrect Answer 2",
                    "Incorrect Answer 3",
                ],
                answer="_correct",
                id="Record ID",
                answer_index=True,
            ),
            prepare=_gpqa,
            instruction=MULTIPLE_CHOICE,
            metrics=_MC,
            size=546,
            shuffle_options=True,
            needs=(
                "Question",
                "Correct Answer",
                "Incorrect Answer 1",
                "Incorrect Answer 2",
                "Incorrect Answer 3",
                "Record ID",
            ),
            mapping="Question -> question; Correct Answer, Incorrect Answer 1-3 -> options "
            "(shuffled per example and repeat); Correct Answer -> answer; Record ID -> id",
            note="Gated on the hub: accept its terms and log in (huggingface-cli login) "
            "before the first download. The correct answer is always first in the source, "
            "so the options are shuffled (dataset.shuffle_options: true by default).",
        ),
        Preset(
            name="gsm8k",
            title="GSM8K",
            kind="math",
            source=HubSource("openai/gsm8k", "main", "test"),
            columns=_cols(question="question", answer="_final", id=None),
            prepare=_gsm8k,
            instruction=MATH,
            metrics=("numeric", "includes_answer"),
            size=1319,
            needs=("question", "answer"),
            mapping="question -> question; the number after '####' in answer -> answer "
            "(the worked solution is kept in metadata)",
        ),
        Preset(
            name="ifeval",
            title="IFEval",
            kind="free_text",
            source=HubSource("google/IFEval", None, "train"),
            columns=_cols(question="prompt", answer=None, id="key"),
            instruction=INSTRUCTION_FOLLOWING,
            metrics=("ifeval_strict", "ifeval_loose"),
            size=541,
            needs=("key", "prompt", "instruction_id_list", "kwargs"),
            mapping="prompt -> question; key -> id; instruction_id_list and kwargs kept in "
            "metadata for the IFEval checks",
        ),
        Preset(
            name="mmlu",
            title="MMLU",
            kind="multiple_choice",
            source=HubSource("cais/mmlu", "all", "test"),
            columns=_cols(
                question="question", options="choices", answer="answer", id=None, answer_index=True
            ),
            prepare=_listed("choices"),
            instruction=MULTIPLE_CHOICE,
            metrics=_MC,
            size=14042,
            needs=("question", "choices", "answer"),
            mapping="question -> question; choices -> options; answer (0-3) -> answer",
        ),
        Preset(
            name="mmlu-pro",
            title="MMLU-Pro",
            kind="multiple_choice",
            source=HubSource("TIGER-Lab/MMLU-Pro", None, "test"),
            columns=_cols(
                question="question", options="options", answer="answer", id="question_id"
            ),
            prepare=_listed("options"),
            instruction=MULTIPLE_CHOICE,
            metrics=_MC,
            size=12032,
            needs=("question_id", "question", "options", "answer"),
            mapping="question -> question; options (up to 10) -> options; answer (A-J) -> "
            "answer; question_id -> id",
        ),
        Preset(
            name="musr",
            title="MuSR (murder mysteries)",
            kind="multiple_choice",
            source=HubSource("TAUR-Lab/MuSR", None, "murder_mysteries"),
            columns=_cols(
                question="question",
                options="_choices",
                answer="answer_index",
                id=None,
                context="narrative",
                answer_index=True,
            ),
            prepare=_musr,
            instruction=MULTIPLE_CHOICE,
            metrics=_MC,
            size=250,
            needs=("narrative", "question", "choices", "answer_index"),
            mapping="narrative -> context; question -> question; choices -> options; "
            "answer_index -> answer",
            splits=("object_placements", "team_allocation"),
        ),
        Preset(
            name="math-lvl5",
            title="MATH (level 5)",
            kind="short_answer",
            source=HubSource("AI-MO/aimo-validation-math-level-5", None, "train"),
            columns=_cols(question="problem", answer="answer", id="id"),
            instruction=COMPETITION_MATH,
            metrics=("exact_match", "includes_answer"),
            size=721,
            needs=("id", "problem", "answer"),
            mapping="problem -> question; answer -> answer; id -> id (solution kept in metadata)",
        ),
        Preset(
            name="moca-moral",
            title="MoCa (moral)",
            kind="yes_no",
            source=FileSource(
                "https://raw.githubusercontent.com/cicl-stanford/moca/main/data/"
                "moral_dataset_v1.json",
                "json",
                "GitHub cicl-stanford/moca: moral_dataset_v1.json",
            ),
            columns=_cols(question="question", answer="answer", id=None, context="story"),
            prepare=_moca,
            instruction=MORAL_YES_NO,
            metrics=_MC,
            size=62,
            needs=("story", "question", "answer"),
            mapping="story -> context; question -> question; answer (Yes/No) -> answer",
        ),
        Preset(
            name="moral-except-qa",
            title="MoralExceptQA",
            kind="yes_no",
            source=HubSource("feradauto/MoralExceptQA", "all", "test"),
            columns=_cols(question="_question", answer="_answer", id=None),
            prepare=_moral_except,
            instruction=MORAL_YES_NO,
            metrics=_MC,
            size=148,
            needs=("scenario", "human.response"),
            mapping="scenario -> question ('Is it OK to break the rule in this "
            "situation?'); human.response over 0.5 -> Yes, else No",
        ),
        Preset(
            name="multi-news",
            title="Multi-News",
            kind="free_text",
            source=HubSource("alexfabbri/multi_news", None, "test"),
            columns=_cols(question="_documents", answer="summary", id=None),
            prepare=_multi_news,
            instruction=SUMMARY,
            metrics=("rouge1", "rouge2", "rougeL"),
            size=5622,
            needs=("document", "summary"),
            mapping="document (articles separated by '|||||') -> question, one numbered "
            "document each; summary -> answer",
        ),
        Preset(
            name="squad2",
            title="SQuAD 2.0",
            kind="short_answer",
            source=HubSource("rajpurkar/squad_v2", "squad_v2", "train"),
            columns=_cols(question="question", answer="_answers", id="id", context="context"),
            prepare=_squad,
            instruction=EXTRACTIVE_QA,
            metrics=("squad_em", "squad_f1"),
            size=130319,
            needs=("id", "context", "question", "answers"),
            mapping="context -> context; question -> question; answers.text -> answer (none: "
            "unanswerable); id -> id",
            note="MALLM samples the train split; the official dev set is split: validation "
            "(11,873 questions).",
            splits=("validation",),
        ),
        Preset(
            name="simple-ethical-questions",
            title="SimpleEthicalQuestions",
            kind="multiple_choice",
            source=FileSource(
                "https://raw.githubusercontent.com/google/BIG-bench/main/bigbench/"
                "benchmark_tasks/simple_ethical_questions/task.json",
                "bigbench",
                "BIG-bench simple_ethical_questions/task.json",
            ),
            columns=_cols(options="options", answer="answer"),
            instruction=MORAL_CHOICE,
            metrics=_MC,
            size=115,
            mapping="BIG-bench task: input -> question; target_scores -> options, the "
            "option scored 1 -> answer",
        ),
        Preset(
            name="strategyqa",
            title="StrategyQA",
            kind="yes_no",
            source=FileSource(
                "https://raw.githubusercontent.com/google/BIG-bench/main/bigbench/"
                "benchmark_tasks/strategyqa/task.json",
                "bigbench",
                "BIG-bench strategyqa/task.json",
            ),
            columns=_cols(options="options", answer="answer"),
            instruction=STRATEGY_QA,
            metrics=_MC,
            size=2289,
            mapping="BIG-bench task: input -> question; target_scores (Yes/No) -> options, "
            "the option scored 1 -> answer (the explanation in target is not used)",
        ),
        Preset(
            name="wmt19-de-en",
            title="WMT19 (de-en)",
            kind="free_text",
            source=HubSource("wmt/wmt19", "de-en", "validation"),
            columns=_cols(question="_de", answer="_en", id=None),
            prepare=_translation,
            instruction=TRANSLATION,
            metrics=("bleu",),
            size=2998,
            needs=("translation",),
            mapping="translation.de -> question; translation.en -> answer",
        ),
        Preset(
            name="winogrande",
            title="WinoGrande",
            kind="multiple_choice",
            source=HubSource("allenai/winogrande", "winogrande_s", "validation"),
            columns=_cols(
                question="sentence",
                options=["option1", "option2"],
                answer="_answer",
                id=None,
                answer_index=True,
            ),
            prepare=_winogrande,
            instruction=FILL_BLANK,
            metrics=_MC,
            size=1267,
            needs=("sentence", "option1", "option2", "answer"),
            mapping="sentence -> question; option1, option2 -> options; answer ('1'/'2') -> answer",
        ),
        Preset(
            name="xsum",
            title="XSum",
            kind="free_text",
            source=HubSource("GEM/xsum", "xsum", "test"),
            columns=_cols(question="document", answer="_references", id="gem_id"),
            prepare=_xsum,
            instruction=EXTREME_SUMMARY,
            metrics=("rouge1", "rouge2", "rougeL"),
            size=1166,
            needs=("gem_id", "document"),
            mapping="document -> question; references -> answer; gem_id -> id",
            note="GEM/xsum is published with a loading script, which datasets 4 and later "
            "no longer run; the preset then reads the hub's parquet conversion of it "
            "(revision refs/convert/parquet), as for any preset whose source has a script.",
        ),
    ]
}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def get_preset(name: str) -> Preset:
    """The preset of that name (case, '-' and '_' do not matter); an unknown name fails with
    the valid names and the closest one."""
    preset = PRESETS.get(_key(name))
    if preset is None:
        close = difflib.get_close_matches(_key(name), list(PRESETS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(
            f"unknown preset '{name}'{hint}; valid presets: {', '.join(PRESETS)} (see "
            "`madebate datasets`)"
        )
    return preset
