"""How often the embedded default's grammar-constrained replies carry an answer.

Runs real discussions on the embedded model (SmolLM2-135M, llama.cpp) over BIG-bench-style
questions of every task kind, at several reply budgets, and counts every discussion reply:
unreadable (no answer, no stance where one is due), cut at max_tokens, and stopped in a loop.

    python benchmarks/embedded_readability.py [--replies 240] [--max-tokens 64 128 256 512]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from typing import Any

import madebate as mb
from madebate._sync import run_sync
from madebate.models.providers.llamacpp import LlamaCppModel

# Written for this benchmark in the shapes BIG-bench tasks take (not copies of real tasks).
QUESTIONS: list[dict[str, Any]] = [
    {
        "kind": "multiple_choice",
        "question": "Which gas do plants take in from the air to make sugar?",
        "options": ["oxygen", "carbon dioxide", "nitrogen", "helium"],
    },
    {
        "kind": "multiple_choice",
        "question": "A train leaves at 3 pm and the trip takes 2 hours 30 minutes. When does it arrive?",
        "options": ["4:30 pm", "5:00 pm", "5:30 pm", "6:00 pm", "6:30 pm"],
    },
    {
        "kind": "yes_no",
        "question": "Is it true that a whale is a mammal?",
        "options": ["Yes", "No"],
    },
    {
        "kind": "yes_no",
        "question": "Statement: all squares are rectangles. Is the statement true?",
        "options": ["True", "False"],
    },
    {
        "kind": "multiple_choice",
        "question": "Identify the sentence with the correct word order.",
        "options": [
            "the small red old car",
            "the old small red car",
            "the small old red car",
        ],
    },
    {"kind": "short_answer", "question": "What is the capital city of Japan?"},
    {
        "kind": "math",
        "question": "Tom has 3 boxes with 4 apples each. He eats 2. How many are left?",
    },
    {"kind": "free_text", "question": "Explain in one sentence why the sky looks blue."},
]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replies", type=int, default=240, help="stop after this many replies")
    p.add_argument("--max-tokens", type=int, nargs="+", default=[64, 128, 256, 512])
    return p.parse_args()


def main() -> None:
    args = parse_args()
    model = mb.models.ManagedModel(LlamaCppModel())
    counts: Counter[str] = Counter()
    by_budget: dict[int, Counter[str]] = {b: Counter() for b in args.max_tokens}
    by_kind: dict[str, Counter[str]] = {q["kind"]: Counter() for q in QUESTIONS}
    styles = ["simple", "critical", "reasoning", "freetext"]
    plan = itertools.cycle(
        (b, q, s) for s, q, b in itertools.product(styles, QUESTIONS, args.max_tokens)
    )
    start = time.perf_counter()
    seed = 0
    while counts["replies"] < args.replies:
        budget, q, style = next(plan)
        seed += 1
        result = mb.discuss(
            q["question"],
            options=q.get("options"),
            model=model,
            agents=3,
            max_turns=2,
            style=style,
            personas="library",
            reply_format="json",
            generation={"max_tokens": budget},
            seed=seed,
        )
        for m in result.messages:
            for bucket in (counts, by_budget[budget], by_kind[q["kind"]]):
                bucket["replies"] += 1
                bucket["unreadable"] += not m.readable
                bucket["cut"] += m.finish_reason == "length"
                bucket["looped"] += m.looped
    wall = time.perf_counter() - start

    def rates(c: Counter[str]) -> str:
        n = max(1, c["replies"])
        return (
            f"replies {c['replies']:4d}  unreadable {c['unreadable']:3d} ({100 * c['unreadable'] / n:5.1f}%)"
            f"  cut at max_tokens {c['cut']:3d} ({100 * c['cut'] / n:5.1f}%)"
            f"  stopped looping {c['looped']:3d} ({100 * c['looped'] / n:5.1f}%)"
        )

    print(f"embedded model {model.model_id}, grammar-constrained replies, {wall:.0f}s")
    print(f"all             {rates(counts)}")
    for budget, c in by_budget.items():
        print(f"max_tokens {budget:<5d} {rates(c)}")
    for kind, c in by_kind.items():
        print(f"{kind:<16s}{rates(c)}")
    run_sync(model.aclose())


if __name__ == "__main__":
    main()
