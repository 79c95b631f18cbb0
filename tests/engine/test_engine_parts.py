"""The engine's parts on their own: the transcript (delivery, memory window, support) against a
recount from scratch, the call gate (budget, seeds, records), prompts built from lines rendered
once, the public plan type, and extensions that reach the engine only through public parts."""

from __future__ import annotations

import ast
import asyncio
import inspect
import random
from pathlib import Path

import pytest

import madebate as mb
import madebate.engine._prompting as prompting
from madebate import BudgetExceeded, ChatMessage, Message, ScriptedModel, Stance
from madebate.engine import CallGate, DiscussionPlan, Transcript, check_config
from madebate.engine._prompting import TranscriptLines, discussion_prompt
from madebate.protocols import track_support
from madebate.protocols._judge import JUDGE_SLOT

ENGINE = Path(mb.__file__).parent / "engine"
VOTERS = ("A1", "A2", "A3", "A4")
SLOTS = (*VOTERS, "D", JUDGE_SLOT)


def random_message(rng: random.Random, index: int, turn: int) -> Message:
    speaker = rng.choice(SLOTS)
    everyone = [s for s in SLOTS if s != speaker]
    receivers = everyone if speaker == JUDGE_SLOT else rng.sample(everyone, rng.randrange(6))
    answer = rng.choice([None, None, "A", "B", "C"])
    stance = rng.choice([Stance.AGREE, Stance.DISAGREE, Stance.NONE, Stance.UNREADABLE])
    agreed = rng.choice([None, "A", "B"]) if stance is Stance.AGREE and answer is None else None
    return Message(
        index=index,
        turn=turn,
        step=1,
        speaker=speaker,
        text=f"m{index}",
        raw=f"m{index}",
        stance=stance,
        answer=answer,
        solution=f"{answer}) text" if answer else None,
        agreed_with=agreed,
        agreed_solution=f"{agreed}) text" if agreed else None,
        receivers=receivers,
        visible_message_ids=[],
    )


def recount_delivered(messages: list[Message], agent: str, blind: bool) -> list[Message]:
    """The delivery rule of DESIGN.md section 2, from scratch."""
    if blind:
        return [m for m in messages if m.speaker in (agent, JUDGE_SLOT)]
    return [m for m in messages if m.speaker == agent or agent in m.receivers]


@pytest.mark.parametrize("window", [None, 0, 1, 2])
@pytest.mark.parametrize("seed", range(8))
def test_the_transcript_agrees_with_a_recount_after_every_message(
    window: int | None, seed: int
) -> None:
    rng = random.Random(seed)
    blind_turns = {t for t in range(1, 7) if rng.random() < 0.3}
    transcript = Transcript(VOTERS, memory_window=window, blind_turns=blind_turns)
    kept: list[Message] = []
    turn = 1
    for _ in range(40):
        if rng.random() < 0.25:
            turn += 1
        if rng.random() < 0.05 and kept:  # a turn played again: its messages taken back
            start = rng.randrange(len(kept))
            transcript.rewind(start)
            kept = kept[:start]
            turn = kept[-1].turn if kept else 1
        message = random_message(rng, len(kept), turn)
        transcript.add(message)
        kept.append(message)
        assert list(transcript.messages) == kept
        assert transcript.support() == track_support(kept, VOTERS)
        for agent in SLOTS:
            for now in (turn, turn + 1):
                delivered = recount_delivered(kept, agent, now in blind_turns)
                visible = [m for m in delivered if window is None or m.turn >= now - window]
                assert transcript.visible(agent, now) == visible
                state = track_support(delivered, VOTERS)
                shown = transcript.shown(agent, now)
                assert (shown.answer, shown.solution) == (
                    state.current_answer,
                    state.current_solution,
                )


def test_a_message_out_of_place_is_refused() -> None:
    transcript = Transcript(VOTERS)
    with pytest.raises(ValueError, match="index 1, expected 0"):
        transcript.add(random_message(random.Random(0), 1, 1))


@pytest.mark.parametrize(
    "text", ["plain", "ends with spaces   ", "two\nlines\n", "{{ not a template }}"]
)
def test_a_prompt_built_from_cached_lines_reads_as_the_transcript_template(text: str) -> None:
    messages = [
        Message(
            index=i,
            turn=i + 1,
            step=1,
            speaker=f"A{i + 1}",
            text=f"{text} {i}",
            raw="",
            stance=Stance.NONE,
            receivers=[],
            visible_message_ids=[],
        )
        for i in range(3)
    ]
    task = mb.Task(question="Q?", options=["x", "y"])
    prompt = discussion_prompt(
        task,
        "TASK",
        mode="respond",
        style="simple",
        chain_of_thought=True,
        transcript=TranscriptLines()(messages),
        current_solution="A) x",
        reply_json="",
    )
    shown = "".join(f"[Turn {m.turn}] {m.speaker}: {m.text}\n" for m in messages)
    assert f"Discussion so far:\n{shown}\nCurrent Solution: A) x" in prompt


def test_each_transcript_line_is_rendered_once_per_discussion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str] = []
    render = prompting.render_fragment

    def counting(template: str, **values: object) -> str:
        rendered.append(str(values["text"]))
        return render(template, **values)

    monkeypatch.setattr(prompting, "render_fragment", counting)
    model = ScriptedModel(record_prompts=True)
    result = mb.Discussion(
        "Q?", options=["a", "b"], model=model, agents=6, max_turns=3, min_turns=3
    ).run()
    assert len(model.requests) == 18
    # Each message's line is made once however many prompts show it (the last turn's last
    # message is shown to nobody).
    assert sorted(rendered) == sorted(m.text for m in result.messages[:-1])


def gate_for(model: ScriptedModel, **settings: object) -> CallGate:
    config = mb.DiscussionConfig(**settings)  # type: ignore[arg-type]
    return CallGate(mb.models.ManagedModel(model), config, persona_names={"A1": "Ann"})


def test_the_call_gate_counts_every_call_against_the_limits() -> None:
    model = ScriptedModel(["one two", "three four"], record_prompts=True)
    gate = gate_for(model, max_calls=2)
    ask = [ChatMessage(role="user", content="hello")]

    async def calls() -> None:
        assert await gate.generate(ask, "A1", "discussion", 1) == "one two"
        assert await gate.ask("A2", ask, "ballot") == "three four"
        with pytest.raises(BudgetExceeded, match="call limit of 2"):
            await gate.call(ask, "A1", "discussion", 1)

    asyncio.run(calls())
    assert [(c.agent, c.role) for c in gate.calls] == [("A1", "discussion"), ("A2", "ballot")]
    assert [r.context.persona for r in model.requests] == ["Ann", None]

    tokens = gate_for(ScriptedModel(record_prompts=True), max_total_tokens=10)
    tokens.reserve()
    pending = list(gate.calls)  # 1 + 2 words of prompt and reply each: 6 tokens
    tokens.reserve(pending)
    with pytest.raises(BudgetExceeded, match="token limit of 10"):
        tokens.reserve(pending + pending)


def test_the_call_gate_seeds_each_call_by_who_asks_what() -> None:
    def seeds(order: list[str]) -> dict[tuple[str, int], int | None]:
        model = ScriptedModel(lambda r: "ok", record_prompts=True)
        gate = gate_for(model, seed=5)
        ask = [ChatMessage(role="user", content="hi")]

        async def calls() -> None:
            for slot in order:
                await gate.call(ask, slot, "discussion", 1)

        asyncio.run(calls())
        counts: dict[str, int] = {}
        out = {}
        for r in model.requests:
            slot = r.agent or ""
            counts[slot] = counts.get(slot, 0) + 1
            out[(slot, counts[slot])] = r.config.seed
        return out

    # The same calls in another order get the same seeds; each call its own.
    first = seeds(["A1", "A2", "A1"])
    assert first == seeds(["A2", "A1", "A1"])
    assert len(set(first.values())) == 3


def test_the_plan_is_a_public_type() -> None:
    plan = check_config(mb.DiscussionConfig(agents=4))
    assert isinstance(plan, DiscussionPlan) and plan.paradigm.voters == ("A1", "A2", "A3", "A4")
    assert DiscussionPlan.__doc__
    annotation = inspect.signature(mb.Discussion).parameters["plan"].annotation
    assert "DiscussionPlan" in str(annotation) and "_Plan" not in str(annotation)
    result = mb.Discussion("Q?", options=["a", "b"], model="scripted", agents=4, plan=plan).run()
    assert result.decided


@pytest.mark.parametrize("module", ["_baselines", "_challenge", "_drift", "_loop", "_run"])
def test_the_loop_and_extensions_use_only_public_parts(module: str) -> None:
    """No reaching into another object's private attributes (`session.gate._calls`)."""
    tree = ast.parse((ENGINE / f"{module}.py").read_text())
    private = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert private == []
