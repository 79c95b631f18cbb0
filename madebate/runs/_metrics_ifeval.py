"""IFEval (Zhou et al. 2023, "Instruction-Following Evaluation for Large Language Models"): the
25 verifiable instructions, each checked by a rule, scored strict and loose.

An example names its instructions in metadata, as the IFEval data set's own columns do:
`instruction_id_list` (ids such as `length_constraints:number_words`) and `kwargs` (one dict of
arguments per instruction, e.g. `{"num_words": 300, "relation": "less than"}`; empty and null
arguments are dropped, as the data set pads every dict with all keys). A JSON string is read too
(a CSV column).

Per example the score is prompt-level accuracy: 1.0 when the response follows every one of its
instructions. Strict checks the response as it is; loose also accepts the response with its first
line, its last line or both removed, and each of these with every markdown `*` removed (the
paper's eight variants): a response followed in any variant follows. An empty response follows
nothing. Needs NLTK's punkt_tab data (sentence counts, capital-word counts) and langdetect
(language checks): extra madebate[metrics], then `python -m nltk.downloader punkt_tab`."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from madebate._errors import ConfigError
from madebate._task import Task
from madebate.runs._metric_base import _scored_text, metrics
from madebate.runs._metrics_resources import (
    library,
    nltk_data,
    requires,
    requires_of_examples,
)

Check = Callable[[str, dict[str, Any]], bool]

_RELATIONS = ("less than", "at least")
_PUNKT = "tokenizers/punkt_tab/english"


def _compare(count: int, relation: Any, threshold: Any) -> bool:
    if relation == "less than":
        return count < int(threshold)
    if relation == "at least":
        return count >= int(threshold)
    raise ConfigError(
        f"IFEval relation {relation!r} is not one of {', '.join(map(repr, _RELATIONS))}",
        field="metadata.kwargs",
    )


# -- the resources: language detection, sentences and words as NLTK splits them ----------------

_SENTENCE_SPLITTERS: dict[str, Any] = {}


def _sentences(text: str) -> list[str]:
    """Punkt's English sentences (the paper counts with NLTK's punkt)."""
    where = nltk_data(_PUNKT, "ifeval")
    key = str(where)
    if key not in _SENTENCE_SPLITTERS:
        punkt = library("nltk.tokenize.punkt", "ifeval", "nltk")
        _SENTENCE_SPLITTERS[key] = punkt.PunktTokenizer("english")
    return list(_SENTENCE_SPLITTERS[key].tokenize(text))


def _words(text: str) -> list[str]:
    """NLTK's word_tokenize: punkt sentences, each split by the Treebank-style tokenizer."""
    tokenizer = library("nltk.tokenize.destructive", "ifeval", "nltk").NLTKWordTokenizer()
    return [w for s in _sentences(text) for w in tokenizer.tokenize(s)]


def _language_is(text: str, code: str) -> bool:
    """langdetect's verdict; a text it cannot judge (no letters) counts as followed, as in the
    paper's checker."""
    langdetect = library("langdetect", "ifeval", "langdetect")
    langdetect.DetectorFactory.seed = 0  # its detector samples; fixed so a rescore agrees
    try:
        return bool(langdetect.detect(text) == code)
    except langdetect.LangDetectException:
        return True


# -- the checks, by instruction id ---------------------------------------------------------------


def _keywords_exist(text: str, kw: dict[str, Any]) -> bool:
    return all(re.search(re.escape(k), text, re.I) for k in kw["keywords"])


def _keyword_frequency(text: str, kw: dict[str, Any]) -> bool:
    found = len(re.findall(re.escape(str(kw["keyword"]).strip()), text, re.I))
    return _compare(found, kw["relation"], kw["frequency"])


def _forbidden_words(text: str, kw: dict[str, Any]) -> bool:
    return not any(re.search(rf"\b{re.escape(w)}\b", text, re.I) for w in kw["forbidden_words"])


def _letter_frequency(text: str, kw: dict[str, Any]) -> bool:
    letter = str(kw["letter"]).strip().lower()
    return _compare(Counter(text.lower())[letter], kw["let_relation"], kw["let_frequency"])


def _response_language(text: str, kw: dict[str, Any]) -> bool:
    return _language_is(text, str(kw["language"]))


def _number_sentences(text: str, kw: dict[str, Any]) -> bool:
    return _compare(len(_sentences(text)), kw["relation"], kw["num_sentences"])


def _number_paragraphs(text: str, kw: dict[str, Any]) -> bool:
    """Paragraphs divided by the markdown rule `***`; an empty one between two rules fails."""
    parts = re.split(r"\s?\*\*\*\s?", text)
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                count -= 1
            else:
                return False
    return count == int(kw["num_paragraphs"])


def _number_words(text: str, kw: dict[str, Any]) -> bool:
    return _compare(len(re.findall(r"\w+", text)), kw["relation"], kw["num_words"])


def _nth_paragraph_first_word(text: str, kw: dict[str, Any]) -> bool:
    """Paragraphs divided by a blank line ("\\n\\n"); the count must match and paragraph n
    start with the word (case and leading quotes ignored, cut at the first punctuation)."""
    parts = text.split("\n\n")
    count = sum(1 for p in parts if p.strip())
    nth = int(kw["nth_paragraph"])
    if nth > count or nth < 1 or not parts[nth - 1].strip():
        return False
    word = parts[nth - 1].split()[0].lstrip("'").lstrip('"')
    first = re.split(r"[.,?!'\"]", word, maxsplit=1)[0].lower()
    return count == int(kw["num_paragraphs"]) and first == str(kw["first_word"]).lower()


def _number_placeholders(text: str, kw: dict[str, Any]) -> bool:
    return len(re.findall(r"\[.*?\]", text)) >= int(kw["num_placeholders"])


def _postscript(text: str, kw: dict[str, Any]) -> bool:
    marker = str(kw["postscript_marker"]).strip()
    pattern = {
        "P.P.S": r"\s*p\.\s?p\.\s?s.*$",
        "P.S.": r"\s*p\.\s?s\..*$",
    }.get(marker, r"\s*" + re.escape(marker.lower()) + r".*$")
    return re.search(pattern, text.lower(), re.M) is not None


def _number_bullet_lists(text: str, kw: dict[str, Any]) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", text, re.M)
    dashes = re.findall(r"^\s*-.*$", text, re.M)
    return len(stars) + len(dashes) == int(kw["num_bullets"])


_CONSTRAINED = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _constrained_response(text: str, kw: dict[str, Any]) -> bool:
    return any(option in text.strip() for option in _CONSTRAINED)


def _highlighted_sections(text: str, kw: dict[str, Any]) -> bool:
    """*highlighted* and **highlighted** spans on one line with something inside, counted
    separately (a bold span counts once as double, and its stars once as single)."""
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h[2:-2].strip()]
    return len(single) + len(double) >= int(kw["num_highlights"])


def _multiple_sections(text: str, kw: dict[str, Any]) -> bool:
    splitter = re.escape(str(kw["section_spliter"]).strip())
    sections = re.split(r"\s?" + splitter + r"\s?\d+\s?", text)
    return len(sections) - 1 >= int(kw["num_sections"])


def _json_format(text: str, kw: dict[str, Any]) -> bool:
    body = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        if body.startswith(fence):
            body = body[len(fence) :]
            break
    body = body.removesuffix("```").strip()
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _title(text: str, kw: dict[str, Any]) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


def _two_responses(text: str, kw: dict[str, Any]) -> bool:
    parts = text.split("******")
    answers = []
    for i, part in enumerate(parts):
        if part.strip():
            answers.append(part.strip())
        elif i not in (0, len(parts) - 1):
            return False
    return len(answers) == 2 and answers[0] != answers[1]


def _repeat_prompt(text: str, kw: dict[str, Any]) -> bool:
    return text.strip().lower().startswith(str(kw["prompt_to_repeat"]).strip().lower())


def _end_checker(text: str, kw: dict[str, Any]) -> bool:
    return text.strip().strip('"').lower().endswith(str(kw["end_phrase"]).strip().lower())


def _capital_word_frequency(text: str, kw: dict[str, Any]) -> bool:
    capitals = sum(1 for w in _words(text) if w.isupper())
    return _compare(capitals, kw["capital_relation"], kw["capital_frequency"])


def _english_capital(text: str, kw: dict[str, Any]) -> bool:
    return text.isupper() and _language_is(text, "en")


def _english_lowercase(text: str, kw: dict[str, Any]) -> bool:
    return text.islower() and _language_is(text, "en")


def _no_comma(text: str, kw: dict[str, Any]) -> bool:
    return "," not in text


def _quotation(text: str, kw: dict[str, Any]) -> bool:
    body = text.strip()
    return len(body) > 1 and body[0] == '"' and body[-1] == '"'


INSTRUCTIONS: dict[str, tuple[Check, tuple[str, ...]]] = {
    "keywords:existence": (_keywords_exist, ("keywords",)),
    "keywords:frequency": (_keyword_frequency, ("keyword", "frequency", "relation")),
    "keywords:forbidden_words": (_forbidden_words, ("forbidden_words",)),
    "keywords:letter_frequency": (_letter_frequency, ("letter", "let_frequency", "let_relation")),
    "language:response_language": (_response_language, ("language",)),
    "length_constraints:number_sentences": (_number_sentences, ("num_sentences", "relation")),
    "length_constraints:number_paragraphs": (_number_paragraphs, ("num_paragraphs",)),
    "length_constraints:number_words": (_number_words, ("num_words", "relation")),
    "length_constraints:nth_paragraph_first_word": (
        _nth_paragraph_first_word,
        ("num_paragraphs", "nth_paragraph", "first_word"),
    ),
    "detectable_content:number_placeholders": (_number_placeholders, ("num_placeholders",)),
    "detectable_content:postscript": (_postscript, ("postscript_marker",)),
    "detectable_format:number_bullet_lists": (_number_bullet_lists, ("num_bullets",)),
    "detectable_format:constrained_response": (_constrained_response, ()),
    "detectable_format:number_highlighted_sections": (_highlighted_sections, ("num_highlights",)),
    "detectable_format:multiple_sections": (
        _multiple_sections,
        ("section_spliter", "num_sections"),
    ),
    "detectable_format:json_format": (_json_format, ()),
    "detectable_format:title": (_title, ()),
    "combination:two_responses": (_two_responses, ()),
    "combination:repeat_prompt": (_repeat_prompt, ("prompt_to_repeat",)),
    "startend:end_checker": (_end_checker, ("end_phrase",)),
    "change_case:capital_word_frequency": (
        _capital_word_frequency,
        ("capital_frequency", "capital_relation"),
    ),
    "change_case:english_capital": (_english_capital, ()),
    "change_case:english_lowercase": (_english_lowercase, ()),
    "punctuation:no_comma": (_no_comma, ()),
    "startend:quotation": (_quotation, ()),
}
"""Each instruction id of the paper's registry: its check and the arguments it needs."""


def _as_list(value: Any, name: str, task: Task) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(
                f"example {task.id}: metadata '{name}' is not JSON: {value[:80]!r} (a list "
                "written as JSON text; a .csv copy written by pandas or datasets holds Python "
                "or numpy reprs: save the copy as .jsonl or .parquet)",
                field="scoring",
            ) from None
    if not isinstance(value, list):
        raise ConfigError(
            f"IFEval needs metadata '{name}' (a list, as the IFEval data set's column) on every "
            f"example; example {task.id} has {type(value).__name__}",
            field="scoring",
        )
    return value


def instructions_of(task: Task) -> list[tuple[str, dict[str, Any]]]:
    """The example's instruction ids with their arguments, checked: known ids, a dict of
    arguments each, the arguments each check needs."""
    ids = _as_list(task.metadata.get("instruction_id_list"), "instruction_id_list", task)
    raw = task.metadata.get("kwargs")
    kwargs = [{} for _ in ids] if raw is None else _as_list(raw, "kwargs", task)
    if len(kwargs) != len(ids):
        raise ConfigError(
            f"example {task.id}: {len(ids)} instruction ids but {len(kwargs)} kwargs",
            field="scoring",
        )
    out = []
    for iid, args in zip(ids, kwargs, strict=True):
        if iid not in INSTRUCTIONS:
            raise ConfigError(
                f"example {task.id}: unknown IFEval instruction {iid!r}; valid: "
                f"{', '.join(sorted(INSTRUCTIONS))}",
                field="scoring",
            )
        given = {k: v for k, v in (args or {}).items() if v} if isinstance(args, dict) else None
        missing = [k for k in INSTRUCTIONS[iid][1] if given is None or k not in given]
        if given is None or missing:
            raise ConfigError(
                f"example {task.id}: instruction {iid} needs kwargs {', '.join(missing)}",
                field="scoring",
            )
        out.append((iid, given))
    return out


def loose_variants(response: str) -> list[str]:
    """The paper's eight readings of a response for loose scoring: as is, without its first
    line, its last line, or both, and each of those with every `*` removed."""
    lines = response.split("\n")
    cut = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return cut + [c.replace("*", "") for c in cut]


def follows(response: str, iid: str, args: dict[str, Any], *, loose: bool) -> bool:
    """Whether a response follows one instruction (strict, or in any loose variant)."""
    check = INSTRUCTIONS[iid][0]
    readings = loose_variants(response) if loose else [response]
    return any(r.strip() and check(r, args) for r in readings)


def _ifeval(answer: str | None, solution: str | None, task: Task, *, loose: bool) -> float:
    instructions = instructions_of(task)
    text = _scored_text(answer, solution, task)
    if text is None or not instructions:
        return 0.0
    return float(all(follows(text, iid, args, loose=loose) for iid, args in instructions))


@metrics.register("ifeval_strict")
def ifeval_strict(answer: str | None, solution: str | None, task: Task) -> float:
    """IFEval prompt-level strict accuracy: 1.0 when the response follows all its instructions."""
    return _ifeval(answer, solution, task, loose=False)


@metrics.register("ifeval_loose")
def ifeval_loose(answer: str | None, solution: str | None, task: Task) -> float:
    """IFEval prompt-level loose accuracy: each instruction may be followed in any of the eight
    loose readings of the response (first/last line dropped, markdown `*` removed)."""
    return _ifeval(answer, solution, task, loose=True)


def _needs() -> None:
    library("langdetect", "ifeval", "langdetect")
    nltk_data(_PUNKT, "ifeval")


requires("ifeval_strict", _needs)
requires("ifeval_loose", _needs)
requires_of_examples("ifeval_strict", instructions_of)
requires_of_examples("ifeval_loose", instructions_of)
