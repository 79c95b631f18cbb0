"""Structured discussion replies: one declared shape ({reasoning, stance, answer}) sent as each
backend's structured output, read client-side, with the text reader as fallback."""

from __future__ import annotations

import json

import pytest

import madebate as mb
from madebate import ScriptedModel, ScriptedRequest
from madebate._reply import REPLY_RESERVE_TOKENS, parse_json_reply, reply_schema
from madebate.models.providers.openai_http import strict_schema

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]
TASK = mb.Task(question="Capital of France?", options=OPTIONS)


def test_reply_schema_declares_stance_only_when_one_is_expected():
    draft = reply_schema(TASK, stance=False)
    respond = reply_schema(TASK, stance=True, max_tokens=100)
    assert draft["required"] == ["reasoning", "answer"]
    assert respond["required"] == ["reasoning", "stance", "answer"]
    assert respond["properties"]["answer"]["enum"] == ["A", "B", "C", "D"]
    assert respond["properties"]["reasoning"]["maxLength"] == 2 * (100 - REPLY_RESERVE_TOKENS)
    assert respond["additionalProperties"] is False
    free = reply_schema(mb.Task(question="Why?"), stance=False)
    assert free["properties"]["answer"] == {"type": "string"}


def test_strict_servers_get_the_schema_without_length_bounds():
    schema = reply_schema(TASK, stance=True, max_tokens=100)
    stripped = strict_schema(schema)
    assert "maxLength" not in json.dumps(stripped)
    assert stripped["properties"]["answer"]["enum"] == ["A", "B", "C", "D"]


@pytest.mark.parametrize(
    ("text", "stance", "answer", "readable"),
    [
        ('{"reasoning": "It is Paris.", "stance": "agree", "answer": "B"}', "agree", "B", True),
        (
            '```json\n{"reasoning": "x", "stance": "disagree", "answer": "c"}\n```',
            "disagree",
            "C",
            True,
        ),
        ('{"reasoning": "x", "stance": "maybe", "answer": "B"}', "unreadable", "B", False),
        ('{"reasoning": "x", "stance": "disagree", "answer": "Z"}', "disagree", None, False),
    ],
)
def test_json_replies_are_read_and_never_guessed(text, stance, answer, readable):
    parsed = parse_json_reply(text, TASK, expect_stance=True, need_solution=False)
    assert parsed is not None
    assert parsed.stance.value == stance and parsed.answer == answer and parsed.readable is readable


def test_text_that_is_not_a_reply_object_falls_back():
    assert (
        parse_json_reply(
            "[AGREE]\nFinal Solution: B", TASK, expect_stance=True, need_solution=False
        )
        is None
    )
    assert (
        parse_json_reply('{"choice": "1"}', TASK, expect_stance=True, need_solution=False) is None
    )


def structured_panel(req: ScriptedRequest) -> str:
    schema = req.config.json_schema
    assert schema is not None and "answer" in schema["properties"]
    reply = {"reasoning": f"{req.agent} thinks it is Paris.", "answer": "B"}
    if "stance" in schema["properties"]:
        reply["stance"] = "agree"
    return json.dumps(reply)


def test_a_discussion_with_json_replies_reads_like_text_to_the_agents():
    model = ScriptedModel(structured_panel, record_prompts=True)
    result = mb.discuss(
        "Capital of France?", options=OPTIONS, model=model, agents=3, reply_format="json"
    )
    assert (
        result.answer == "B" and result.solution == "B) Paris" and result.stop_reason == "consensus"
    )
    first, second = result.messages[:2]
    assert first.text == "A1 thinks it is Paris.\nFinal Solution: B) Paris"
    assert second.text.startswith("[AGREE] A2 thinks") and second.stance is mb.Stance.AGREE
    # The second speaker read the first reply in the text layout, not as raw JSON.
    assert "A1 thinks it is Paris.\nFinal Solution: B) Paris" in model.requests[1].prompt
    assert '"reasoning"' not in model.requests[1].prompt.split("Current Solution")[0]
    assert 'Reply with JSON only, of the form {"reasoning"' in model.requests[0].prompt


def test_a_server_that_ignores_the_schema_is_still_read():
    model = ScriptedModel(
        lambda r: (
            "B is right.\nFinal Solution: B" if r.agent == "A1" else "[AGREE]\nFinal Solution: B"
        ),
        record_prompts=True,
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=2, reply_format="json")
    assert result.answer == "B" and result.decided


def test_auto_uses_json_only_where_a_schema_is_enforced():
    scripted = mb.Discussion(
        "Q?", options=OPTIONS, model=ScriptedModel(structured_panel, record_prompts=True)
    )
    assert scripted.json_replies is False  # the scripted model passes schemas, enforces nothing
    from madebate.models.providers.openai_http import OpenAICompatibleModel

    enforced = OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert mb.Discussion("Q?", options=OPTIONS, model=enforced).json_replies is True
    plain = OpenAICompatibleModel(
        "m", base_url="http://127.0.0.1:9/v1", api_key="k", structured_output=False
    )
    assert mb.Discussion("Q?", options=OPTIONS, model=plain).json_replies is False
    assert (
        mb.Discussion("Q?", options=OPTIONS, model=enforced, reply_format="text").json_replies
        is False
    )


@pytest.mark.slow
def test_embedded_model_json_replies_are_always_readable():
    result = mb.discuss(
        "Which planet is the largest?",
        options=["Mars", "Jupiter", "Venus", "Earth"],
        agents=3,
        max_turns=2,
        generation=mb.GenerateConfig(max_tokens=96),
        seed=3,
    )
    assert result.messages and all(m.readable and m.answer in "ABCD" for m in result.messages)
    assert {c.output_format for c in result.calls} == {"grammar"}
    assert result.answer is not None and result.stop_reason in {"consensus", "max_turns"}


@pytest.mark.slow
async def test_fifty_structured_ballots_in_a_row_are_valid_on_the_embedded_model():
    from madebate.models.providers.llamacpp import LlamaCppModel
    from madebate.protocols._ballots import ApprovalSet, Ordering, PointsPerId, SingleChoice

    model = LlamaCppModel()
    labels = ["1", "2", "3"]
    formats = [SingleChoice(), ApprovalSet(), SingleChoice(), ApprovalSet(), SingleChoice()]
    valid = 0
    try:
        for i in range(50):
            fmt = formats[i % len(formats)]
            prompt = (
                "Solution 1: B) Jupiter\nSolution 2: A) Mars\nSolution 3: D) Earth\n"
                f"Which planet is the largest? {fmt.instruction(labels)}"
            )
            out = await model.generate(
                [mb.ChatMessage(role="user", content=prompt)],
                mb.GenerateConfig(
                    max_tokens=40, json_schema=fmt.schema(labels), seed=i, temperature=0.7
                ),
            )
            parsed = fmt.parse(out.text, labels)
            assert parsed.problem is None, (i, out.text, parsed.problem)
            valid += 1
    finally:
        await model.aclose()
    assert valid == 50
    # Points and rankings obey the schema's shape; their sum and uniqueness are checked
    # client-side and re-asked (a grammar cannot count), as the voting tests show.
    assert PointsPerId().schema(labels)["required"] == ["points"]
    assert Ordering().schema(labels)["properties"]["ranking"]["minItems"] == 3
