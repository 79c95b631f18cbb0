"""A deterministic model for tests and offline examples: replies from a list or a function."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from madebate._errors import ModelCallError
from madebate.models._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput


@dataclass(frozen=True)
class ScriptedRequest:
    """What a script function sees: the prompt, the sampling settings and who is asking."""

    messages: list[ChatMessage]
    config: GenerateConfig
    context: CallContext
    index: int  # how many requests this model answered before

    @property
    def agent(self) -> str | None:
        return self.context.agent

    @property
    def role(self) -> str:
        return self.context.role

    @property
    def prompt(self) -> str:
        """The last user message."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


ScriptFunction = Callable[[ScriptedRequest], "str | Awaitable[str]"]
Script = Sequence[str] | dict[str, Sequence[str]] | ScriptFunction


class ScriptedModel(ModelAPI):
    """Replies from a list (in order), a dict of lists per agent slot, or a function.

    A function may raise `ModelCallError` to play a failing backend. With no script the
    built-in `default_script` plays a cooperative panel, good for offline demos.
    With `record_prompts=True` every request is kept in `requests`, so a test can inspect what
    each agent was shown; by default none is kept (`request_count` still counts them), so a
    run of 100,000 examples does not hold every prompt it sent.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        model_id: str = "scripted",
        structured_output: str | None = "json_schema",
        context_window: int | None = None,
        record_prompts: bool = False,
        offset: int = 0,
        stubborn: bool = False,
    ):
        self.model_id = model_id
        # The default script's behaviour, settable from a spec's options: two scripted models
        # that answer differently (a mixed team offline). `offset` shifts the option it picks;
        # `stubborn` keeps its own pick instead of agreeing with another.
        self.offset = offset
        self.stubborn = stubborn
        self.record_prompts = record_prompts
        self._window = context_window  # in words: the scripted model's "tokens"
        # Claiming structured output passes the JSON schema through in `request.config`, so a
        # script (and the default one) can answer ballots in the requested shape.
        self.structured_output = structured_output
        self._script: Script = script if script is not None else default_script
        if script is None and (offset or stubborn):
            self._script = functools.partial(default_script, offset=offset, stubborn=stubborn)
        self._positions: dict[str | None, int] = {}
        self._requests: list[ScriptedRequest] = []
        self.request_count = 0
        """Requests answered so far (kept or not)."""

    @property
    def requests(self) -> list[ScriptedRequest]:
        """Every request answered, in order; only with `record_prompts=True`."""
        if not self.record_prompts:
            raise AttributeError(
                "this ScriptedModel keeps no requests: make it with record_prompts=True to "
                "inspect what each agent was shown (request_count counts them either way)"
            )
        return self._requests

    @property
    def cache_identity(self) -> str:
        """The id and the default script's behaviour: two behaviours are two models."""
        if not self.offset and not self.stubborn:
            return self.model_id
        return f"{self.model_id} offset={self.offset} stubborn={self.stubborn}"

    async def context_window(self) -> int | None:
        return self._window

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        return sum(len(m.content.split()) for m in messages)

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        request = ScriptedRequest(
            list(messages), config, context or CallContext(), self.request_count
        )
        self.request_count += 1
        if self.record_prompts:
            self._requests.append(request)
        text = await self._reply(request)
        prompt_words = sum(len(m.content.split()) for m in messages)
        return ModelOutput(
            text=text,
            prompt_tokens=prompt_words,
            completion_tokens=len(text.split()),
            finish_reason="stop",
            latency_s=0.0,
        )

    async def _reply(self, request: ScriptedRequest) -> str:
        script = self._script
        if callable(script):
            out = script(request)
            if inspect.isawaitable(out):
                out = await out
            return str(out)
        key = request.agent if isinstance(script, dict) else None
        replies = script.get(key or "", []) if isinstance(script, dict) else script
        pos = self._positions.get(key, 0)
        if pos >= len(replies):
            who = f" for agent {key}" if key else ""
            raise ModelCallError(
                f"scripted model ran out of replies{who} after {pos}", retryable=False
            )
        self._positions[key] = pos + 1
        return replies[pos]


_OPTION = re.compile(r"^\s*([A-Z])\)\s*(.+?)\s*$", re.M)
_CURRENT = re.compile(r"Current solution:\s*(.+)", re.I)


def default_script(request: ScriptedRequest, *, offset: int = 0, stubborn: bool = False) -> str:
    """A cooperative panel: the first speaker proposes an option chosen by a stable hash of the
    question (shifted by `offset` places), everyone else agrees (a `stubborn` one restates its
    own pick instead). Persona requests get valid persona JSON."""
    prompt = request.prompt
    if request.role == "persona":
        n = len(re.findall(r'"name"', prompt))
        return json.dumps(
            {
                "name": f"Scripted expert {n + 1}",
                "description": "A careful, methodical expert.",
                "expertise": ["reasoning"],
            }
        )
    if request.config.json_schema is not None:
        return _fill_ballot(request.config.json_schema, request.agent)
    if request.role == "confidence":
        return "80"
    current = _CURRENT.search(prompt)
    options = _OPTION.findall(prompt)
    own = None
    if options:
        # Hash the question (the line before the options), so answers vary across questions.
        lines = prompt.split("\n")
        first = next(i for i, line in enumerate(lines) if _OPTION.match(line))
        question = lines[first - 1] if first else ""
        pick = (int(hashlib.sha256(question.encode()).hexdigest(), 16) + offset) % len(options)
        own = "{}) {}".format(*options[pick])
    if current and current.group(1).strip().lower() not in {"none", "none yet"}:
        shown = current.group(1).strip()
        if stubborn and own is not None and not shown.startswith(own.split(")")[0] + ")"):
            return f"[DISAGREE] I still hold my answer.\nFinal Solution: {own}"
        return f"[AGREE] The current solution holds up.\nFinal Solution: {shown}"
    if own is not None:
        return f"I weighed each option.\nFinal Solution: {own}"
    return "This follows from the task as stated.\nFinal Solution: 42"


def _fill_ballot(schema: dict[str, object], agent: str | None) -> str:
    """A valid ballot for the schemas of madebate's ballot formats: each voter backs the
    candidate at its own position (A1 the first, A2 the second, ...), so votes can split."""
    props = schema.get("properties", {})
    assert isinstance(props, dict)
    key = next(iter(props))
    spec = props[key]
    labels: list[str] = list(
        spec.get("enum") or spec.get("items", {}).get("enum") or spec.get("properties", {})
    )
    digits = "".join(ch for ch in (agent or "") if ch.isdigit())
    mine = labels[(int(digits or 1) - 1) % len(labels)] if labels else "1"
    value: object = mine
    if key == "approve":
        value = [mine]
    elif key == "points":
        value = {label: (10 if label == mine else 0) for label in labels}
    elif key == "ranking":
        value = [mine, *[label for label in labels if label != mine]]
    ballot = {key: value}
    if "confidence" in props:  # a weighted vote's ballot (weights: stated) requires it
        ballot["confidence"] = 90
    return json.dumps(ballot)
