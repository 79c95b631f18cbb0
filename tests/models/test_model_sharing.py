"""The call cache keys on where a reply comes from, not only on the model's name: the same
model id served by another endpoint, or loaded from another weights file, never shares entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openai_test_server import OpenAITestServer, completion

from madebate.models._cache import CallCache
from madebate.models._model import ChatMessage, GenerateConfig
from madebate.models._model_managed import ManagedModel
from madebate.models.providers.llamacpp import LlamaCppModel
from madebate.models.providers.openai_http import OpenAICompatibleModel

MESSAGES = [ChatMessage(role="user", content="Capital of Italy?")]
CONFIG = GenerateConfig(max_tokens=8, temperature=0.0)


async def test_same_model_id_on_two_servers_is_two_cache_entries(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    with (
        OpenAITestServer(default=completion("from one")) as one,
        OpenAITestServer(default=completion("from two")) as two,
    ):
        first = ManagedModel(
            OpenAICompatibleModel("m", base_url=one.base_url, api_key="k"), cache=cache
        )
        second = ManagedModel(
            OpenAICompatibleModel("m", base_url=two.base_url, api_key="k"), cache=cache
        )
        out1, rec1 = await first.generate(MESSAGES, CONFIG, role="discussion", agent="A1")
        out2, rec2 = await second.generate(MESSAGES, CONFIG, role="discussion", agent="A1")
        again, rec3 = await first.generate(MESSAGES, CONFIG, role="discussion", agent="A1")
        await first.aclose()
        await second.aclose()
    assert (out1.text, out2.text, again.text) == ("from one", "from two", "from one")
    assert (rec1.cache_hit, rec2.cache_hit, rec3.cache_hit) == (False, False, True)
    assert len(one.requests) == 1 and len(two.requests) == 1
    cache.close()


def test_a_gguf_model_is_identified_by_its_file(tmp_path: Path) -> None:
    # Two different weights files with the same name are two models (no weights are loaded).
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "model.gguf").write_bytes(b"GGUF one")
    (tmp_path / "b" / "model.gguf").write_bytes(b"GGUF two, longer")
    a = LlamaCppModel(tmp_path / "a" / "model.gguf")
    b = LlamaCppModel(tmp_path / "b" / "model.gguf")
    assert a.model_id == b.model_id
    assert a.cache_identity != b.cache_identity
    assert a.cache_identity == LlamaCppModel(tmp_path / "a" / "model.gguf").cache_identity


def test_a_judge_model_named_in_options_is_the_runs_shared_model(
    tmp_path: Path, model_seam: Any
) -> None:
    # Built once for the run (one connection pool, limit and cache) and closed once at its end,
    # not made and torn down by every discussion.
    import madebate as mb
    from madebate.models.providers.scripted import ScriptedModel

    closed: list[str] = []

    class Counted(ScriptedModel):
        async def aclose(self) -> None:
            closed.append(self.model_id)

    panel = model_seam.use(lambda model_id, options: Counted(model_id=model_id))
    made = model_seam.made
    data = Path(__file__).parents[2] / "examples" / "data" / "general_knowledge.jsonl"
    spec = {
        "name": "judged",
        "dataset": {"path": str(data), "limit": 4},
        "model": panel,
        "protocol": "judge",
        "protocol_options": {"model": f"{panel}/judge"},
        "discussion": {"max_turns": 2},
        "cache": False,
    }
    result = mb.run_experiment(spec, out=tmp_path / "run")
    assert result.new_records == 4 and result.summary.cells["main"].errors == 0
    # Checking the spec builds no model; the run builds the panel's and the judge's once each,
    # whatever the number of discussions.
    assert made.count(panel) == 1
    assert made.count(f"{panel}/judge") == 1
    assert closed.count(f"{panel}/judge") == 1


def test_a_judge_model_that_cannot_be_made_fails_before_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import madebate as mb

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("MADEBATE_NO_JUDGE_KEY", raising=False)
    data = Path(__file__).parents[2] / "examples" / "data" / "general_knowledge.jsonl"
    for options in (
        {"protocol": "judge", "protocol_options": {"model": "openai/judge"}},
        {"discussion": {"drift_judge": {"model": "openai/watcher"}}},
    ):
        spec = {
            "name": "keyless-judge",
            "dataset": {"path": str(data), "limit": 2},
            "model": "scripted",
            "cache": False,
            **options,
        }
        with pytest.raises(mb.ConfigError, match="no API key"):
            mb.run_experiment(spec, out=tmp_path / "run")
        assert not (tmp_path / "run").exists()
